package ports_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

func attrs(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%03d", i)] = "v"
	}
	return m
}

func TestMessageSize(t *testing.T) {
	m := ports.Message{ID: "ignored", Data: []byte("12345"), Attributes: map[string]string{"ab": "cde", "f": ""}, OrderingKey: "xyz"}
	if got := ports.MessageSize(m); got != 5+2+3+1+3 {
		t.Errorf("MessageSize = %d, want 14 (data, attribute keys and values, ordering key)", got)
	}
}

func TestValidateMessageAccepts(t *testing.T) {
	for what, m := range map[string]ports.Message{
		"data only":                {Data: []byte("x")},
		"an attribute only":        {Attributes: map[string]string{"k": ""}},
		"100 attributes":           {Data: []byte("x"), Attributes: attrs(ports.MaxAttributes)},
		"a 256-byte key":           {Attributes: map[string]string{strings.Repeat("k", ports.MaxAttributeKeyBytes): "v"}},
		"a 1024-byte value":        {Attributes: map[string]string{"k": strings.Repeat("v", ports.MaxAttributeValueBytes)}},
		"a 1024-byte ordering key": {Data: []byte("x"), OrderingKey: strings.Repeat("o", ports.MaxOrderingKeyBytes)},
		"exactly MaxMessageBytes":  {Data: make([]byte, ports.MaxMessageBytes-2), Attributes: map[string]string{"k": "v"}},
		"non-ASCII UTF-8":          {Data: []byte{0xff}, Attributes: map[string]string{"é": "ü"}, OrderingKey: "ø"},
		"a key containing goog":    {Attributes: map[string]string{"xgoog": "v"}},
	} {
		if err := ports.ValidateMessage(m); err != nil {
			t.Errorf("ValidateMessage of %s: %v, want nil", what, err)
		}
	}
}

func TestValidateMessageRejects(t *testing.T) {
	const secret = "s3cr3t-payload"
	for what, m := range map[string]ports.Message{
		"an empty message":              {},
		"an empty attribute map":        {Attributes: map[string]string{}},
		"101 attributes":                {Data: []byte(secret), Attributes: attrs(ports.MaxAttributes + 1)},
		"an empty key":                  {Data: []byte(secret), Attributes: map[string]string{"": secret}},
		"a 257-byte key":                {Data: []byte(secret), Attributes: map[string]string{strings.Repeat("k", ports.MaxAttributeKeyBytes+1): secret}},
		"an invalid UTF-8 key":          {Data: []byte(secret), Attributes: map[string]string{"k\xff": secret}},
		"a reserved goog key":           {Data: []byte(secret), Attributes: map[string]string{"googclient_x": secret}},
		"a 1025-byte value":             {Data: []byte(secret), Attributes: map[string]string{"k": secret + strings.Repeat("v", ports.MaxAttributeValueBytes)}},
		"an invalid UTF-8 value":        {Data: []byte(secret), Attributes: map[string]string{"k": secret + "\xfe"}},
		"a 1025-byte ordering key":      {Data: []byte(secret), OrderingKey: secret + strings.Repeat("o", ports.MaxOrderingKeyBytes)},
		"an invalid UTF-8 ordering key": {Data: []byte(secret), OrderingKey: secret + "\xff"},
		"one byte over MaxMessageBytes": {Data: make([]byte, ports.MaxMessageBytes-1), Attributes: map[string]string{"k": "v"}},
	} {
		err := ports.ValidateMessage(m)
		if err == nil {
			t.Errorf("ValidateMessage of %s: nil, want an error", what)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\xff") || strings.Contains(err.Error(), "\xfe") {
			t.Errorf("ValidateMessage of %s quotes the message's content: %v", what, err)
		}
	}
}

func TestSubscriptionConfigValidate(t *testing.T) {
	for what, c := range map[string]ports.SubscriptionConfig{
		"a topic only":     {Topic: "t"},
		"the bounds":       {Topic: "t", AckDeadline: ports.MinAckDeadline, MaxDeliveryAttempts: ports.MinMaxDeliveryAttempts, DeadLetterTopic: "d"},
		"the upper bounds": {Topic: "t", AckDeadline: ports.MaxAckDeadline, MaxDeliveryAttempts: ports.MaxMaxDeliveryAttempts, DeadLetterTopic: "d"},
		"ordering":         {Topic: "t", Ordering: true, AckDeadline: 30 * time.Second},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate of %s: %v, want nil", what, err)
		}
	}
	for what, c := range map[string]ports.SubscriptionConfig{
		"no topic":                             {},
		"an ack deadline under 10s":            {Topic: "t", AckDeadline: 9 * time.Second},
		"a negative ack deadline":              {Topic: "t", AckDeadline: -time.Second},
		"an ack deadline over 600s":            {Topic: "t", AckDeadline: 601 * time.Second},
		"a fractional ack deadline":            {Topic: "t", AckDeadline: 10*time.Second + time.Millisecond},
		"4 delivery attempts":                  {Topic: "t", MaxDeliveryAttempts: 4, DeadLetterTopic: "d"},
		"101 delivery attempts":                {Topic: "t", MaxDeliveryAttempts: 101, DeadLetterTopic: "d"},
		"negative delivery attempts":           {Topic: "t", MaxDeliveryAttempts: -1, DeadLetterTopic: "d"},
		"attempts without a dead-letter topic": {Topic: "t", MaxDeliveryAttempts: 5},
		"a dead-letter topic without attempts": {Topic: "t", DeadLetterTopic: "d"},
	} {
		err := c.Validate()
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Validate of %s: %v, want ErrInvalid", what, err)
		}
	}
}

func TestPublishError(t *testing.T) {
	e := &ports.PublishError{Total: 10, Failures: []ports.PublishFailure{
		{Index: 4, Err: ports.NewError("b", "publish", ports.ErrUnavailable, nil), Unconfirmed: true},
		{Index: 7, Err: ports.NewError("b", "publish", ports.ErrInvalid, nil)},
		{Index: 9, Err: ports.ErrUnavailable, Unconfirmed: true},
	}}
	if got := e.Unconfirmed(); len(got) != 2 || got[0] != 4 || got[1] != 9 {
		t.Errorf("Unconfirmed = %v, want [4 9]", got)
	}
	msg := e.Error()
	for _, want := range []string{"3 of 10 messages failed", "2 unconfirmed", "message 4"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to say %q", msg, want)
		}
	}
	if s := (&ports.PublishError{Total: 3}).Error(); s != "0 of 3 messages failed" {
		t.Errorf("Error() of no failure = %q", s)
	}
	wrapped := ports.NewError("b", "publish", ports.ErrUnavailable, e)
	var pe *ports.PublishError
	if !errors.As(wrapped, &pe) || pe != e {
		t.Errorf("errors.As does not find the PublishError in the OpError")
	}
}
