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
  --metrics out/metrics.jsonl --evidence out/evidence.jsonl --warnings out/warnings.jsonl
echo
echo "first verdicts (out/verdicts.jsonl):"
head -n 5 out/verdicts.jsonl
# one delist explained from its evidence: the orders it counted (what a seller appealing asks)
delist=$(grep -m1 -o '"verdict_id":"ship48_pickup24:delist:[^"]*"' out/verdicts.jsonl | cut -d'"' -f4)
if [ -n "$delist" ]; then
  echo
  echo "sellerwatch explain $delist --evidence out/evidence.jsonl"
  "$VENV/bin/sellerwatch" explain "$delist" --evidence out/evidence.jsonl
fi
