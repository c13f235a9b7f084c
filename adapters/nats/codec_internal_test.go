package nats

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/portkit/portkit/ports"
)

// checkKey fails t unless esc, the escape of k, is a header key nats.go
// accepts that unescapes to k and is not a reserved header.
func checkKey(t *testing.T, k string) {
	t.Helper()
	esc := escapeKey(k)
	if got := unescape(esc); got != k {
		t.Fatalf("unescape(escapeKey(%q)) = %q", k, got)
	}
	// nats.go counts no header bytes for a header it refuses.
	if m := (&nats.Msg{Subject: "s", Header: nats.Header{esc: {"v"}}}); m.Size() == len(m.Subject) && k != "" {
		t.Fatalf("escapeKey(%q) = %q, which nats.go refuses", k, esc)
	}
	if hasPrefixFold(esc, hdrServer) || hasPrefixFold(esc, hdrReserved) {
		t.Fatalf("escapeKey(%q) = %q is a reserved header", k, esc)
	}
}

// checkValue fails t unless esc, the escape of v, survives NATS's header
// encoding (no CR or LF, no blank at an edge) and unescapes to v.
func checkValue(t *testing.T, v string) {
	t.Helper()
	esc := escapeValue(v)
	if got := unescape(esc); got != v {
		t.Fatalf("unescape(escapeValue(%q)) = %q", v, got)
	}
	if strings.ContainsAny(esc, "\r\n") || strings.TrimSpace(esc) != esc {
		t.Fatalf("escapeValue(%q) = %q, which NATS would alter", v, esc)
	}
}

func TestEscapeHeaders(t *testing.T) {
	for _, s := range []string{"", "a", "a:b", "Nats-Msg-Id", "NATS-x", "nats-", "Pk-Ordering-Key", "pk-", "%", "%41", "a b", " lead", "trail ",
		"\r\n", "tab\t", "ünï", "{}()<>@,;:\\\"/[]?=", "\x00\x7f", "  ", "%zz", "%4"} {
		checkKey(t, s)
		checkValue(t, s)
	}
	if got := escapeKey("plain-Key_1.x"); got != "plain-Key_1.x" {
		t.Errorf("escapeKey of a plain key = %q, want it unchanged", got)
	}
	if got := escapeValue("plain value ✓"); got != "plain value ✓" {
		t.Errorf("escapeValue of a plain value = %q, want it unchanged", got)
	}
	if got := unescape("%zz%4"); got != "%zz%4" {
		t.Errorf("unescape of a malformed escape = %q, want it unchanged", got)
	}
}

// FuzzEscape: every key and value of valid UTF-8 round-trips.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "Nats-Msg-Id", "a:b", " x ", "%41", "\r\n", "pk-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		if s != "" {
			checkKey(t, s)
		}
		checkValue(t, s)
	})
}

// TestWireSize: the size the adapter checks against max_payload is the
// size nats.go counts (nats.Msg.Size, less subject and reply).
func TestWireSize(t *testing.T) {
	for _, m := range []ports.Message{
		{Data: []byte("x")},
		{Data: []byte("x"), Attributes: map[string]string{"k": "v"}},
		{Attributes: map[string]string{"a:b": strings.Repeat("%", 10), "Nats-Msg-Id": " x "}, OrderingKey: "k\r\n"},
	} {
		msg := encode("subject.x", m)
		if got, want := wireSize(msg), msg.Size()-len(msg.Subject); got != want {
			t.Errorf("wireSize(%v) = %d, nats.go counts %d", m, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	l := layout{prefix: "pk"}
	for _, name := range []string{"orders", "a.b~c+d%e_f", strings.Repeat("é", 120), strings.Repeat(".", 255)} {
		for _, got := range []string{l.stream(name), consumer(name, -1), consumer(name, 7)} {
			if len(got) > maxNameLen || strings.ContainsAny(got, " \t\r\n.*>/\\") {
				t.Errorf("name for %.20q = %q: not a valid NATS name of at most %d bytes", name, got, maxNameLen)
			}
		}
		if tok := escapeName(name); strings.ContainsAny(tok, ".*> ") {
			t.Errorf("subject token for %.20q = %q", name, tok)
		}
	}
	if escapeName("a_b") == escapeName("a.b") || escapeName("a_5Fb") == escapeName("a_b") {
		t.Error("escapeName maps two names to one")
	}
	if consumer("s_k1", -1) == consumer("s", 1) {
		t.Error("a partition consumer's name collides with another subscription's")
	}
	if got := l.subject("orders", ""); got != "pk.orders.u" {
		t.Errorf("subject without a key = %q", got)
	}
	if got := l.subject("orders", "customer-42"); got != "pk.orders.k.6" {
		t.Errorf("subject of key customer-42 = %q, want pk.orders.k.6 (the partition is part of the wire format)", got)
	}
}
