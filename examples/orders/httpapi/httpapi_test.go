package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/examples/orders/httpapi"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is the API over a Service on fakes, served by httptest.
type server struct {
	*httptest.Server
	svc   *app.Service
	sql   *fakes.DB
	cache *fakes.Cache
	ps    *fakes.PubSub
}

func newServer(t *testing.T, opts httpapi.Options) *server {
	t.Helper()
	s := &server{
		sql:   fakes.NewDB(),
		cache: fakes.NewCache(),
		ps:    fakes.NewPubSub(),
	}
	docs := fakes.NewDB(fakes.WithName("fake-doc"))
	orders, err := fakes.NewSQLStore[domain.Order](s.sql)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := fakes.NewSQLStore[domain.OrderLine](s.sql)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ps.CreateTopic(t.Context(), app.TopicOrderCreated); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	audits, err := fakes.NewDocStore[domain.Audit](docs)
	if err != nil {
		t.Fatal(err)
	}
	views, err := fakes.NewDocStore[domain.OrderView](docs)
	if err != nil {
		t.Fatal(err)
	}
	s.svc, err = app.New(app.Config{
		Orders: orders, Lines: lines, Tx: s.sql,
		Audits: audits, Views: views,
		Cache: s.cache, Publisher: s.ps, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := lifecycle.NewGroup()
	g.Add(s.sql)
	g.Add(docs)
	g.Add(s.cache)
	g.Add(s.ps)
	if opts.Ready == nil {
		opts.Ready = g.Handler()
	}
	opts.Logger = log
	s.Server = httptest.NewServer(httpapi.New(s.svc, opts))
	t.Cleanup(func() {
		s.Close()
		_ = g.Close(context.Background())
	})
	return s
}

type response struct {
	status int
	header http.Header
	body   string
}

func (s *server) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func errorBody(t *testing.T, r response) httpapi.ErrorBody {
	t.Helper()
	var e httpapi.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e
}

const goodOrder = `{"customer":"ada","lines":[{"sku":"book-1","qty":2,"price_cents":1250},{"sku":"pen-2","qty":1,"price_cents":199}]}`

func TestPlaceAndGetOrder(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{})
	r := s.do(t, "POST", "/orders", goodOrder)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s", r.status, r.body)
	}
	var placed domain.OrderDetails
	if err := json.Unmarshal([]byte(r.body), &placed); err != nil {
		t.Fatal(err)
	}
	if placed.ID <= 0 || placed.TotalCents != 2699 || len(placed.Lines) != 2 || placed.Status != "created" {
		t.Errorf("placed = %+v", placed)
	}
	loc := r.header.Get("Location")
	if want := "/orders/" + jsonNumber(placed.ID); loc != want {
		t.Errorf("Location = %q, want %q", loc, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	g := s.do(t, "GET", loc, "")
	if g.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", loc, g.status, g.body)
	}
	var got domain.OrderDetails
	if err := json.Unmarshal([]byte(g.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != placed.ID || got.Customer != "ada" || len(got.Lines) != 2 || got.Lines[0].SKU != "book-1" {
		t.Errorf("GET %s = %+v", loc, got)
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestBadRequests: every bad input gets a 400 (or 413, 415) whose body
// names the field at fault.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{MaxBodyBytes: 4096})
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		field                    string
	}{
		{"empty body", "POST", "/orders", "", nil, 400, "body"},
		{"not JSON", "POST", "/orders", `{"customer":`, nil, 400, "body"},
		{"syntax error", "POST", "/orders", `{"customer" "ada"}`, nil, 400, "body"},
		{"array body", "POST", "/orders", `[]`, nil, 400, "body"},
		{"two objects", "POST", "/orders", goodOrder + goodOrder, nil, 400, "body"},
		{"unknown field", "POST", "/orders", `{"custmer":"ada"}`, nil, 400, "custmer"},
		{"customer not a string", "POST", "/orders", `{"customer":5}`, nil, 400, "customer"},
		{"qty not a number", "POST", "/orders", `{"customer":"ada","lines":[{"sku":"a","qty":"2"}]}`, nil, 400, "lines.qty"},
		{"lines not an array", "POST", "/orders", `{"customer":"ada","lines":{}}`, nil, 400, "lines"},
		{"no customer", "POST", "/orders", `{"lines":[{"sku":"a","qty":1}]}`, nil, 400, "customer"},
		{"no lines", "POST", "/orders", `{"customer":"ada","lines":[]}`, nil, 400, "lines"},
		{"zero qty", "POST", "/orders", `{"customer":"ada","lines":[{"sku":"a","qty":1},{"sku":"b","qty":0}]}`, nil, 400, "lines[1].qty"},
		{"bad sku", "POST", "/orders", `{"customer":"ada","lines":[{"sku":"a b","qty":1}]}`, nil, 400, "lines[0].sku"},
		{"negative price", "POST", "/orders", `{"customer":"ada","lines":[{"sku":"a","qty":1,"price_cents":-5}]}`, nil, 400, "lines[0].price_cents"},
		{"bad idempotency key", "POST", "/orders", goodOrder, []string{"Idempotency-Key", "has space"}, 400, "Idempotency-Key"},
		{"not JSON content type", "POST", "/orders", goodOrder, []string{"Content-Type", "text/plain"}, 415, "Content-Type"},
		{"too large", "POST", "/orders", `{"customer":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, "body"},
		{"id not a number", "GET", "/orders/abc", "", nil, 400, "id"},
		{"id zero", "GET", "/orders/0", "", nil, 400, "id"},
		{"id overflows", "GET", "/orders/99999999999999999999", "", nil, 400, "id"},
		{"limit not a number", "GET", "/customers/ada/orders?limit=x", "", nil, 400, "limit"},
		{"limit too large", "GET", "/customers/ada/orders?limit=1000", "", nil, 400, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.do(t, tt.method, tt.path, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.status)
			}
			e := errorBody(t, r)
			if e.Field != tt.field || !strings.Contains(e.Error, tt.field) {
				t.Errorf("error = %+v, want it to name field %q", e, tt.field)
			}
		})
	}
	// None of them stored anything.
	if r := s.do(t, "GET", "/orders/1", ""); r.status != http.StatusNotFound {
		t.Errorf("after bad requests, GET /orders/1 = %d, want 404", r.status)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{})
	if r := s.do(t, "GET", "/orders/42", ""); r.status != http.StatusNotFound || errorBody(t, r).Error != "not found" {
		t.Errorf("GET unknown order = %d %s", r.status, r.body)
	}
	if r := s.do(t, "DELETE", "/orders/42", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /orders/42 = %d, want 405", r.status)
	}
	if r := s.do(t, "GET", "/nope", ""); r.status != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", r.status)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{})
	first := s.do(t, "POST", "/orders", goodOrder, "Idempotency-Key", "k-1")
	again := s.do(t, "POST", "/orders", goodOrder, "Idempotency-Key", "k-1")
	if first.status != 201 || again.status != 201 {
		t.Fatalf("statuses %d, %d; want 201, 201", first.status, again.status)
	}
	if again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("Idempotent-Replayed: first %q, again %q", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
	}
	if first.header.Get("Location") != again.header.Get("Location") {
		t.Errorf("replay points to %s, first to %s", again.header.Get("Location"), first.header.Get("Location"))
	}
	other := strings.Replace(goodOrder, `"qty":2`, `"qty":3`, 1)
	r := s.do(t, "POST", "/orders", other, "Idempotency-Key", "k-1")
	if r.status != http.StatusConflict || errorBody(t, r).Field != "Idempotency-Key" {
		t.Errorf("same key, other order = %d %s; want 409 naming Idempotency-Key", r.status, r.body)
	}
	if n := len(s.ps.Published(app.TopicOrderCreated)); n != 1 {
		t.Errorf("%d events published, want 1", n)
	}
}

func TestBackendDown(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{})
	s.sql.SetUnavailable(true)
	r := s.do(t, "POST", "/orders", goodOrder)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("POST with SQL down = %d (Retry-After %q) %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if strings.Contains(r.body, "fake-sql") || strings.Contains(r.body, "injected") {
		t.Errorf("503 body leaks internals: %s", r.body)
	}
	if h := s.do(t, "GET", "/healthz", ""); h.status != http.StatusOK {
		t.Errorf("healthz with SQL down = %d, want 200 (liveness ignores backends)", h.status)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{})
	if r := s.do(t, "GET", "/readyz", ""); r.status != http.StatusOK {
		t.Fatalf("readyz = %d %s, want 200", r.status, r.body)
	}
	s.cache.SetUnavailable(true)
	r := s.do(t, "GET", "/readyz", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the cache down = %d %s, want 503", r.status, r.body)
	}
	var rep lifecycle.Report
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatal(err)
	}
	failed := rep.Failed()
	if len(failed) != 1 || failed[0].Name != "fake-cache" {
		t.Errorf("failed checks = %+v, want only fake-cache", failed)
	}
	s.cache.SetUnavailable(false)
	if r := s.do(t, "GET", "/readyz", ""); r.status != http.StatusOK {
		t.Errorf("readyz after recovery = %d, want 200", r.status)
	}
}

func TestCustomerOrders(t *testing.T) {
	t.Parallel()
	s := newServer(t, httpapi.Options{})
	if r := s.do(t, "POST", "/orders", goodOrder); r.status != 201 {
		t.Fatal(r.status, r.body)
	}
	// Project the published event as the subscriber would.
	for _, m := range s.ps.Published(app.TopicOrderCreated) {
		if err := s.svc.HandleOrderCreated(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	r := s.do(t, "GET", "/customers/ada/orders?limit=5", "")
	var views []domain.OrderView
	if r.status != 200 || json.Unmarshal([]byte(r.body), &views) != nil || len(views) != 1 || views[0].Items != 3 {
		t.Fatalf("GET /customers/ada/orders = %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/customers/bob/orders", ""); r.status != 200 || strings.TrimSpace(r.body) != "[]" {
		t.Errorf("orders of bob = %d %s, want 200 []", r.status, r.body)
	}
}

func ExampleNew() {
	db := fakes.NewDB()
	docs := fakes.NewDB()
	cache := fakes.NewCache()
	ps := fakes.NewPubSub()
	ctx := context.Background()
	_ = ps.CreateTopic(ctx, app.TopicOrderCreated)
	orders, _ := fakes.NewSQLStore[domain.Order](db)
	lines, _ := fakes.NewSQLStore[domain.OrderLine](db)
	audits, _ := fakes.NewDocStore[domain.Audit](docs)
	views, _ := fakes.NewDocStore[domain.OrderView](docs)
	svc, _ := app.New(app.Config{
		Orders: orders, Lines: lines, Tx: db,
		Audits: audits, Views: views,
		Cache: cache, Publisher: ps,
	})
	h := httpapi.New(svc, httpapi.Options{})

	req := httptest.NewRequest("POST", "/orders", strings.NewReader(`{"customer":"ada","lines":[{"sku":"a","qty":0}]}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	req = httptest.NewRequest("POST", "/orders", strings.NewReader(`{"customer":"ada","lines":[{"sku":"a","qty":1,"price_cents":250}]}`))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output:
	// 400 {"error":"lines[0].qty: must be between 1 and 1000, got 0","field":"lines[0].qty"}
	// 201 /orders/1
}
