# Shared by scripts/dev-stack and scripts/stack/*.sh: directories, ports and process helpers.
# shellcheck shell=bash

STACK_DIR="${TICKLER_STACK_DIR:-/tmp/tickler-stack}"
CACHE_DIR="${TICKLER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tickler}"
DEFAULT_STACK_DIR=/tmp/tickler-stack

# Every port the stack uses. The default stack gets these fixed numbers; another stack directory
# gets free ports (asked from the kernel) so that a private stack never collides with it.
PORT_NAMES=(PG_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT SMTP_PORT REDIS_PORT
            SCHEDULER_PORT SCHEDULER_HEALTH_PORT SCHEDULER_METRICS_PORT SCHEDULER_ETCD_PORT SCHEDULER_ETCD_PEER_PORT)
declare -A DEFAULT_PORTS=(
    [PG_PORT]=55432 [KAFKA_PORT]=19092 [KAFKA_CONTROLLER_PORT]=19093 [SMTP_PORT]=2525
    [REDIS_PORT]=56379 [SCHEDULER_PORT]=51006 [SCHEDULER_HEALTH_PORT]=58081
    [SCHEDULER_METRICS_PORT]=59091 [SCHEDULER_ETCD_PORT]=52379 [SCHEDULER_ETCD_PEER_PORT]=52380
)

log() { printf 'dev-stack: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

free_port() { free_ports 1; }

# N distinct free ports, one per line. All sockets stay bound until every port is chosen: binding
# port 0 and closing it one port at a time can hand out the same port twice (it did, in CI).
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# Loads $STACK_DIR/ports.env, creating it on first use.
stack_ports() {
    mkdir -p "$STACK_DIR"
    chmod 755 "$STACK_DIR"
    local f="$STACK_DIR/ports.env"
    if [ ! -f "$f" ]; then
        local tmp="$f.$$" name i=0 ports=()
        : >"$tmp"
        mapfile -t ports < <(free_ports "${#PORT_NAMES[@]}")
        for name in "${PORT_NAMES[@]}"; do
            if [ "$STACK_DIR" = "$DEFAULT_STACK_DIR" ]; then
                echo "$name=${DEFAULT_PORTS[$name]}" >>"$tmp"
            else
                echo "$name=${ports[$i]}" >>"$tmp"
            fi
            i=$((i + 1))
        done
        mv "$tmp" "$f"
    fi
    # shellcheck disable=SC1090
    source "$f"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
    local secs="$1" what="$2"; shift 2
    local n=$((secs * 10))
    for _ in $(seq "$n"); do
        "$@" && return 0
        sleep 0.1
    done
    log "$what: not ready after ${secs}s"
    return 1
}

# stop_pid PIDFILE [SECONDS]: SIGTERM, wait, then SIGKILL. Only the recorded process is touched.
stop_pid() {
    local f="$1" secs="${2:-30}" pid
    [ -f "$f" ] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
}

kill_pid() {
    local f="$1" pid
    [ -f "$f" ] || return 0
    pid="$(cat "$f")"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
}

status_line() { # NAME PIDFILE DETAIL
    if alive "$2"; then printf '%-9s running (pid %s) %s\n' "$1" "$(cat "$2")" "$3"
    else printf '%-9s stopped\n' "$1"; fi
}
