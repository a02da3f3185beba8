#!/usr/bin/env bash
# Set up everything the demo and the tests need, idempotently:
#   the virtualenv in .venv with Expro installed, PostGIS (apt-get when missing),
#   the project-local PostgreSQL cluster under .expro/ (or EXPRO_DATABASE_URL), the migrations.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "Expro needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "creating the virtualenv in .venv ..." >&2
    if ! "$PYTHON" -m venv .venv; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            rm -rf .venv
            DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2
            "$PYTHON" -m venv .venv
        else
            echo "python venv is missing: sudo apt-get install python3-venv" >&2
            exit 1
        fi
    fi
fi

# reinstall only when the dependencies changed
want=$(sha256sum pyproject.toml | cut -c1-64)
have=$(cat .venv/.expro-installed 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    echo "installing Expro and its dependencies into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".[test]" >&2
    echo "$want" > .venv/.expro-installed
fi

# System packages the suite and the reports use: Chromium (the web map is tested in a real headless
# browser), a CJK font (Chinese text in the map, the PDFs, the plots and the Kivy screens), poppler
# (pdftoppm, to look at the PDFs). Installed with apt-get when missing and allowed.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]} with apt-get ..." >&2
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
            apt-get update >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
        fi
    else
        echo "missing system packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]})" >&2
    fi
fi

.venv/bin/expro db up >&2
