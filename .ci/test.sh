#!/usr/bin/env bash
# The body of `make test`: start the test servers this machine can run,
# point the adapters' variables at them, run every test of the module with
# the race detector (fuzz targets run their seed corpora, committed under
# testdata/fuzz: deterministic), and stop what this run started — only
# that. Variables already set in the environment are respected (point them
# at your own servers).
#
# A backend that cannot be started leaves its variable unset: its tests skip
# with a one-line reason, or fail when PORTKIT_REQUIRE_BACKENDS=1 (CI). The
# summary at the end says which backends the run had.
#
# Servers: each .ci/servers script keeps its state in this checkout's
# .cache/ (several checkouts on one machine each have their own). A server
# found running there already (a previous run's, or one you started) is
# used and left running; one this run starts is stopped at exit.
#
# TEST_PACKAGES (default ./...) narrows the run; GOTESTFLAGS adds flags
# (a later -timeout wins); NORACE=1 drops -race (make difftest).
# Exploratory fuzzing is not part of it: see `make fuzz`.
set -uo pipefail
cd "$(dirname "$0")/.."
SERVERS=.ci/servers
started=()

log() { printf 'make test: %s\n' "$*" >&2; }

cleanup() {
	for s in "${started[@]}"; do
		log "stopping $s (started by this run)"
		"$SERVERS/$s.sh" stop >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# The machine's own Redis, MariaDB, PostgreSQL and NATS.
if [[ -z "${REDIS_URL:-}" ]] && port_open 127.0.0.1 6379; then
	export REDIS_URL=redis://127.0.0.1:6379/0
fi
if [[ -z "${MYSQL_DSN:-}${MYSQL_URL:-}${MYSQL_HOST:-}" ]] && port_open 127.0.0.1 3306; then
	export MYSQL_DSN='root@tcp(127.0.0.1:3306)/test'
fi
if [[ -z "${DATABASE_URL:-}" ]] && port_open 127.0.0.1 5432; then
	export DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
fi
if [[ -z "${NATS_URL:-}" ]] && port_open 127.0.0.1 4222; then
	export NATS_URL=nats://127.0.0.1:4222
fi

# start NAME VAR: export the VAR=value line of .ci/servers/NAME.sh: from
# status when the server runs already (it is then left running), else
# from start (and the server is stopped at exit).
start() {
	local name=$1 var=$2 out line
	if [[ -n "${!var:-}" ]]; then
		log "$var already set; not starting $name"
		return
	fi
	if out=$("$SERVERS/$name.sh" status 2>/dev/null); then
		log "$name found running (this checkout's state); using it, leaving it running"
	elif out=$("$SERVERS/$name.sh" start); then
		started+=("$name")
	else
		log "$name could not be started; its tests will skip (or fail if required)"
		return
	fi
	line=$(grep -E "^$var=" <<<"$out" | tail -1)
	if [[ -n "$line" ]]; then
		export "${line?}"
		log "$name: $line"
	fi
}

[[ -x $SERVERS/redis-cluster.sh ]] && start redis-cluster REDIS_CLUSTER_URL
[[ -x $SERVERS/ferretdb.sh ]] && start ferretdb MONGODB_URI
[[ -x $SERVERS/pubsub-emulator.sh ]] && start pubsub-emulator PUBSUB_EMULATOR_HOST
# The test server's URI names no database; the adapters need one.
if [[ -n "${MONGODB_URI:-}" && -z "${MONGODB_DATABASE:-}" ]]; then
	export MONGODB_DATABASE=portkit_test
fi
# An emulator accepts any project; the adapter needs one named.
if [[ -n "${PUBSUB_EMULATOR_HOST:-}" && -z "${PUBSUB_PROJECT_ID:-}${GOOGLE_CLOUD_PROJECT:-}" ]]; then
	export PUBSUB_PROJECT_ID=portkit-test
fi

# The backends of this run, secrets never printed (the variables' values
# are not shown, only whether they are set).
backends() {
	local have=() missing=() v
	for v in MYSQL_DSN REDIS_URL REDIS_CLUSTER_URL MONGODB_URI PUBSUB_EMULATOR_HOST DATABASE_URL NATS_URL; do
		if [[ -n "${!v:-}" ]]; then have+=("$v"); else missing+=("$v"); fi
	done
	[[ -n "${MYSQL_URL:-}${MYSQL_HOST:-}" && -z "${MYSQL_DSN:-}" ]] && have+=("MYSQL_URL/MYSQL_HOST")
	echo "available: ${have[*]:-none}; unavailable: ${missing[*]:-none}"
}
log "backends $(backends)"

# shellcheck disable=SC2086 # GOTESTFLAGS and TEST_PACKAGES are word lists
race=-race
[[ -n "${NORACE:-}" ]] && race= # make difftest: exploration, not the gate
go test $race -count=1 -timeout 15m ${GOTESTFLAGS:-} ${TEST_PACKAGES:-./...}
status=$?

if [[ $status -eq 0 ]]; then
	log "ok; backends $(backends)"
else
	log "FAILED (go test exit $status); backends $(backends)"
fi
if [[ -z "${PORTKIT_REQUIRE_BACKENDS:-}" ]] && [[ "$(backends)" != *"unavailable: none" ]]; then
	log "the tests of unavailable backends were skipped (PORTKIT_REQUIRE_BACKENDS=1 makes them fail)"
fi
exit $status
