#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv, then replay the shipped sample (no broker
# needed) and show the verdicts it decides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${SELLERWATCH_VENV:-.venv}"
mkdir -p out
"$VENV/bin/sellerwatch" replay examples/sample.jsonl.gz \
  --out out/verdicts.jsonl --rejects out/rejects.jsonl --late out/late.jsonl \
  --metrics out/metrics.jsonl
echo
echo "first verdicts (out/verdicts.jsonl):"
head -n 5 out/verdicts.jsonl
