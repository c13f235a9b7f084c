package lifecycle

import (
	"encoding/json"
	"net/http"
)

// Handler returns a readiness handler: on GET or HEAD it runs
// [Group.Check] with the request's context and answers 200 when every
// check passed, 503 otherwise, with the report as JSON:
//
//	{"ok":false,"checks":[{"name":"redis","ok":false,"error":"redis: check: unavailable: …","latency_ms":5000}]}
//
// Targets are left out, so as not to publish the service's topology to
// whoever can reach the probe. The response has Content-Type
// application/json and Cache-Control no-store; a HEAD response has no body.
// Other methods get 405 with an Allow header.
func (g *Group) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		report := g.Check(r.Context())
		for i := range report.Checks {
			report.Checks[i].Target = ""
		}
		body, err := json.Marshal(report)
		if err != nil {
			http.Error(w, "encoding the report failed", http.StatusInternalServerError)
			return
		}
		body = append(body, '\n')
		status := http.StatusOK
		if !report.OK() {
			status = http.StatusServiceUnavailable
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}
