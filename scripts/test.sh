#!/usr/bin/env bash
# One command for the tests: set up (virtualenv, PostGIS, local cluster), type-check the packages with
# mypy (configured in pyproject.toml), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
echo "mypy ..." >&2
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
