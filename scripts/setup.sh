#!/usr/bin/env bash
# Create .venv with everything the workbench and its tests need. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=""
for cand in python3.11 python3.12 python3.13 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY="$cand"; break
  fi
done
[ -n "$PY" ] || { echo "setup: Python >= 3.11 is needed (python3.11 not found)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test,spark,onnx]"
# The notebooks' kernel must be this environment's Python, on any machine.
.venv/bin/python -m ipykernel install --sys-prefix >/dev/null

# Browser tests drive Debian's Chromium; install it where we can (root + apt), else they skip.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (apt) for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; browser tests will be skipped"
  else
    echo "setup: chromium not found and apt-get unavailable; browser tests will be skipped"
  fi
fi
echo "setup: done ($(.venv/bin/python --version))"
