#!/usr/bin/env bash
# The servers scripts' own test (not part of make test: it starts a Java
# emulator and two Redis clusters, about a minute). Run it after changing
# .ci/servers/*.sh or .ci/test.sh:
#
#   .ci/servers/selftest.sh
#
# It checks that
#   1. ferretdb.sh picks another port when 27017 is taken, and fails when
#      FERRETDB_PORT names a taken port;
#   2. make test's script (.ci/test.sh) leaves running a Pub/Sub emulator
#      and a Redis Cluster that another state directory (another checkout,
#      a colleague) started, and stops the ones it started itself;
#   3. a server found running in this checkout's state before the run is
#      left running too;
#   4. stop never kills a process that reused the PID of a dead server.
# Everything it starts it stops, by PID, at exit.
set -uo pipefail
cd "$(dirname "$0")/../.."
SERVERS=.ci/servers
TMP=$(mktemp -d "${TMPDIR:-/tmp}/portkit-selftest.XXXXXX")
fail=0
pids=()

say() { printf 'selftest: %s\n' "$*" >&2; }
bad() { say "FAIL: $*"; fail=1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cleanup() {
	PUBSUB_EMULATOR_STATE=$TMP/emulator "$SERVERS/pubsub-emulator.sh" stop >/dev/null 2>&1
	REDIS_CLUSTER_DIR=$TMP/cluster "$SERVERS/redis-cluster.sh" stop >/dev/null 2>&1
	"$SERVERS/ferretdb.sh" stop >/dev/null 2>&1
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# listen PORT: hold PORT open (a stand-in for another instance) until exit.
listen() {
	python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(600)' "$1" &
	pids+=($!)
	for _ in $(seq 50); do port_open "$1" && return 0; sleep 0.1; done
	return 1
}

say "1. ferretdb.sh and a taken 27017"
if ! port_open 27017; then
	listen 27017 || bad "could not hold 27017"
fi
if out=$("$SERVERS/ferretdb.sh" start); then
	uri=$(grep '^MONGODB_URI=' <<<"$out")
	case $uri in
	*:27017/*) bad "ferretdb.sh used the taken port 27017: $uri" ;;
	MONGODB_URI=mongodb://127.0.0.1:*) say "ok: $uri" ;;
	*) bad "ferretdb.sh printed no URI: $out" ;;
	esac
	[[ $("$SERVERS/ferretdb.sh" status) == "$uri" ]] || bad "status does not print the URI start printed"
	"$SERVERS/ferretdb.sh" stop
	"$SERVERS/ferretdb.sh" status >/dev/null 2>&1 && bad "ferretdb still running after stop"
else
	bad "ferretdb.sh start failed with 27017 taken"
fi
if FERRETDB_PORT=27017 "$SERVERS/ferretdb.sh" start >/dev/null 2>&1; then
	bad "ferretdb.sh started although FERRETDB_PORT names a taken port"
	"$SERVERS/ferretdb.sh" stop
else
	say "ok: FERRETDB_PORT=<taken> is an error"
fi

say "2, 3. .ci/test.sh leaves other servers running"
foreign_emulator=$(PUBSUB_EMULATOR_STATE=$TMP/emulator "$SERVERS/pubsub-emulator.sh" start) || bad "foreign emulator did not start"
foreign_cluster=$(REDIS_CLUSTER_DIR=$TMP/cluster "$SERVERS/redis-cluster.sh" start) || bad "foreign cluster did not start"
# One of this checkout's, running before the run: must be left running.
"$SERVERS/ferretdb.sh" start >/dev/null || bad "this checkout's ferretdb did not start"
env -u PUBSUB_EMULATOR_HOST -u REDIS_CLUSTER_URL -u MONGODB_URI -u PUBSUB_PROJECT_ID \
	TEST_PACKAGES=./internal/redact GOTESTFLAGS='-run ^TestConn$' ./.ci/test.sh >"$TMP/test.log" 2>&1 ||
	bad "test.sh failed: $(tail -5 "$TMP/test.log")"
grep -q 'pubsub-emulator: PUBSUB_EMULATOR_HOST=' "$TMP/test.log" || bad "test.sh did not start its own emulator: $(cat "$TMP/test.log")"
grep -q 'ferretdb found running' "$TMP/test.log" || bad "test.sh did not use the running ferretdb: $(cat "$TMP/test.log")"
PUBSUB_EMULATOR_STATE=$TMP/emulator "$SERVERS/pubsub-emulator.sh" status >/dev/null 2>&1 ||
	bad "test.sh stopped the emulator of another state directory ($foreign_emulator)"
REDIS_CLUSTER_DIR=$TMP/cluster "$SERVERS/redis-cluster.sh" status >/dev/null 2>&1 ||
	bad "test.sh stopped the cluster of another directory ($foreign_cluster)"
"$SERVERS/ferretdb.sh" status >/dev/null 2>&1 || bad "test.sh stopped the ferretdb that ran before it"
"$SERVERS/pubsub-emulator.sh" status >/dev/null 2>&1 && bad "test.sh left its own emulator running"
"$SERVERS/redis-cluster.sh" status >/dev/null 2>&1 && bad "test.sh left its own cluster running"
[[ $fail -eq 0 ]] && say "ok: others' servers left running, its own stopped"
"$SERVERS/ferretdb.sh" stop

say "4. a PID reused by another process"
sleep 600 &
victim=$!
pids+=("$victim")
mkdir -p "$TMP/stale-emulator" "$TMP/stale-cluster"
echo "$victim" >"$TMP/stale-emulator/pid"
echo 18999 >"$TMP/stale-emulator/port"
PUBSUB_EMULATOR_STATE=$TMP/stale-emulator "$SERVERS/pubsub-emulator.sh" stop
echo "$victim" >"$TMP/stale-cluster/7001.pid"
REDIS_CLUSTER_DIR=$TMP/stale-cluster "$SERVERS/redis-cluster.sh" stop 2>/dev/null
if kill -0 "$victim" 2>/dev/null; then say "ok: the unrelated process lives"; else bad "stop killed an unrelated process"; fi

if [[ $fail -eq 0 ]]; then say "all ok"; else say "FAILED"; fi
exit $fail
