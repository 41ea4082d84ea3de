#!/usr/bin/env bash
# The tests on a fresh machine: install, start Kafka 3.9 (KRaft) and Redis, run everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash deploy/local/up.sh
python3 -m ruff check .
python3 -m mypy
python3 -m pytest "$@"
