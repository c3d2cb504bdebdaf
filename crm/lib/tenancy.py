from django.conf import settings
from django.db import connection


def current_schema() -> str:
    """The schema the database connection is using now (django-tenants sets it per request,
    per task, or inside schema_context)."""
    return str(connection.schema_name)  # type: ignore[attr-defined]


def in_public_schema() -> bool:
    return current_schema() == settings.PUBLIC_SCHEMA_NAME
