#!/usr/bin/env bash
# The body of `make bench`: start the servers, run every benchmark of bench/
# with -count 6, and print a benchstat table (variants side by side).
set -uo pipefail
cd "$(dirname "$0")/.."
SERVERS=.ci/servers
started=()
cleanup() { for s in "${started[@]}"; do "$SERVERS/$s.sh" stop >/dev/null 2>&1 || true; done; }
trap cleanup EXIT INT TERM
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [[ -z "${REDIS_URL:-}" ]] && port_open 127.0.0.1 6379; then export REDIS_URL=redis://127.0.0.1:6379/0; fi
if [[ -z "${MYSQL_DSN:-}" ]] && port_open 127.0.0.1 3306; then export MYSQL_DSN='root@tcp(127.0.0.1:3306)/test'; fi
if [[ -z "${DATABASE_URL:-}" ]] && port_open 127.0.0.1 5432; then export DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'; fi
if [[ -z "${NATS_URL:-}" ]] && port_open 127.0.0.1 4222; then export NATS_URL=nats://127.0.0.1:4222; fi
start() {
	local name=$1 var=$2 out
	[[ -n "${!var:-}" ]] && return
	# A server already running (this checkout's state) is used and left
	# running; only one this run starts is stopped at exit.
	if out=$("$SERVERS/$name.sh" status 2>/dev/null); then
		:
	elif out=$("$SERVERS/$name.sh" start); then
		started+=("$name")
	else
		return
	fi
	local line; line=$(grep -E "^$var=" <<<"$out" | tail -1)
	[[ -n "$line" ]] && export "$line"
}
[[ -x $SERVERS/ferretdb.sh ]] && start ferretdb MONGODB_URI
[[ -x $SERVERS/pubsub-emulator.sh ]] && start pubsub-emulator PUBSUB_EMULATOR_HOST
mkdir -p .cache
out=.cache/bench.txt
(cd bench && go test -run '^$' -bench "${BENCH:-.}" -benchmem -count "${COUNT:-6}" -timeout 60m ./...) | tee "$out"
# Variants are positional sub-names (BenchmarkRedisGet/port); benchstat
# compares columns by a named key, so name them impl=... for the table.
sed -E 's#^(Benchmark[A-Za-z0-9_]+)/#\1/impl=#' "$out" > .cache/bench-keyed.txt
(cd bench && go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -table .name -col /impl ../.cache/bench-keyed.txt)
