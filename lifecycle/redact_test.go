package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/lifecycle"
)

// TestRedact: Redact is the shared redactor's Text (whose own tests hold
// the table of forms), shown here on the forms the package documents and
// on the fuzzer's findings.
func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://:hunter2@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"app:hunter2@tcp(db:3306)/orders?parseTime=true", "app:xxxxx@tcp(db:3306)/orders?parseTime=true"},
		{"dial redis://:hunter2@cache:6379/0: connection refused", "dial redis://:xxxxx@cache:6379/0: connection refused"},
		{"redis://cache:6379/0?password=hunter2", "redis://cache:6379/0?password=xxxxx"},
		{"nats://hunter2@nats:4222", "nats://xxxxx@nats:4222"},
		{"host=db password='hun ter2' dbname=x", "host=db password=xxxxx dbname=x"},
		{"user@example.com: mailbox full", "user@example.com: mailbox full"},
		// The fuzzer's findings (testdata/fuzz/FuzzRedactIdempotent).
		{"A://#0@0/00", "A://#0@0/00"},
		{"A000://: @00000", "A000://:xxxxx@00000"},
	}
	for _, tt := range tests {
		got := lifecycle.Redact(tt.in)
		if got != tt.want || got != redact.Text(tt.in) {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if again := lifecycle.Redact(got); again != got {
			t.Errorf("Redact is not idempotent on %q: %q", got, again)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "ter2") {
			t.Errorf("Redact(%q) = %q keeps the password", tt.in, got)
		}
	}
	if lifecycle.Redacted != redact.Placeholder {
		t.Errorf("Redacted = %q", lifecycle.Redacted)
	}
}

func FuzzRedactIdempotent(f *testing.F) {
	f.Add("redis://:pw@h:6379")
	f.Add("u:p@tcp(h:3306)/d")
	f.Add("x password=y z")
	f.Fuzz(func(t *testing.T, s string) {
		once := lifecycle.Redact(s)
		if twice := lifecycle.Redact(once); twice != once {
			t.Errorf("Redact(Redact(%q)) = %q, want %q", s, twice, once)
		}
	})
}
