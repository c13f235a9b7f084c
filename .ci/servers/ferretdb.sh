#!/usr/bin/env bash
# ferretdb.sh start|stop|status — a FerretDB (MongoDB wire protocol) test
# server on its SQLite backend, for adapters/mongo and bench/.
#
# start  builds .cache/bin/ferretdb-testserver from cmd/ferretdb-testserver
#        (a module of its own) when it is missing or older than its sources
#        (about 3 minutes cold, seconds warm), starts it on
#        127.0.0.1:$FERRETDB_PORT (default 27017) with a fresh temporary
#        state directory, telemetry off and no debug listener, waits until
#        it answers a ping, and prints MONGODB_URI=... on stdout. Everything
#        else goes to stderr; the server's log to .cache/ferretdb/server.log.
#        Starting an already running instance prints its URI again.
# stop   stops the instance this script started, by the PID it recorded,
#        and removes its state directory.
# status prints the URI and exits 0 when the instance is running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

PORT=${FERRETDB_PORT:-27017}
ADDR=127.0.0.1:$PORT
URI="mongodb://$ADDR/"
SRC=$ROOT/cmd/ferretdb-testserver
BIN=$ROOT/.cache/bin/ferretdb-testserver
RUN=$ROOT/.cache/ferretdb
PIDFILE=$RUN/pid
STATEFILE=$RUN/statedir
LOG=$RUN/server.log

say() { printf 'ferretdb.sh: %s\n' "$*" >&2; }

running() {
	[[ -f $PIDFILE ]] || return 1
	local pid
	pid=$(<"$PIDFILE")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

build() {
	local stale=0
	if [[ ! -x $BIN ]]; then
		stale=1
	elif [[ -n $(find "$SRC" -maxdepth 1 \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$BIN" -print -quit) ]]; then
		stale=1
	fi
	((stale)) || return 0
	command -v go >/dev/null || { say "go is not installed"; return 1; }
	say "building $BIN (about 3 minutes the first time)"
	mkdir -p "$(dirname "$BIN")"
	# ferretdb_no_postgresql: only the SQLite backend is used; it saves
	# compiling pgx. GOWORK=off: the module stands alone.
	(cd "$SRC" && GOWORK=off go build -trimpath -tags ferretdb_no_postgresql -o "$BIN.tmp" .) >&2
	mv "$BIN.tmp" "$BIN"
}

start() {
	if running; then
		say "already running (PID $(<"$PIDFILE"))"
		echo "MONGODB_URI=$URI"
		return 0
	fi
	if port_open; then
		say "$ADDR is taken by another process; set FERRETDB_PORT, or MONGODB_URI to use that server"
		return 1
	fi
	build
	mkdir -p "$RUN"
	local state
	state=$(mktemp -d "${TMPDIR:-/tmp}/portkit-ferretdb.XXXXXX")
	echo "$state" >"$STATEFILE"
	# Detached from this script's stdout, so that $(ferretdb.sh start)
	# returns once the URI is printed.
	nohup "$BIN" -listen "$ADDR" -state-dir "$state" -log-level error </dev/null >"$LOG" 2>&1 &
	echo $! >"$PIDFILE"
	if ! "$BIN" -ping "$URI" -timeout 30s >&2; then
		say "no answer on $ADDR within 30s; server log:"
		tail -20 "$LOG" >&2 || true
		stop
		return 1
	fi
	say "started on $ADDR (PID $(<"$PIDFILE"), state $state)"
	echo "MONGODB_URI=$URI"
}

stop() {
	if [[ -f $PIDFILE ]]; then
		local pid
		pid=$(<"$PIDFILE")
		if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 100); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			if kill -0 "$pid" 2>/dev/null; then
				say "PID $pid ignored SIGTERM for 10s; killing it"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
		rm -f "$PIDFILE"
	fi
	if [[ -f $STATEFILE ]]; then
		local state
		state=$(<"$STATEFILE")
		[[ $state == "${TMPDIR:-/tmp}"/portkit-ferretdb.* ]] && rm -rf "$state"
		rm -f "$STATEFILE"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
	if running; then echo "MONGODB_URI=$URI"; else exit 1; fi
	;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
