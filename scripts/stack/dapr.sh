#!/usr/bin/env bash
# Dapr for Dapr mode: builds daprd and the Dapr Scheduler (scripts/stack/dapr-build.sh, cached by
# version) and runs the Scheduler ONCE per stack on 127.0.0.1, with its own etcd data directory.
# daprd sidecars are not started here: scripts/dapr-run starts one per process, pointed at this
# Scheduler. Also writes the local secret file the `secretstore-local` component reads.
#   dapr.sh install|start|stop|kill|purge|status|env
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
stack_ports

# The version dapr-build.sh pins (read rather than repeated: its own hash is its cache key).
V="$(sed -n 's/^V=//p' "$here/dapr-build.sh")"
BIN="$CACHE_DIR/dapr-$V"
D="$STACK_DIR/dapr"
PIDF="$D/scheduler.pid"
SECRETS="$D/secrets.json"

# The Scheduler's embedded etcd fsyncs its WAL on every write. On a busy 2-core machine one
# fdatasync took 4.9 s (seen), which made job triggers seconds late; so the dev stack keeps the
# Scheduler's data in memory-backed /dev/shm when it can (it survives Scheduler restarts, not a
# reboot of the machine, which a dev stack does not need). TICKLER_SCHEDULER_DATA_DIR overrides.
# `down --purge` removes it (the `purge` action); stacks deleted without it are cleaned up on
# the next start.
if [ -n "${TICKLER_SCHEDULER_DATA_DIR:-}" ]; then
    DATA="$TICKLER_SCHEDULER_DATA_DIR"
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
    DATA="/dev/shm/tickler-scheduler-$(printf %s "$STACK_DIR" | sha256sum | cut -c1-12)"
else
    DATA="$D/scheduler-data"
fi
# The Scheduler empties its data directory on first boot, so the owner is recorded beside it.
OWNER="$DATA.stack"

clean_stale() {
    local f
    for f in /dev/shm/tickler-scheduler-*.stack; do
        [ -f "$f" ] || continue
        [ -d "$(cat "$f")" ] || rm -rf "${f%.stack}" "$f"
    done
}

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$SCHEDULER_HEALTH_PORT/healthz" 2>/dev/null; }
# /healthz answers before the embedded etcd is ready; daprd copes, but tests that schedule a job
# right away should not see a cold Scheduler, so wait for its cron engine too.
cron_ready() { grep -q "Cron is ready" "$D/scheduler.log" 2>/dev/null; }

# The secrets the dev stack's Tickler processes read in Dapr mode (names: config's dapr.secrets).
write_secrets() {
    [ -f "$SECRETS" ] && return 0
    umask 077
    cat >"$SECRETS" <<JSON
{
  "tickler-auth-secret": "dev-stack-signing-secret-0123456789",
  "tickler-smtp-password": "",
  "tickler-database-url": "postgres://tickler:tickler@127.0.0.1:$PG_PORT/tickler"
}
JSON
}

case "${1:-}" in
install)
    bash "$here/dapr-build.sh" >/dev/null
    ;;
start)
    alive "$PIDF" && healthy && exit 0
    [ -x "$BIN/scheduler" ] || bash "$here/dapr-build.sh" >/dev/null
    clean_stale
    mkdir -p "$D" "$DATA"
    chmod 700 "$DATA"
    [ "$DATA" = "$D/scheduler-data" ] || printf %s "$STACK_DIR" >"$OWNER"
    write_secrets
    : >"$D/scheduler.log"
    nohup "$BIN/scheduler" \
        --port "$SCHEDULER_PORT" --listen-address 127.0.0.1 \
        --override-broadcast-host-port "127.0.0.1:$SCHEDULER_PORT" \
        --healthz-port "$SCHEDULER_HEALTH_PORT" --healthz-listen-address 127.0.0.1 \
        --metrics-port "$SCHEDULER_METRICS_PORT" --metrics-listen-address 127.0.0.1 \
        --etcd-data-dir "$DATA" \
        --etcd-client-port "$SCHEDULER_ETCD_PORT" --etcd-client-listen-address 127.0.0.1 \
        --id dapr-scheduler-server-0 \
        --etcd-initial-cluster "dapr-scheduler-server-0=http://127.0.0.1:$SCHEDULER_ETCD_PEER_PORT" \
        --log-level info >>"$D/scheduler.log" 2>&1 </dev/null &
    echo $! >"$PIDF"
    for _ in $(seq 600); do
        healthy && cron_ready && exit 0
        alive "$PIDF" || { tail -30 "$D/scheduler.log" >&2; die "the Dapr Scheduler exited during start-up"; }
        sleep 0.1
    done
    tail -30 "$D/scheduler.log" >&2; die "the Dapr Scheduler was not ready in 60 s"
    ;;
stop) stop_pid "$PIDF" 15 ;;
purge) stop_pid "$PIDF" 15; rm -rf "$DATA" "$OWNER" ;;
kill) kill_pid "$PIDF" ;;
status) status_line dapr "$PIDF" "scheduler 127.0.0.1:$SCHEDULER_PORT, daprd $BIN/daprd" ;;
env)
    echo "export TICKLER_STACK_DAPR_SCHEDULER=127.0.0.1:$SCHEDULER_PORT"
    echo "export TICKLER_STACK_DAPRD=$BIN/daprd"
    echo "export TICKLER_STACK_DAPR_SECRETS_FILE=$SECRETS"
    ;;
*) die "usage: dapr.sh install|start|stop|kill|purge|status|env" ;;
esac
