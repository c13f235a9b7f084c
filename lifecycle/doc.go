// Package lifecycle manages the [ports.Connector]s of a service as one
// [Group]: health checks that run in parallel and each give up at their own
// timeout, a readiness [http.Handler] built on them, and a graceful close in
// the reverse order of opening that never outlives its context.
//
// A service adds every adapter it opens, serves [Group.Handler] as its
// readiness probe, and closes the group on shutdown:
//
//	g := lifecycle.NewGroup(lifecycle.WithLogger(logger))
//	g.Add(db, lifecycle.WithTarget(lifecycle.Redact(dsn)))
//	g.Add(cache, lifecycle.WithTimeout(2*time.Second))
//	mux.Handle("GET /readyz", g.Handler())
//	...
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	err := g.Close(ctx) // cache first, then db
//
// Every error text a Group reports or logs goes through its redactor
// ([Redact] unless [WithRedactor] says otherwise), so a driver error that
// quotes a DSN does not leak its password.
package lifecycle
