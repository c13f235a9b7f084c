#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on loopback, for the cluster run of
# adapters/redis' tests (make test starts and stops it).
#
#   redis-cluster.sh start   start it (or find it running) and print
#                            REDIS_CLUSTER_URL=redis://127.0.0.1:P1?addr=127.0.0.1:P2&addr=127.0.0.1:P3
#   redis-cluster.sh stop    kill its servers by PID file and remove its directory
#   redis-cluster.sh status  print the URL and exit 0 when it is up, else exit 1
#
# Nodes listen on 127.0.0.1 only, on the first three free ports from
# REDIS_CLUSTER_BASE_PORT (default 7001) whose cluster bus ports (+10000)
# are free too; they never persist anything (--save "" --appendonly no) and
# keep their files in REDIS_CLUSTER_DIR, by default in this checkout's
# .cache/redis-cluster: each checkout has its own cluster, and stop only
# ever kills the servers of its directory (never those another checkout,
# or another user, started). Port 6379 is never used. start and stop are
# idempotent.
set -uo pipefail
cd "$(dirname "$0")/../.."

DIR=${REDIS_CLUSTER_DIR:-$PWD/.cache/redis-cluster}
BASE=${REDIS_CLUSTER_BASE_PORT:-7001}
PORTS_FILE=$DIR/ports

log() { printf 'redis-cluster: %s\n' "$*" >&2; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

url() {
	local p=($(cat "$PORTS_FILE"))
	echo "REDIS_CLUSTER_URL=redis://127.0.0.1:${p[0]}?addr=127.0.0.1:${p[1]}&addr=127.0.0.1:${p[2]}"
}

# alive: every node of the ports file answers and reports cluster_state:ok.
alive() {
	[[ -f $PORTS_FILE ]] || return 1
	local port
	for port in $(cat "$PORTS_FILE"); do
		cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}

stop() {
	local pidf pid
	if [[ -d $DIR ]]; then
		for pidf in "$DIR"/*.pid; do
			[[ -f $pidf ]] || continue
			pid=$(cat "$pidf")
			# Only a redis-server on this file's port: a PID reused by
			# another process after a crash is left alone.
			if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
				tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq "redis-server [^ ]*:$(basename "$pidf" .pid)( |\$)"; then
				kill "$pid" 2>/dev/null
				for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
				kill -9 "$pid" 2>/dev/null || true
			fi
		done
		rm -rf "$DIR"
	fi
	log "stopped"
}

start() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
		log "redis-server and redis-cli are needed"
		return 1
	}
	if alive; then
		log "already running"
		url
		return 0
	fi
	stop 2>/dev/null # leftovers of a failed start
	mkdir -p "$DIR" || return 1

	local ports=() p=$BASE
	while ((${#ports[@]} < 3 && p < BASE + 200)); do
		if ((p != 6379 && p + 10000 != 6379)) && ! port_busy "$p" && ! port_busy $((p + 10000)); then
			ports+=("$p")
		fi
		((p++))
	done
	if ((${#ports[@]} < 3)); then
		log "no three free ports from $BASE"
		return 1
	fi
	echo "${ports[*]}" >"$PORTS_FILE"

	local port
	for port in "${ports[@]}"; do
		redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
			--cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
			--save "" --appendonly no --dir "$DIR" \
			--daemonize yes --pidfile "$DIR/$port.pid" --logfile "$DIR/$port.log" || {
			log "redis-server on port $port failed to start"
			stop
			return 1
		}
	done
	for port in "${ports[@]}"; do
		for _ in $(seq 50); do cli "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
	done

	if ! redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1; then
		log "cluster create failed: $(tail -3 "$DIR/create.log")"
		stop
		return 1
	fi
	# Every node must agree before clients connect (else CLUSTERDOWN).
	for _ in $(seq 150); do
		if alive && [[ $(cli "${ports[0]}" cluster info | grep -c '^cluster_known_nodes:3') -eq 1 ]]; then
			log "up on ports ${ports[*]}"
			url
			return 0
		fi
		sleep 0.2
	done
	log "cluster did not reach cluster_state:ok"
	stop
	return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) alive && url ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
