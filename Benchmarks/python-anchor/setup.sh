#!/usr/bin/env bash
# Creates Benchmarks/python-anchor/.venv (git-ignored) with the Python library we compare with, from PyPI, and
# matplotlib for scripts/plot-performance.py. Prints the venv's python path. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv >&2
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "aio-azure-clients-toolbox==1.5.0" matplotlib >&2
echo "$PWD/.venv/bin/python"
