#!/bin/sh
# Install kopnet into .venv and run the demo on a fresh embedded (SQLite) database.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/kopnet demo "$@"
