#!/usr/bin/env bash
# ferretdb.sh start|stop|status — a FerretDB (MongoDB wire protocol) test
# server on its SQLite backend, for adapters/mongo and bench/.
#
# start  builds .cache/bin/ferretdb-testserver from cmd/ferretdb-testserver
#        (a module of its own) when it is missing or older than its sources
#        (about 3 minutes cold, seconds warm), starts it on 127.0.0.1 with a
#        fresh temporary state directory, telemetry off and no debug
#        listener, waits until it answers a ping, and prints MONGODB_URI=...
#        on stdout. Everything else goes to stderr; the server's log to
#        .cache/ferretdb/server.log. Starting an already running instance
#        prints its URI again.
#        Port: $FERRETDB_PORT (an error when it is taken), else 27017 when
#        free, else the first free one of 27018-27117 (another checkout's
#        instance, or a real MongoDB, may hold 27017).
# stop   stops the instance this script started, by the PID it recorded,
#        and removes its state directory.
# status prints the URI and exits 0 when the instance is running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

SRC=$ROOT/cmd/ferretdb-testserver
BIN=$ROOT/.cache/bin/ferretdb-testserver
RUN=$ROOT/.cache/ferretdb
PIDFILE=$RUN/pid
PORTFILE=$RUN/port
STATEFILE=$RUN/statedir
LOG=$RUN/server.log

say() { printf 'ferretdb.sh: %s\n' "$*" >&2; }

uri() { echo "MONGODB_URI=mongodb://127.0.0.1:$(<"$PORTFILE")/"; }

# running: the recorded PID is alive and is the test server (not a process
# that reused the PID of a dead one).
running() {
	[[ -f $PIDFILE && -f $PORTFILE ]] || return 1
	local pid
	pid=$(<"$PIDFILE")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "ferretdb-testserver"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints the port to listen on (see the header).
free_port() {
	local p
	if [[ -n ${FERRETDB_PORT:-} ]]; then
		if port_open "$FERRETDB_PORT"; then
			say "127.0.0.1:$FERRETDB_PORT (FERRETDB_PORT) is taken by another process; unset FERRETDB_PORT to pick a free port, or set MONGODB_URI to use that server"
			return 1
		fi
		echo "$FERRETDB_PORT"
		return
	fi
	for p in 27017 $(seq 27018 27117); do
		if ! port_open "$p"; then
			[[ $p != 27017 ]] && say "127.0.0.1:27017 is taken; using port $p"
			echo "$p"
			return
		fi
	done
	say "no free port in 27017-27117"
	return 1
}

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
		uri
		return 0
	fi
	build
	mkdir -p "$RUN"
	local port addr state
	port=$(free_port) || return 1
	addr=127.0.0.1:$port
	state=$(mktemp -d "${TMPDIR:-/tmp}/portkit-ferretdb.XXXXXX")
	echo "$state" >"$STATEFILE"
	echo "$port" >"$PORTFILE"
	# Detached from this script's stdout, so that $(ferretdb.sh start)
	# returns once the URI is printed.
	nohup "$BIN" -listen "$addr" -state-dir "$state" -log-level error </dev/null >"$LOG" 2>&1 &
	echo $! >"$PIDFILE"
	if ! "$BIN" -ping "mongodb://$addr/" -timeout 30s >&2; then
		say "no answer on $addr within 30s; server log:"
		tail -20 "$LOG" >&2 || true
		stop
		return 1
	fi
	say "started on $addr (PID $(<"$PIDFILE"), state $state)"
	uri
}

stop() {
	if [[ -f $PIDFILE ]]; then
		local pid
		pid=$(<"$PIDFILE")
		if running; then
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
		rm -f "$PIDFILE" "$PORTFILE"
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
	if running; then uri; else exit 1; fi
	;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
