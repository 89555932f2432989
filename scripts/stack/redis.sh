#!/usr/bin/env bash
# Redis from Debian's packages (`redis-server`), run by hand on 127.0.0.1 with no persistence:
# the Redis Streams pub/sub component of Dapr mode (deploy/dapr/components/pubsub-redis.yaml).
# The package's systemd unit is never used (this container's policy-rc.d keeps it from starting
# anyway): the stack's Redis has its own port and pid file.
#   redis.sh install|start|stop|kill|status|env
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
stack_ports
R="$STACK_DIR/redis"
PIDF="$R/redis.pid"

ready() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

case "${1:-}" in
install)
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        log "installing redis-server from Debian's packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; } \
            || die "apt-get install redis-server failed"
    fi
    ;;
start)
    alive "$PIDF" && ready && exit 0
    mkdir -p "$R"
    # --dir keeps anything Redis might write inside the stack; --save "" and --appendonly no
    # make it a pure in-memory broker (a restart loses what it held, as the tests expect).
    nohup redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
        --save "" --appendonly no --dir "$R" --daemonize no \
        >"$R/redis.log" 2>&1 </dev/null &
    echo $! >"$PIDF"
    wait_for 20 redis ready || { tail -20 "$R/redis.log" >&2; die "redis did not start"; }
    ;;
stop) stop_pid "$PIDF" 10 ;;
kill) kill_pid "$PIDF" ;;
status) status_line redis "$PIDF" "127.0.0.1:$REDIS_PORT" ;;
env) echo "export TICKLER_STACK_REDIS_ADDR=127.0.0.1:$REDIS_PORT" ;;
*) die "usage: redis.sh install|start|stop|kill|status|env" ;;
esac
