#!/usr/bin/env bash
# The SMTP sink (aiosmtpd from PyPI, scripts/smtp_sink.py): accepts every message on 127.0.0.1
# and stores it as a file under $TICKLER_STACK_DIR/smtp/mail, so tests can count what was sent.
#   smtp.sh install|start|stop|kill|status|env
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
stack_ports
S="$STACK_DIR/smtp"
PIDF="$S/smtp.pid"

case "${1:-}" in
install) ;; # scripts/smtp-server.sh creates its venv on first start
start)
    alive "$PIDF" && exit 0
    mkdir -p "$S/mail"
    SMTP_SINK_LOG="$S/smtp.log" bash "$here/../smtp-server.sh" --port "$SMTP_PORT" --dir "$S/mail" >"$PIDF"
    ;;
stop) stop_pid "$PIDF" 10 ;;
kill) kill_pid "$PIDF" ;;
status) status_line smtp "$PIDF" "127.0.0.1:$SMTP_PORT, mail in $S/mail" ;;
env)
    echo "export TICKLER_SMTP__HOST=127.0.0.1"
    echo "export TICKLER_SMTP__PORT=$SMTP_PORT"
    echo "export TICKLER_SMTP__TLS=none"
    echo "export TICKLER_STACK_MAIL_DIR=$S/mail"
    ;;
*) die "usage: smtp.sh install|start|stop|kill|status|env" ;;
esac
