package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/portkit/portkit/lifecycle"
)

func serve(t *testing.T, g *lifecycle.Group, method string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest(method, "/readyz", nil))
	return rec
}

func checkHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

func TestHandlerReady(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "mysql"}, lifecycle.WithTarget("db.internal:3306"))
	g.Add(&conn{name: "redis"})
	rec := serve(t, g, http.MethodGet)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
	}
	checkHeaders(t, rec)
	// The exact shape, decoded generically: no field more, none less.
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if len(body) != 2 || body["ok"] != true {
		t.Errorf("body = %v, want ok and checks only", body)
	}
	checks, _ := body["checks"].([]any)
	if len(checks) != 2 {
		t.Fatalf("checks = %v, want 2", body["checks"])
	}
	for i, name := range []string{"mysql", "redis"} {
		c, _ := checks[i].(map[string]any)
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"error", "latency_ms", "name", "ok"}; !slices.Equal(keys, want) {
			t.Errorf("check %d has keys %v, want %v (no target)", i, keys, want)
		}
		if c["name"] != name || c["ok"] != true || c["error"] != "" {
			t.Errorf("check %d = %v", i, c)
		}
		if _, ok := c["latency_ms"].(float64); !ok {
			t.Errorf("latency_ms = %#v, want a number", c["latency_ms"])
		}
	}
}

func TestHandlerNotReady(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "mysql"})
	g.Add(&conn{name: "redis", check: func(context.Context) error {
		return errors.New("dial redis://:hunter2@cache:6379: refused")
	}})
	rec := serve(t, g, http.MethodGet)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	checkHeaders(t, rec)
	var r lifecycle.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.OK() || !r.Checks[0].OK || r.Checks[1].OK {
		t.Errorf("report = %+v, want only redis failing", r)
	}
	if want := "dial redis://:xxxxx@cache:6379: refused"; r.Checks[1].Error != want {
		t.Errorf("error = %q, want %q", r.Checks[1].Error, want)
	}
}

func TestHandlerHead(t *testing.T) {
	t.Parallel()
	g := lifecycle.NewGroup()
	g.Add(&conn{name: "down", check: func(context.Context) error { return errors.New("down") }})
	rec := serve(t, g, http.MethodHead)
	if rec.Code != http.StatusServiceUnavailable || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %q; want 503 and no body", rec.Code, rec.Body)
	}
	checkHeaders(t, rec)
}

func TestHandlerRejectsOtherMethods(t *testing.T) {
	t.Parallel()
	c := &conn{name: "a"}
	g := lifecycle.NewGroup()
	g.Add(c)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		rec := serve(t, g, m)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", m, rec.Code)
		}
		if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", m, allow)
		}
	}
	if n := c.checks.Load(); n != 0 {
		t.Errorf("rejected requests ran %d checks", n)
	}
}
