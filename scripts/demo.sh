#!/usr/bin/env bash
# One command for the demo: set up, generate and import a synthetic district, serve http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/expro demo "$@"
