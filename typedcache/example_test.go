package typedcache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/typedcache"
)

type Product struct {
	SKU   string `json:"sku"`
	Price int    `json:"price"`
}

func ExampleNew() {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)

	products, _ := typedcache.New[Product](cache, nil, "product:")
	_ = products.Set(ctx, "p-1", Product{SKU: "p-1", Price: 450}, time.Hour)
	p, err := products.Get(ctx, "p-1")
	fmt.Println(p.SKU, p.Price, err)
	// Output: p-1 450 <nil>
}

func ExampleLoader() {
	ctx := context.Background()
	cache := fakes.NewCache()
	defer cache.Close(ctx)

	loads := 0
	loader, _ := typedcache.NewLoader(typedcache.LoaderConfig[Product]{
		Cache:  cache,
		Prefix: "product:",
		TTL:    time.Minute,
		// Past its minute, a value is still served for up to an hour while
		// one background load refreshes it.
		MaxStale: time.Hour,
		Load: func(ctx context.Context, sku string) (Product, error) {
			loads++ // read the source of truth (a SQL store, say)
			return Product{SKU: sku, Price: 450}, nil
		},
	})
	defer loader.Close(ctx)

	p, _ := loader.Get(ctx, "p-1") // a miss: loaded and cached
	p, _ = loader.Get(ctx, "p-1")  // a hit
	fmt.Println(p.Price, loads)
	// Output: 450 1
}
