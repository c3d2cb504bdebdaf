#!/usr/bin/env bash
# compilemessages needs GNU gettext's msgfmt.
set -euo pipefail
command -v msgfmt >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
else
  echo "msgfmt not found: install GNU gettext (Debian: sudo apt-get install gettext)" >&2
  exit 1
fi
