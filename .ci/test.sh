#!/usr/bin/env bash
# The body of `make test`: start the test servers this machine can run,
# point the adapters' variables at them, run every test of the module with
# the race detector, and stop what was started. Variables already set in
# the environment are respected (point them at your own servers).
#
# A backend that cannot be started leaves its variable unset: its tests skip
# with a one-line reason, or fail when PORTKIT_REQUIRE_BACKENDS=1 (CI).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SERVERS=.ci/servers
started=()

log() { printf 'make test: %s\n' "$*" >&2; }

cleanup() {
	for s in "${started[@]}"; do
		"$SERVERS/$s.sh" stop >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# The machine's own Redis and MariaDB.
if [[ -z "${REDIS_URL:-}" ]] && port_open 127.0.0.1 6379; then
	export REDIS_URL=redis://127.0.0.1:6379/0
fi
if [[ -z "${MYSQL_DSN:-}${MYSQL_URL:-}${MYSQL_HOST:-}" ]] && port_open 127.0.0.1 3306; then
	export MYSQL_DSN='root@tcp(127.0.0.1:3306)/test'
fi

# start NAME VAR: run .ci/servers/NAME.sh start and export the VAR=value
# line it prints.
start() {
	local name=$1 var=$2 out
	if [[ -n "${!var:-}" ]]; then
		log "$var already set; not starting $name"
		return
	fi
	if out=$("$SERVERS/$name.sh" start); then
		started+=("$name")
		local line
		line=$(grep -E "^$var=" <<<"$out" | tail -1)
		if [[ -n "$line" ]]; then
			export "$line"
			log "$name started: $line"
		fi
	else
		log "$name could not be started; its tests will skip (or fail if required)"
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

log "REDIS_URL=${REDIS_URL:-unset} REDIS_CLUSTER_URL=${REDIS_CLUSTER_URL:-unset} MYSQL_DSN=${MYSQL_DSN:+set} MONGODB_URI=${MONGODB_URI:-unset} PUBSUB_EMULATOR_HOST=${PUBSUB_EMULATOR_HOST:-unset}"

go test -race -count=1 -timeout 15m ${GOTESTFLAGS:-} ./...
status=$?

# Short, bounded fuzzing of the hostile-input targets (seed corpora run in
# the plain test pass above as well).
if [[ $status -eq 0 && -n "${PORTKIT_FUZZTIME:-}" ]]; then
	while read -r pkg target; do
		[[ -z "$pkg" ]] && continue
		log "fuzz $pkg $target for $PORTKIT_FUZZTIME"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$PORTKIT_FUZZTIME" "$pkg" || status=1
	done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./bench/' | grep -v '^./cmd/ferretdb' |
		while read -r f; do
			d=$(dirname "$f")
			grep -oE '^func (Fuzz[A-Za-z0-9_]*)' "$f" | awk -v d="$d" '{print d, $2}'
		done)
fi
exit $status
