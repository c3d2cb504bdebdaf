# Two commands matter: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.local/bin:$(PATH)
export UV_LINK_MODE ?= copy
PY := .venv/bin/python
MANAGE := $(PY) manage.py
DEMO_PASSWORD := crm-demo-2026

.PHONY: help run test install services db demo messages serve lint typecheck check bench test-deps fonts

help:
	@echo "make run    install, prepare Postgres/Redis/migrations/demo tenant, serve web+worker+beat"
	@echo "make test   the whole test suite (installs Chromium and fonts when missing)"
	@echo "make check  ruff, ruff format --check, mypy and makemigrations --check"

run: install services fonts db messages demo
	@mkdir -p var
	@scripts/banner.sh
	$(PY) -m honcho start -f Procfile

install: .venv/.synced
.venv/.synced: pyproject.toml uv.lock
	@scripts/ensure_uv.sh
	uv sync --frozen
	@touch $@

services:
	@scripts/ensure_services.sh

db: install services
	$(PY) scripts/create_database.py
	$(MANAGE) migrate_schemas --shared --noinput -v 0
	$(MANAGE) platform_init --operator-email operator@example.com --operator-password $(DEMO_PASSWORD)
	$(MANAGE) migrate_schemas --tenant --noinput -v 0

demo: db
	$(MANAGE) tenant create demo --if-missing --name "Demo Retail 示例零售" \
		--admin-email owner@example.com --admin-password $(DEMO_PASSWORD) \
		--language en --timezone Asia/Shanghai --currency CNY
	$(MANAGE) seed_demo demo --seed 1 --customers 2000

messages: install
	@scripts/ensure_gettext.sh
	$(MANAGE) compilemessages --ignore=.venv -v 0

fonts:
	@scripts/ensure_fonts.sh

test-deps:
	@scripts/ensure_test_deps.sh

test: install services messages test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# What a reviewer checks before reading a diff; CI (.ci/run) runs it beside the tests.
check: install services
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
	$(MANAGE) makemigrations --check --dry-run -v 1

lint: check

bench: install services db
	$(PY) bench/tenant_provisioning.py
