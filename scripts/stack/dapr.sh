#!/usr/bin/env bash
# Placeholder until Dapr mode lands: dapr is not part of the stack yet.
set -euo pipefail
case "${1:-}" in
status) printf '%-9s not part of this stack yet\n' dapr ;;
env|stop|kill) ;;
*) echo "dev-stack: dapr is not available yet" >&2; exit 1 ;;
esac
