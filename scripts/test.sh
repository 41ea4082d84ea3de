#!/usr/bin/env bash
# The tests on a fresh machine: install into .venv, start Kafka 3.9 (KRaft) and Redis,
# then ruff, mypy and every test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${SELLERWATCH_VENV:-.venv}"
PY="$VENV/bin/python"
# The integration tests start `sellerwatch` processes: the venv's, first on PATH.
export PATH="$(pwd -P)/$VENV/bin:$PATH"
bash deploy/local/up.sh
"$PY" -m ruff check .
"$PY" -m mypy
"$PY" -m pytest "$@"
