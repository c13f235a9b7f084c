package codec_test

import (
	"fmt"

	"github.com/portkit/portkit/codec"
)

func ExampleJSON() {
	type OrderCreated struct {
		OrderID int64  `json:"order_id"`
		Ref     string `json:"ref"`
	}
	c := codec.JSON[OrderCreated]()
	b, _ := c.Marshal(OrderCreated{OrderID: 42, Ref: "A-1"})
	fmt.Println(c.ContentType(), string(b))

	v, _ := c.Unmarshal(b)
	fmt.Println(v.OrderID, v.Ref)

	_, err := c.Unmarshal([]byte(`{"order_id": "forty-two"}`))
	fmt.Println(err)
	// Output:
	// application/json {"order_id":42,"ref":"A-1"}
	// 42 A-1
	// codec: cannot decode application/json into codec_test.OrderCreated: a JSON string at byte 24 cannot go into field order_id of type int64
}
