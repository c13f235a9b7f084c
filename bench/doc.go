// Package bench compares portkit's ports with the raw clients under them
// and with the peers users judge portkit against, side by side in one run:
// every benchmark is Benchmark<Thing>/<variant>, and `make bench` prints a
// benchstat table with one column per variant.
//
// bench is a module of its own so that peers used only for comparison
// (miniredis, go-redis, watermill) never enter portkit's go.mod.
// Benchmarks that need a backend skip when its variable is unset.
package bench
