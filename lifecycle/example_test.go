package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
)

// backend is a tiny Connector for the examples: it answers its checks with
// err and prints when it is closed.
type backend struct {
	name string
	err  error
}

func (b backend) Name() string                { return b.name }
func (b backend) Check(context.Context) error { return b.err }
func (b backend) Close(ctx context.Context) error {
	fmt.Println("closed", b.name)
	return nil
}

func Example() {
	g := lifecycle.NewGroup()
	g.Add(backend{name: "mysql"}, lifecycle.WithTarget(lifecycle.Redact("app:s3cret@tcp(db:3306)/orders")))
	g.Add(backend{name: "redis", err: ports.NewError("redis", "check", ports.ErrUnavailable,
		errors.New("dial redis://:s3cret@cache:6379: connection refused"))},
		lifecycle.WithTimeout(2*time.Second))

	report := g.Check(context.Background())
	fmt.Println("ready:", report.OK())
	for _, c := range report.Checks {
		fmt.Printf("%s ok=%t target=%q error=%q\n", c.Name, c.OK, c.Target, c.Error)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ready: false
	// mysql ok=true target="app:xxxxx@tcp(db:3306)/orders" error=""
	// redis ok=false target="" error="redis: check: unavailable: dial redis://:xxxxx@cache:6379: connection refused"
	// closed redis
	// closed mysql
}

func ExampleGroup_Handler() {
	g := lifecycle.NewGroup()
	g.Add(backend{name: "mongo", err: errors.New("no reachable servers")})

	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// 503 application/json
}

func ExampleRedact() {
	fmt.Println(lifecycle.Redact("mongodb://app:s3cret@m1:27017/orders"))
	fmt.Println(lifecycle.Redact("app:s3cret@tcp(db:3306)/orders?parseTime=true"))
	fmt.Println(lifecycle.Redact("dial redis://:s3cret@cache:6379/0: i/o timeout"))
	// Output:
	// mongodb://app:xxxxx@m1:27017/orders
	// app:xxxxx@tcp(db:3306)/orders?parseTime=true
	// dial redis://:xxxxx@cache:6379/0: i/o timeout
}

func ExampleGroup_Run() {
	g := lifecycle.NewGroup()
	g.Add(backend{name: "pubsub"})
	ctx, cancel := context.WithCancel(context.Background())
	err := g.Run(ctx, 5*time.Second, func(ctx context.Context) error {
		cancel() // the service runs until a signal ends ctx
		<-ctx.Done()
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// closed pubsub
	// err: <nil>
}
