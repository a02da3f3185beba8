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

# The dependencies at the exact versions of requirements/lock.txt (hashes checked; refresh it with
# scripts/lock.sh), then Expro itself, editable, without touching them. Reinstalled only when the lock,
# pyproject.toml or setup.py changed. The lock is resolved for CPython 3.11 on Linux x86_64; elsewhere
# the version ranges of pyproject.toml are installed instead, with a warning.
want=$(cat requirements/lock.txt pyproject.toml setup.py | sha256sum | cut -c1-64)
have=$(cat .venv/.expro-installed 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    if .venv/bin/python -c 'import platform, sys; sys.exit(0 if sys.version_info[:2] == (3, 11) and platform.system() == "Linux" and platform.machine() == "x86_64" else 1)'; then
        echo "installing the locked dependencies (requirements/lock.txt) and Expro into .venv ..." >&2
        .venv/bin/python -m pip install --quiet --require-hashes -r requirements/lock.txt >&2
        .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . >&2
    else
        echo "warning: requirements/lock.txt is for CPython 3.11 on Linux x86_64; installing the ranges of pyproject.toml" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip >&2
        .venv/bin/python -m pip install --quiet -e ".[test]" >&2
    fi
    echo "$want" > .venv/.expro-installed
fi

# System packages the suite and the reports use: Chromium (the web map is tested in a real headless
# browser), a CJK font (Chinese text in the map, the PDFs, the plots and the Kivy screens), poppler
# (pdftoppm, to look at the PDFs), GDAL's ogrinfo (the OGC API Features are read as GDAL reads them).
# Installed with apt-get when missing and allowed.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin)
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
