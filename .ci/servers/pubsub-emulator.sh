#!/usr/bin/env bash
# Google's Pub/Sub emulator (Java) on a loopback port, for tests and benches.
#
#   .ci/servers/pubsub-emulator.sh start   start it; print PUBSUB_EMULATOR_HOST=127.0.0.1:PORT
#   .ci/servers/pubsub-emulator.sh stop    stop it (the whole process group)
#   .ci/servers/pubsub-emulator.sh status  print the address if it runs
#
# Port: $PUBSUB_EMULATOR_PORT, else 8085 when free, else a free one.
# The launcher comes from the Debian package google-cloud-cli-pubsub-emulator
# (override with $PUBSUB_EMULATOR_BIN). State (PID, port, log, data dir)
# lives in $PUBSUB_EMULATOR_STATE, by default in this checkout's
# .cache/pubsub-emulator: each checkout has its own instance, and stop
# only ever stops the instance of its state directory (never one another
# checkout, or another user, started).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${PUBSUB_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}
STATE=${PUBSUB_EMULATOR_STATE:-$PWD/.cache/pubsub-emulator}
PIDFILE=$STATE/pid
PORTFILE=$STATE/port
LOG=$STATE/emulator.log
HOST=127.0.0.1

die() { echo "pubsub-emulator: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ours PID: PID is alive and is the launcher this state directory
# started (its command line names the recorded port), not an unrelated
# process that reused the PID of a dead emulator.
ours() {
	[[ -n $1 && -f $PORTFILE ]] && kill -0 "$1" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "--port=$(cat "$PORTFILE")"
}

running() {
	[[ -f $PIDFILE ]] && ours "$(cat "$PIDFILE")"
}

free_port() {
	local p
	if [[ -n ${PUBSUB_EMULATOR_PORT:-} ]]; then
		port_open "$PUBSUB_EMULATOR_PORT" && die "port $PUBSUB_EMULATOR_PORT (PUBSUB_EMULATOR_PORT) is in use"
		echo "$PUBSUB_EMULATOR_PORT"
		return
	fi
	for p in 8085 $(seq 18085 18185); do
		if ! port_open "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port in 8085, 18085-18185"
}

# answers: the emulator serves gRPC and, on the same port, a REST gateway;
# "GET /v1/projects/p/topics" answers 200 once it is ready.
answers() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$HOST:$1/v1/projects/portkit/topics" 2>/dev/null) || return 1
	[[ $code == 200 ]]
}

start() {
	if running; then
		echo "PUBSUB_EMULATOR_HOST=$HOST:$(cat "$PORTFILE")"
		return
	fi
	[[ -x $BIN ]] || die "launcher not found at $BIN: install the Debian package google-cloud-cli-pubsub-emulator (and a Java runtime), or set PUBSUB_EMULATOR_BIN"
	command -v java >/dev/null || [[ -n ${JAVA_HOME:-} ]] || die "no java on PATH (the emulator is a Java program): install a JRE (e.g. openjdk-17-jre-headless)"
	command -v curl >/dev/null || die "curl is needed to wait for the emulator"
	mkdir -p "$STATE"
	rm -rf "$STATE/data"
	mkdir -p "$STATE/data"
	local port
	port=$(free_port)
	# A session of its own (setsid) so that stop can kill the launcher
	# script and the JVM together, by process group.
	(cd "$STATE/data" && exec setsid "$BIN" --host="$HOST" --port="$port" >"$LOG" 2>&1 </dev/null) &
	local pid=$!
	echo "$pid" >"$PIDFILE"
	echo "$port" >"$PORTFILE"
	local i
	for i in $(seq 1 150); do # 30s
		if answers "$port"; then
			echo "PUBSUB_EMULATOR_HOST=$HOST:$port"
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -20 "$LOG" >&2 || true
			rm -f "$PIDFILE"
			die "the emulator exited at start (log: $LOG)"
		fi
		sleep 0.2
	done
	tail -20 "$LOG" >&2 || true
	stop
	die "the emulator did not answer on $HOST:$port within 30s (log: $LOG)"
}

stop() {
	if [[ ! -f $PIDFILE ]]; then
		return
	fi
	local pid
	pid=$(cat "$PIDFILE")
	if ! ours "$pid"; then
		# Dead already (or the PID now belongs to someone else): nothing
		# of ours to stop.
		rm -f "$PIDFILE" "$PORTFILE"
		return
	fi
	# setsid made pid the leader of its own process group.
	kill -TERM -- "-$pid" 2>/dev/null || true
	local i
	for i in $(seq 1 50); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	rm -f "$PIDFILE" "$PORTFILE"
}

status() {
	if running; then
		echo "PUBSUB_EMULATOR_HOST=$HOST:$(cat "$PORTFILE")"
	else
		echo "pubsub-emulator: not running" >&2
		return 1
	fi
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
