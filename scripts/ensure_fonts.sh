#!/usr/bin/env bash
# Charts (and PDF reports) draw Chinese with Noto Sans CJK; install it when missing. Without
# it the app still runs, but Chinese in charts shows as empty boxes, so say so.
set -euo pipefail
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
  echo "installing fonts-noto-cjk ..."
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null
else
  echo "note: the Noto Sans CJK font is missing (Debian: sudo apt-get install fonts-noto-cjk);" \
    "charts will draw Chinese text as boxes until it is installed" >&2
fi
