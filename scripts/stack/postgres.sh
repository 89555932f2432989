#!/usr/bin/env bash
# PostgreSQL 15 from Debian's packages, as a private cluster: its own data directory and port on
# 127.0.0.1, never the system service. Run as the `postgres` user when we are root (PostgreSQL
# refuses to run as root). Database and role `tickler`, password `tickler`.
#   postgres.sh install|start|stop|kill|status|env
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
stack_ports

PG_VERSION=15
BIN="/usr/lib/postgresql/$PG_VERSION/bin"
DATA="$STACK_DIR/postgres/data"
SOCK="$STACK_DIR/postgres/sock"
LOGF="$STACK_DIR/postgres/server.log"
PIDF="$STACK_DIR/postgres/postmaster.pid.copy"

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

case "${1:-}" in
install)
    if [ ! -x "$BIN/postgres" ]; then
        log "installing postgresql-$PG_VERSION from Debian's packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$PG_VERSION" >/dev/null \
            || die "apt-get install postgresql-$PG_VERSION failed"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        mkdir -p "$STACK_DIR/postgres"
        rm -rf "$DATA"; mkdir -p "$DATA" "$SOCK"
        [ "$(id -u)" = 0 ] && chown -R postgres: "$STACK_DIR/postgres"
        pw="$STACK_DIR/postgres/pwfile"; echo postgres >"$pw"; chmod 644 "$pw"
        as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=scram-sha-256 --pwfile="$pw" \
            -E UTF8 --locale=C.UTF-8 >"$STACK_DIR/postgres/initdb.log" 2>&1 \
            || { cat "$STACK_DIR/postgres/initdb.log" >&2; die "initdb failed"; }
        rm -f "$pw"
        cat >>"$DATA/postgresql.conf" <<CONF
# dev-stack: loopback only, no Unix socket outside the stack directory
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK'
max_connections = 300
shared_buffers = 128MB
max_wal_size = 2GB
log_min_messages = warning
log_line_prefix = '%m [%p] '
CONF
        # Start once to create the application role and database.
        "$0" start
        PGPASSWORD=postgres "$BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
            -v ON_ERROR_STOP=1 -c "CREATE ROLE tickler LOGIN PASSWORD 'tickler' CREATEDB" \
            -c "CREATE DATABASE tickler OWNER tickler" >/dev/null
        log "postgres cluster created in $DATA"
    fi
    ;;
start)
    if running && ready; then exit 0; fi
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGF" -w -t 60 start >/dev/null \
        || { tail -20 "$LOGF" >&2; die "postgres did not start"; }
    wait_for 30 postgres ready
    head -1 "$DATA/postmaster.pid" >"$PIDF"
    ;;
stop)
    if [ -f "$DATA/PG_VERSION" ] && running; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    fi
    rm -f "$PIDF"
    ;;
kill)
    # A crash: SIGKILL the postmaster; its backends notice and exit. The next start recovers.
    if [ -f "$DATA/postmaster.pid" ]; then
        pid="$(head -1 "$DATA/postmaster.pid")"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 100); do pgrep -u postgres -f -- "-D $DATA" >/dev/null || pgrep -P "$pid" >/dev/null || break; sleep 0.1; done
    fi
    rm -f "$PIDF"
    ;;
status)
    if [ -f "$DATA/PG_VERSION" ] && running; then
        printf '%-9s running (pid %s) 127.0.0.1:%s\n' postgres "$(head -1 "$DATA/postmaster.pid")" "$PG_PORT"
    else printf '%-9s stopped\n' postgres; fi
    ;;
env)
    echo "export TICKLER_DATABASE_URL=postgres://tickler:tickler@127.0.0.1:$PG_PORT/tickler"
    echo "export TICKLER_STACK_PG_ADMIN_URL=postgres://postgres:postgres@127.0.0.1:$PG_PORT/postgres"
    echo "export TICKLER_STACK_PG_BIN=$BIN"
    ;;
*) die "usage: postgres.sh install|start|stop|kill|status|env" ;;
esac
