#!/usr/bin/env bash
port=${CRM_PORT:-8000}
cat <<TXT

  CRM is starting (web, worker and beat; Ctrl-C stops all three).

  Platform console   http://localhost:$port/        operator@example.com / crm-demo-2026
  Demo tenant        http://demo.localhost:$port/   admin@example.com    / crm-demo-2026
                     (also manager@, agent@ and viewer@example.com, same password)
  Admins and operators set up two-factor sign-in (any authenticator app) the first time.
  Health             http://localhost:$port/healthz

TXT
