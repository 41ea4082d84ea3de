#!/usr/bin/env bash
# Install everything sellerwatch needs on a fresh Debian machine (idempotent):
# Debian's redis-server, kcat, Java, Maven and Chromium (for the report's browser test), then the Python package with its test and
# bench extras into a virtual environment, .venv/ in this checkout. Nothing is installed into
# the system interpreter (Debian 12 and Ubuntu refuse that: PEP 668).
# Kafka itself comes from Maven Central when deploy/local/up.sh first runs.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# the compare report's test opens report.html in a real (headless) browser
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: sellerwatch needs Python 3.11 or newer, found $(python3 -V 2>&1)" >&2
  exit 2
fi

VENV="${SELLERWATCH_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtual environment $VENV" >&2
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

# Install when anything is missing, or when the installed package is another checkout's
# (an editable install elsewhere would make the console script run that code).
installed=$("$PY" -c "import os, sellerwatch; print(os.path.dirname(os.path.dirname(os.path.realpath(sellerwatch.__file__))))" 2>/dev/null || true)
if [ "$installed" != "$(pwd -P)" ] \
   || ! "$PY" -c "import faust, msgspec, hypothesis, matplotlib, jsonschema, redis, yaml" >/dev/null 2>&1 \
   || [ "${SELLERWATCH_REINSTALL:-}" = 1 ]; then
  echo "setup: installing the Python package and its test extras into $VENV" >&2
  "$PY" -m pip install -q --disable-pip-version-check -e '.[test,bench]'
fi
