// Package httpapi is the HTTP adapter of the orders example: it turns
// requests into calls of the application service and its errors into
// status codes, on net/http's pattern-routing ServeMux.
//
//	POST /orders                      place an order (JSON body; optional Idempotency-Key header)
//	GET  /orders/{id}                 an order with its lines (read through the cache)
//	GET  /customers/{customer}/orders a customer's orders from the read model (?limit=1..100)
//	GET  /healthz                     liveness: 200 while the process serves
//	GET  /readyz                      readiness: the lifecycle group's checks
//
// Every error is a JSON object {"error": "...", "field": "..."}; field
// names the bad input, by its JSON path, on a 400.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/ports"
)

// DefaultMaxBodyBytes caps the body of POST /orders.
const DefaultMaxBodyBytes = 1 << 20

// Options configure [New].
type Options struct {
	// Ready serves GET /readyz; typically the lifecycle group's Handler.
	// Nil answers 200 "ok".
	Ready http.Handler
	// Logger receives one line per failed request (5xx) (slog.Default()).
	Logger *slog.Logger
	// MaxBodyBytes caps a request body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

type api struct {
	svc     *app.Service
	log     *slog.Logger
	maxBody int64
}

// New returns the HTTP handler of the orders API over svc.
func New(svc *app.Service, opts Options) http.Handler {
	a := &api{svc: svc, log: opts.Logger, maxBody: opts.MaxBodyBytes}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	ready := opts.Ready
	if ready == nil {
		ready = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", a.placeOrder)
	mux.HandleFunc("GET /orders/{id}", a.getOrder)
	mux.HandleFunc("GET /customers/{customer}/orders", a.customerOrders)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", ready)
	return mux
}

func (a *api) placeOrder(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			a.writeError(w, r, http.StatusUnsupportedMediaType, ErrorBody{Error: "Content-Type must be application/json", Field: "Content-Type"}, nil)
			return
		}
	}
	var n domain.NewOrder
	if status, body := a.decode(w, r, &n); status != 0 {
		a.writeError(w, r, status, body, nil)
		return
	}
	placed, err := a.svc.PlaceOrder(r.Context(), r.Header.Get("Idempotency-Key"), n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(placed.Order.ID, 10))
	if placed.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, placed.Order)
}

// decode reads one JSON object into v; a non-zero status reports why not.
func (a *api) decode(w http.ResponseWriter, r *http.Request, v any) (int, ErrorBody) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return http.StatusBadRequest, ErrorBody{Field: "body", Error: "body: must hold a single JSON object"}
		}
		return 0, ErrorBody{}
	}
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooLong *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLong):
		return http.StatusRequestEntityTooLarge, ErrorBody{Field: "body", Error: fmt.Sprintf("body: is larger than %d bytes", tooLong.Limit)}
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, ErrorBody{Field: "body", Error: "body: is required (a JSON object)"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, ErrorBody{Field: "body", Error: "body: JSON ends early"}
	case errors.As(err, &syntax):
		return http.StatusBadRequest, ErrorBody{Field: "body", Error: fmt.Sprintf("body: invalid JSON at byte %d", syntax.Offset)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return http.StatusBadRequest, ErrorBody{Field: field, Error: fmt.Sprintf("%s: must be %s, got %s", field, jsonKind(typ.Type), typ.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for this one.
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return http.StatusBadRequest, ErrorBody{Field: name, Error: fmt.Sprintf("%s: is not a field of an order", name)}
	}
	return http.StatusBadRequest, ErrorBody{Field: "body", Error: "body: cannot be decoded"}
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.String()
}

func (a *api) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		a.writeError(w, r, http.StatusBadRequest, ErrorBody{Field: "id", Error: "id: must be a positive integer"}, nil)
		return
	}
	d, err := a.svc.GetOrder(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *api) customerOrders(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.writeError(w, r, http.StatusBadRequest, ErrorBody{Field: "limit", Error: "limit: must be an integer"}, nil)
			return
		}
		limit = n
	}
	views, err := a.svc.CustomerOrders(r.Context(), r.PathValue("customer"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, views)
}

// fail maps a service error to its status code.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *domain.ValidationError
		ie *app.IdempotencyError
	)
	switch {
	case errors.As(err, &ve):
		a.writeError(w, r, http.StatusBadRequest, ErrorBody{Field: ve.Field, Error: ve.Error()}, nil)
	case errors.Is(err, ports.ErrInvalid):
		a.writeError(w, r, http.StatusBadRequest, ErrorBody{Error: "invalid request"}, err)
	case errors.Is(err, ports.ErrNotFound):
		a.writeError(w, r, http.StatusNotFound, ErrorBody{Error: "not found"}, nil)
	case errors.As(err, &ie):
		a.writeError(w, r, http.StatusConflict, ErrorBody{Field: "Idempotency-Key", Error: ie.Error()}, nil)
	case errors.Is(err, ports.ErrConflict):
		a.writeError(w, r, http.StatusConflict, ErrorBody{Error: "conflict"}, err)
	case errors.Is(err, ports.ErrUnavailable), errors.Is(err, ports.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		w.Header().Set("Retry-After", "1")
		a.writeError(w, r, http.StatusServiceUnavailable, ErrorBody{Error: "a backend is unavailable; retry later"}, err)
	default:
		a.writeError(w, r, http.StatusInternalServerError, ErrorBody{Error: "internal error"}, err)
	}
}

// writeError writes body with status; cause, when set, is logged (never
// sent: it may name backends and internals).
func (a *api) writeError(w http.ResponseWriter, r *http.Request, status int, body ErrorBody, cause error) {
	if cause != nil {
		level := slog.LevelWarn
		if status >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		a.log.Log(r.Context(), level, "orders api: request failed",
			"method", r.Method, "path", r.URL.Path, "status", status, "error", cause)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
