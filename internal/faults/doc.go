// Package faults is the fault harness of portkit's reliability tests: the
// network failures and server restarts an adapter must survive, made
// reproducible inside a Go test.
//
//   - [Blackhole] is a listener that accepts connections and never answers:
//     the worst case for a client, which sees a healthy TCP connection and
//     waits for a reply that never comes.
//   - [Proxy] sits between an adapter and its server (a TCP proxy of its
//     own, with the faults of toxiproxy that the tests use): it cuts and
//     restores connections ([Proxy.Cut], [Proxy.Restore]), turns into a
//     blackhole while keeping connections open ([Proxy.Blackhole]), and
//     adds latency ([Proxy.Latency]).
//   - [RedisServer] is a redis-server process of the test's own on a spare
//     loopback port, which the test kills ([RedisServer.Kill]) and starts
//     again on the same port ([RedisServer.Restart]).
//
// Everything a helper starts is stopped by t.Cleanup, so that a test using
// the harness leaves no goroutine and no process behind. A helper that
// needs something the machine lacks (redis-server) reports it through
// [testenv.Missing]: the test skips, or fails when
// PORTKIT_REQUIRE_BACKENDS=1.
//
// The package is for tests only; nothing outside _test.go files and
// internal/reliability imports it.
package faults
