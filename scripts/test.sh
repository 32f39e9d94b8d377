#!/bin/sh
# Install kopnet with its test tools into .venv, then run every check: lint, format, types,
# and the whole test suite on SQLite and PostgreSQL (see tests/databases.py for how
# PostgreSQL is found; the run fails, never skips, without one).
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}" exec .venv/bin/pytest -p no:cacheprovider -n 2 "$@"
