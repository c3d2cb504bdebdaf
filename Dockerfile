# syntax=docker/dockerfile:1
# The CRM application image: web (gunicorn), Celery worker and beat all run from it.
# Build: docker build -t crm .        Run everything: docker compose up --build
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    DJANGO_DEBUG=0

# gettext: compilemessages. pango/harfbuzz: WeasyPrint's runtime. fonts-noto-cjk: Chinese text
# in PDFs. tzdata: zoneinfo (tenant time zones). curl: container healthchecks.
# postgresql-client: pg_dump, which provisioning uses to clone the template schema (15 = server).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gettext \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        fonts-noto-cjk \
        tzdata \
        curl \
        postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

# uv from PyPI, the same version that maintains uv.lock.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first, from the committed lock only, so source edits do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .

# Translations and static files. Settings refuse to load without a secret key when DEBUG is off:
# a dummy serves this build step only and is not kept in the image. compilemessages is skipped
# only while the tree has no locale directory at all (it errors out when it finds none).
RUN export DJANGO_SECRET_KEY=build-time-dummy-never-used-at-runtime \
    && if [ -n "$(find . -path ./.venv -prune -o -type d -name locale -print)" ]; then \
        python manage.py compilemessages --ignore=.venv -v 0; \
    else \
        echo "no locale directories: nothing to compile"; \
    fi \
    && python manage.py collectstatic --noinput -v 0

# Code and static files stay root-owned and read-only for the app; it writes only to /tmp.
RUN groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid crm --home-dir /home/crm --create-home \
        --shell /usr/sbin/nologin crm
USER 10001:10001

EXPOSE 8000
CMD ["gunicorn", "crm.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
