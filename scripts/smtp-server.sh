#!/usr/bin/env bash
# Starts a real SMTP server (aiosmtpd, scripts/smtp_sink.py) on 127.0.0.1 in the background and
# prints its PID once the port accepts connections. Stop it with `kill <PID>`.
#
#   scripts/smtp-server.sh --port 2525 --dir /tmp/mail [--auth-user U --auth-password P]
#                          [--reject-rcpt ADDR]... [--tempfail-rcpt ADDR]...
#
# All options are passed to smtp_sink.py (see its docstring). The server's output goes to
# $SMTP_SINK_LOG (default: <dir>.log next to the mail directory).
# The venv lives in ${XDG_CACHE_HOME:-$HOME/.cache}/tickler/venv-smtp and is created on first use
# (PyPI access needed once); $PYTHON picks the interpreter that creates it (default python3).
# Exits non-zero, with the reason on stderr, if anything fails.
set -euo pipefail

AIOSMTPD_VERSION="1.4.6"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tickler"
venv="$cache/venv-smtp"
python="${PYTHON:-python3}"

port="" dir=""
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port="${2:-}"; shift 2 || break ;;
        --dir) dir="${2:-}"; shift 2 || break ;;
        *) shift ;;
    esac
done
if [ -z "$port" ] || [ -z "$dir" ]; then
    echo "usage: $0 --port PORT --dir DIR [smtp_sink.py options]" >&2
    exit 2
fi

# Create or reuse the venv; a lock keeps parallel callers (tests) from building it twice.
mkdir -p "$cache"
(
    flock -w 300 9 || { echo "smtp-server.sh: timed out waiting for $cache/venv-smtp.lock" >&2; exit 1; }
    if ! "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
        echo "smtp-server.sh: setting up $venv (aiosmtpd==$AIOSMTPD_VERSION)" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "aiosmtpd==$AIOSMTPD_VERSION" >&2
        "$venv/bin/python" -c "import aiosmtpd" >&2
    fi
) 9>"$cache/venv-smtp.lock"

mkdir -p "$dir"
log="${SMTP_SINK_LOG:-${dir%/}.log}"
"$venv/bin/python" -u "$here/smtp_sink.py" "${args[@]}" </dev/null >"$log" 2>&1 &
pid=$!

# Wait until the port accepts connections, or the server dies.
for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "smtp-server.sh: server exited before listening on 127.0.0.1:$port; its log ($log):" >&2
        cat "$log" >&2 || true
        exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && grep -q "^listening on" "$log" 2>/dev/null; then
        echo "$pid"
        exit 0
    fi
    sleep 0.1
done
echo "smtp-server.sh: 127.0.0.1:$port not accepting connections after 20 s; stopping $pid" >&2
kill "$pid" 2>/dev/null || true
cat "$log" >&2 || true
exit 1
