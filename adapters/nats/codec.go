package nats

import (
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/portkit/portkit/ports"
)

// Headers of the adapter's own. Attribute keys are escaped so that none
// can be one of these, nor a header of the server's ("Nats-...").
const (
	// hdrOrderingKey carries Message.OrderingKey (escaped as a value).
	hdrOrderingKey = "Pk-Ordering-Key"
	// hdrReserved starts every header of the adapter's.
	hdrReserved = "pk-"
	// hdrServer starts the headers JetStream reads or adds.
	hdrServer = "nats-"
)

// NATS framing of a message's headers (nats.go's encoding).
const (
	hdrLine    = "NATS/1.0\r\n"
	hdrLineEnd = "\r\n"
)

// keyByte reports whether c may appear unescaped in a header key: printable
// ASCII less the characters nats.go refuses in keys ("()/,:;<=>?@[\]{}
// and '"'), and less '%', the escape character.
func keyByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune(`"()/,:;<=>?@[\]{}%`, rune(c))
}

// valueByte reports whether c may appear unescaped inside a header value
// (at its edges a space or a tab must be escaped too, as NATS trims them):
// anything but control characters and '%'.
func valueByte(c byte) bool {
	return c >= ' ' && c != 0x7f && c != '%'
}

const hexDigits = "0123456789ABCDEF"

func writeEscaped(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&15])
}

// escapeKey percent-encodes an attribute key for a header key: every byte
// keyByte refuses, and the first byte when the key would otherwise start
// (in any case) with "Nats-" or "Pk-", which are reserved.
func escapeKey(k string) string {
	reserved := hasPrefixFold(k, hdrServer) || hasPrefixFold(k, hdrReserved)
	clean := !reserved
	for i := 0; clean && i < len(k); i++ {
		clean = keyByte(k[i])
	}
	if clean {
		return k
	}
	var b strings.Builder
	b.Grow(len(k) + 6)
	for i := 0; i < len(k); i++ {
		if c := k[i]; keyByte(c) && (i > 0 || !reserved) {
			b.WriteByte(c)
		} else {
			writeEscaped(&b, c)
		}
	}
	return b.String()
}

// escapeValue percent-encodes an attribute value (or an ordering key) for
// a header value: control characters, '%', and a space or tab at either
// end. Valid UTF-8 beyond ASCII passes as it is.
func escapeValue(v string) string {
	clean := true
	for i := 0; clean && i < len(v); i++ {
		clean = valueByte(v[i])
	}
	if clean && (v == "" || (v[0] != ' ' && v[len(v)-1] != ' ')) {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 6)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if valueByte(c) && !(c == ' ' && (i == 0 || i == len(v)-1)) {
			b.WriteByte(c)
		} else {
			writeEscaped(&b, c)
		}
	}
	return b.String()
}

// unescape reverses escapeKey and escapeValue; a '%' not followed by two
// hex digits (a header a non-portkit publisher wrote) stays as it is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi >= 0 && lo >= 0 {
				b.WriteByte(byte(hi<<4 | lo))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// encode turns m into the NATS message published to subject.
func encode(subject string, m ports.Message) *nats.Msg {
	msg := &nats.Msg{Subject: subject, Data: m.Data}
	if len(m.Attributes) > 0 || m.OrderingKey != "" {
		msg.Header = make(nats.Header, len(m.Attributes)+1)
		for k, v := range m.Attributes {
			msg.Header[escapeKey(k)] = []string{escapeValue(v)}
		}
		if m.OrderingKey != "" {
			msg.Header[hdrOrderingKey] = []string{escapeValue(m.OrderingKey)}
		}
	}
	return msg
}

// wireSize is the size NATS counts against the server's max_payload for
// msg: its data plus its encoded headers.
func wireSize(msg *nats.Msg) int {
	n := len(msg.Data)
	if len(msg.Header) == 0 {
		return n
	}
	n += len(hdrLine) + len(hdrLineEnd)
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	return n
}

// decode turns a received JetStream message into a ports.Message. Headers
// of the server's ("Nats-...") are dropped; every other header except the
// adapter's own is an attribute (its first value). Empty Data and
// Attributes are nil, as on Google Pub/Sub and the fake; the ID is the
// stream sequence, in decimal; DeliveryAttempt is the number of
// deliveries JetStream counted (NATS always counts).
func decode(msg *nats.Msg) ports.Message {
	var m ports.Message
	if len(msg.Data) > 0 {
		m.Data = msg.Data
	}
	for k, vs := range msg.Header {
		if len(vs) == 0 || hasPrefixFold(k, hdrServer) {
			continue
		}
		if k == hdrOrderingKey {
			m.OrderingKey = unescape(vs[0])
			continue
		}
		if hasPrefixFold(k, hdrReserved) {
			continue
		}
		if m.Attributes == nil {
			m.Attributes = make(map[string]string)
		}
		m.Attributes[unescape(k)] = unescape(vs[0])
	}
	if md, err := msg.Metadata(); err == nil {
		m.ID = strconv.FormatUint(md.Sequence.Stream, 10)
		m.PublishTime = md.Timestamp
		m.DeliveryAttempt = int(md.NumDelivered)
	}
	return m
}
