"""Tokens and clients for the API tests."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from crm.api.services import api_token_create
from tests.testkit.cast import TenantCast


def token_make(member: TenantCast, *scopes: str, name: str = "") -> str:
    """A new token of the tenant with these scopes; its secret."""
    with schema_context(member.schema):
        _token, secret = api_token_create(
            actor=None, name=name or f"Till {uuid.uuid4().hex[:6]}", scopes=list(scopes)
        )
    return secret


class ApiClient:
    """A test client on a tenant's host sending one token."""

    def __init__(self, member: TenantCast, secret: str | None) -> None:
        self.client = Client(HTTP_HOST=member.host)
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, headers={**self.headers, **headers})

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Any:
        import json

        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.post(
            path, data=data, content_type="application/json", headers={**self.headers, **headers}
        )


@pytest.fixture
def api_for() -> Callable[..., ApiClient]:
    def make(member: TenantCast, *scopes: str, name: str = "") -> ApiClient:
        return ApiClient(member, token_make(member, *scopes, name=name))

    return make
