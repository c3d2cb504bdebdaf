#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer. Start the local ones when they are installed but stopped;
# otherwise say how to get them.
set -euo pipefail
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/crm}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

read -r PG_HOST PG_PORT < <(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)' "$DATABASE_URL")
read -r REDIS_HOST REDIS_PORT < <(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 6379)' "$REDIS_URL")

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_for() { for _ in $(seq 1 30); do port_open "$1" "$2" && return 0; sleep 0.5; done; return 1; }
is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }
advice() {
  echo "Cannot reach $1 at $2:$3." >&2
  echo "Install it locally, or with Docker run:  docker compose up -d postgres redis" >&2
  exit 1
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
  if is_local "$PG_HOST" && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version ..."
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for "$PG_HOST" "$PG_PORT" || advice PostgreSQL "$PG_HOST" "$PG_PORT"
  else
    advice PostgreSQL "$PG_HOST" "$PG_PORT"
  fi
fi

if ! port_open "$REDIS_HOST" "$REDIS_PORT"; then
  if is_local "$REDIS_HOST" && command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis ..."
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
    wait_for "$REDIS_HOST" "$REDIS_PORT" || advice Redis "$REDIS_HOST" "$REDIS_PORT"
  else
    advice Redis "$REDIS_HOST" "$REDIS_PORT"
  fi
fi
echo "PostgreSQL $PG_HOST:$PG_PORT and Redis $REDIS_HOST:$REDIS_PORT are up"
