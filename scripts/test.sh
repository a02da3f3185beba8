#!/usr/bin/env bash
# One command for the tests: set up (virtualenv, PostGIS, local cluster), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
