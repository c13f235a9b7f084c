package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/portkit/portkit/lifecycle"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		// URLs.
		{"redis://:hunter2@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"rediss://app:hunter2@cache:6380", "rediss://app:xxxxx@cache:6380"},
		{"mongodb://app:hunter2@m1:27017,m2:27017/orders?authSource=admin", "mongodb://app:xxxxx@m1:27017,m2:27017/orders?authSource=admin"},
		{"mongodb+srv://app:hunter2@cluster.example.net/orders", "mongodb+srv://app:xxxxx@cluster.example.net/orders"},
		{"mysql://root:hunter2@db:3306/test", "mysql://root:xxxxx@db:3306/test"},
		{"redis://:p@ss w/rd@cache:6379", "redis://:xxxxx@cache:6379"}, // invalid URL, whole string
		// go-sql-driver/mysql DSNs.
		{"app:hunter2@tcp(db:3306)/orders?parseTime=true", "app:xxxxx@tcp(db:3306)/orders?parseTime=true"},
		{"app:hun@ter 2/x@tcp(db:3306)/orders", "app:xxxxx@tcp(db:3306)/orders"},
		{"app:hunter2@unix(/run/mysqld.sock)/orders", "app:xxxxx@unix(/run/mysqld.sock)/orders"},
		{"app:hunter2@/orders", "app:xxxxx@/orders"},
		// Quoted in error texts.
		{"dial redis://:hunter2@cache:6379/0: connection refused", "dial redis://:xxxxx@cache:6379/0: connection refused"},
		{`open "app:hunter2@tcp(db:3306)/orders": refused`, `open "app:xxxxx@tcp(db:3306)/orders": refused`},
		{"connect mongodb://u:hun@ter2@h:27017/db failed", "connect mongodb://u:xxxxx@h:27017/db failed"},
		// Secret parameters.
		{"https://api.example.com/v1?access_token=hunter2&x=1", "https://api.example.com/v1?access_token=xxxxx&x=1"},
		{"Server=db;User=app;Password=hunter2;Database=x", "Server=db;User=app;Password=xxxxx;Database=x"},
		{"host=db user=app password=hunter2 dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:hunter2", "mongodb://h/?authMechanismProperties=xxxxx"},
		{"redis://cache:6379/0?password=hunter2", "redis://cache:6379/0?password=xxxxx"},
		{"redis://cache:6379/0?Pass%77ord=hunter2", "redis://cache:6379/0?Pass%77ord=xxxxx"},
		{"postgres://app@db/x?sslpassword=hunter2&password=hunter2", "postgres://app@db/x?sslpassword=xxxxx&password=xxxxx"},
		{"nats://hunter2@nats:4222", "nats://xxxxx@nats:4222"},
		// The fuzzer's findings (testdata/fuzz/FuzzRedactIdempotent).
		{"A://#0@0/00", "A://#0@0/00"},
		{"A000://: @00000", "A000://:xxxxx@00000"},
		// Nothing secret: unchanged.
		{"", ""},
		{"redis://cache:6379/0", "redis://cache:6379/0"},
		{"app@tcp(db:3306)/orders", "app@tcp(db:3306)/orders"},
		{"redis: check: unavailable: dial tcp 127.0.0.1:6379: connect: connection refused", "redis: check: unavailable: dial tcp 127.0.0.1:6379: connect: connection refused"},
		{"emulator 127.0.0.1:8085 project demo", "emulator 127.0.0.1:8085 project demo"},
		{"user@example.com: mailbox full", "user@example.com: mailbox full"},
		{"REDIS_URL: malformed (want redis://[user:password@]host:port)", "REDIS_URL: malformed (want redis://[user:password@]host:port)"},
	}
	for _, tt := range tests {
		got := lifecycle.Redact(tt.in)
		if got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if again := lifecycle.Redact(got); again != got {
			t.Errorf("Redact is not idempotent on %q: %q", got, again)
		}
		for _, secret := range []string{"hunter2", "hun@ter", "ter 2", "p@ss"} {
			if strings.Contains(got, secret) {
				t.Errorf("Redact(%q) = %q keeps %q", tt.in, got, secret)
			}
		}
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
