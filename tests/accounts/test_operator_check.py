"""Who operates the platform: an active, signed-in staff account of the public schema, and no
one else (pinned because a mutation run showed nothing failed when the check was loosened)."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser

from crm.accounts.permissions import can_operate_platform


@dataclass
class _Account:
    is_authenticated: bool
    is_active: bool
    is_staff: bool


@pytest.mark.parametrize(
    ("account", "operates"),
    [
        (_Account(is_authenticated=True, is_active=True, is_staff=True), True),
        # Signed in but not staff: a tenant's staff member is never an operator.
        (_Account(is_authenticated=True, is_active=True, is_staff=False), False),
        # A deactivated operator keeps is_staff but loses the console at once.
        (_Account(is_authenticated=True, is_active=False, is_staff=True), False),
        (_Account(is_authenticated=False, is_active=True, is_staff=True), False),
        (AnonymousUser(), False),
    ],
)
def test_only_active_signed_in_staff_operate_the_platform(account, operates):
    assert can_operate_platform(account) is operates
