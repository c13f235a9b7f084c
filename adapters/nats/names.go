package nats

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/portkit/portkit/internal/subscribe"
)

// Partitions is the number of partitions of an ordering subscription: a
// message with an ordering key is published to the subject of partition
// fnv32a(key) mod Partitions, and an ordering subscription has one
// consumer per partition that delivers one message at a time. It is part
// of the adapter's layout of subjects (see the package documentation):
// publishers and subscribers of one topic must agree on it.
const Partitions = 8

// maxNameLen bounds the NATS names the adapter makes (streams, consumers):
// the server stores each as a directory name.
const maxNameLen = 255

// escapeName maps a portkit name (a topic or subscription ID, which may
// hold . ~ + % and other characters NATS names and subject tokens cannot)
// to a string of letters, digits, '-' and '_': letters, digits and '-'
// stay, every other byte becomes '_' and two upper-case hex digits. The
// mapping is one-to-one, and its output never holds '_' followed by
// anything but two of 0-9A-F, so that suffixes like "_k3" cannot collide
// with an escaped name.
func escapeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

// bounded returns name when it fits maxNameLen less reserve bytes, else a
// shortened name that keeps its start and ends with "_H" and a hash of the
// whole name ('H' is not a hex digit: no escaped name ends so).
func bounded(name string, reserve int) string {
	limit := maxNameLen - reserve
	if len(name) <= limit {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "_H" + hex.EncodeToString(sum[:16])
	return name[:limit-len(suffix)] + suffix
}

// layout names the NATS objects of one adapter prefix.
type layout struct{ prefix string }

// stream is the name of topic's stream.
func (l layout) stream(topic string) string {
	return bounded(l.prefix+"_t_"+escapeName(topic), 0)
}

// subjectBase is the subject prefix of topic's messages (without the
// final token).
func (l layout) subjectBase(topic string) string {
	return l.prefix + "." + escapeName(topic)
}

// allSubjects is the subject filter of every message of topic.
func (l layout) allSubjects(topic string) string { return l.subjectBase(topic) + ".>" }

// unkeyedSubject is the subject of topic's messages without an ordering
// key.
func (l layout) unkeyedSubject(topic string) string { return l.subjectBase(topic) + ".u" }

// partitionSubject is the subject of topic's messages whose ordering key
// falls in partition p.
func (l layout) partitionSubject(topic string, p int) string {
	return fmt.Sprintf("%s.k.%d", l.subjectBase(topic), p)
}

// subject is the subject a message with ordering key key is published to.
func (l layout) subject(topic, key string) string {
	if key == "" {
		return l.unkeyedSubject(topic)
	}
	return l.partitionSubject(topic, partitionOf(key))
}

// subjects are the subjects of one topic's messages: unkeyed, then
// partition by partition; the subject of a message with key k is
// subjects[1+partitionOf(k)].
type subjects [1 + Partitions]string

// subjectsOf returns topic's subjects.
func (l layout) subjectsOf(topic string) *subjects {
	base := l.subjectBase(topic)
	var s subjects
	s[0] = base + ".u"
	for p := range Partitions {
		s[1+p] = fmt.Sprintf("%s.k.%d", base, p)
	}
	return &s
}

// index is the index in subjects of a message with ordering key key.
func subjectIndex(key string) int {
	if key == "" {
		return 0
	}
	return 1 + partitionOf(key)
}

// partitionOf is the partition of an ordering key: FNV-1a (32 bits) of its
// bytes, modulo Partitions.
func partitionOf(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % Partitions)
}

// registryBucket is the key-value bucket of the subscriptions' records.
func (l layout) registryBucket() string { return l.prefix + "_subscriptions" }

// registryKey is the key of subscription's record.
func registryKey(subscription string) string { return escapeName(subscription) }

// consumer is the name of subscription's consumer: part -1 is the one of
// every message (an unordered subscription) or of the messages without an
// ordering key (an ordering one); part p >= 0 that of partition p.
func consumer(subscription string, part int) string {
	base := bounded(escapeName(subscription), 4)
	if part < 0 {
		return base
	}
	return fmt.Sprintf("%s_k%d", base, part)
}

// checkName checks a topic or subscription name against the naming rule of
// every portkit messaging implementation (Google Pub/Sub's, see
// subscribe.ValidateName).
func checkName(what, name string) error { return subscribe.ValidateName(what, name) }
