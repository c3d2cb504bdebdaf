#!/usr/bin/env bash
# Install uv (from PyPI) when it is not on PATH.
set -euo pipefail
if command -v uv >/dev/null 2>&1; then exit 0; fi
echo "installing uv ..."
python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
command -v uv >/dev/null 2>&1 || { echo "uv is still not on PATH; add ~/.local/bin to PATH" >&2; exit 1; }
