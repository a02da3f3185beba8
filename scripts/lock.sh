#!/usr/bin/env bash
# Refresh requirements/lock.txt: the exact versions, with hashes, that scripts/bootstrap.sh installs.
#   scripts/lock.sh                  keep the pinned versions, add/remove what pyproject.toml changed
#   scripts/lock.sh --upgrade        every package to the newest version pyproject.toml's ranges allow
#   scripts/lock.sh -P fastapi       only that package (repeatable)
# Covers the runtime dependencies, the `test` extra and the build requirements (setuptools, wheel), for
# Python 3.11 on Linux x86_64. Resolved against PyPI alone: local pip configuration (extra indexes,
# find-links, constraints) is ignored so that the hashes are those any machine downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
PIP_TOOLS_VERSION=7.7.0
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT
"$PYTHON" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet "pip-tools==$PIP_TOOLS_VERSION"
"$tools/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --extra test --all-build-deps --no-emit-index-url --no-emit-find-links \
    --output-file requirements/lock.txt "$@" pyproject.toml
echo "requirements/lock.txt refreshed; commit it with pyproject.toml" >&2
