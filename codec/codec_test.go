package codec_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portkit/portkit/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type order struct {
	ID    int64    `json:"id"`
	Items []string `json:"items"`
}

func TestJSONRoundTrip(t *testing.T) {
	c := codec.JSON[order]()
	if got := c.ContentType(); got != "application/json" {
		t.Fatalf("ContentType = %q", got)
	}
	b, err := c.Marshal(order{ID: 7, Items: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || len(got.Items) != 2 || got.Items[1] != "b" {
		t.Fatalf("round trip = %+v", got)
	}
	// Unknown fields are accepted: a newer producer may add some.
	if _, err := c.Unmarshal([]byte(`{"id":1,"new_field":true}`)); err != nil {
		t.Fatalf("unknown field: %v", err)
	}
}

// The decode error names what failed, never the data.
func TestJSONDecodeErrorNeverQuotesTheData(t *testing.T) {
	const secret = "s3cr3t-card-4242"
	c := codec.JSON[order]()
	cases := map[string]string{
		"syntax":        `{"id": ` + secret + `}`,
		"type":          `{"id": "` + secret + `"}`,
		"number":        `{"items": 4242424242}`,
		"trailing data": `{"id":1} ` + secret,
		"empty":         ``,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.Unmarshal([]byte(data))
			if err == nil {
				t.Fatal("no error")
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) || !codec.IsDecodeError(err) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			if de.ContentType != codec.ContentTypeJSON || de.Type.Name() != "order" {
				t.Fatalf("DecodeError = %+v", de)
			}
			msg := err.Error()
			for _, leak := range []string{secret, "4242", "s3cr3t"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("error %q quotes the data", msg)
				}
			}
			if !strings.Contains(msg, "application/json") {
				t.Fatalf("error %q does not name the content type", msg)
			}
		})
	}
	// The decoder's error stays reachable.
	_, err := c.Unmarshal([]byte(`{"id": x}`))
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("json.SyntaxError not reachable in %v", err)
	}
}

func TestJSONMarshalError(t *testing.T) {
	_, err := codec.JSON[chan int]().Marshal(make(chan int))
	if err == nil || !strings.Contains(err.Error(), "chan int") {
		t.Fatalf("err = %v", err)
	}
}

func TestProtoRoundTrip(t *testing.T) {
	c := codec.Proto[*wrapperspb.StringValue]()
	if c.ContentType() != "application/protobuf" {
		t.Fatalf("ContentType = %q", c.ContentType())
	}
	b, err := c.Marshal(wrapperspb.String("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetValue() != "hello" {
		t.Fatalf("round trip = %q", got.GetValue())
	}
	s, err := structpb.NewStruct(map[string]any{"k": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	sc := codec.Proto[*structpb.Struct]()
	b, err = sc.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := sc.Unmarshal(b)
	if err != nil || got2.GetFields()["k"].GetNumberValue() != 1.5 {
		t.Fatalf("struct round trip = %v, %v", got2, err)
	}
}

func TestProtoDecodeError(t *testing.T) {
	_, err := codec.Proto[*wrapperspb.StringValue]().Unmarshal([]byte{0xff, 0xff, 0xff})
	if !codec.IsDecodeError(err) {
		t.Fatalf("err = %v, want a *DecodeError", err)
	}
}
