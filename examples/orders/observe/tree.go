package observe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TreeOptions says what [WriteTree] prints of each span besides its name
// and kind.
type TreeOptions struct {
	// Durations adds each span's duration.
	Durations bool
	// Attributes lists the attribute keys printed, when a span has them.
	Attributes []string
}

// WriteTree prints the spans of the trace id (every span when id is not
// valid) as a tree: each span under its parent, siblings in the order
// they started, a span whose parent is not among them at the top.
// spans is what an in-memory exporter holds
// (tracetest.InMemoryExporter.GetSpans().Snapshots()):
//
//	POST /orders [server]
//	  tx.within_tx [internal]
//	    sql.create orders [client]
//	    publish order.created [producer]
//	      sql.create_many outbox [client]
//	      publish order.created [producer] links=1
//	      process billing [consumer]
func WriteTree(w io.Writer, spans []sdktrace.ReadOnlySpan, id trace.TraceID, o TreeOptions) error {
	var in []sdktrace.ReadOnlySpan
	ids := map[trace.SpanID]bool{}
	for _, sp := range spans {
		if !id.IsValid() || sp.SpanContext().TraceID() == id {
			in = append(in, sp)
			ids[sp.SpanContext().SpanID()] = true
		}
	}
	kids := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, sp := range in {
		if p := sp.Parent(); p.IsValid() && ids[p.SpanID()] {
			kids[p.SpanID()] = append(kids[p.SpanID()], sp)
		} else {
			roots = append(roots, sp)
		}
	}
	byStart := func(l []sdktrace.ReadOnlySpan) {
		sort.SliceStable(l, func(i, j int) bool { return l[i].StartTime().Before(l[j].StartTime()) })
	}
	var b strings.Builder
	var walk func(sp sdktrace.ReadOnlySpan, depth int)
	walk = func(sp sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(&b, "%s%s [%s]", strings.Repeat("  ", depth), sp.Name(), sp.SpanKind())
		if o.Durations {
			fmt.Fprintf(&b, " %v", sp.EndTime().Sub(sp.StartTime()).Round(10*time.Microsecond))
		}
		for _, k := range o.Attributes {
			for _, kv := range sp.Attributes() {
				if string(kv.Key) == k {
					fmt.Fprintf(&b, " %s=%s", k, kv.Value.String())
				}
			}
		}
		if n := len(sp.Links()); n > 0 {
			fmt.Fprintf(&b, " links=%d", n)
		}
		if s := sp.Status(); s.Code.String() == "Error" {
			b.WriteString(" ERROR")
		}
		b.WriteByte('\n')
		k := kids[sp.SpanContext().SpanID()]
		byStart(k)
		for _, c := range k {
			walk(c, depth+1)
		}
	}
	byStart(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
