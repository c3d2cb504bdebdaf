"""`manage.py tenant ...` and `manage.py seed_demo`, as an operator runs them."""

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, schema_exists

from crm.accounts.models import AuditEntry, User
from crm.accounts.seeding import DEMO_LOGINS, DEMO_PASSWORD
from crm.tenants.models import Tenant
from customers.models import Customer


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_tenant_command_lifecycle(committed_db):
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    created = run(
        "tenant",
        "create",
        slug,
        "--name",
        "CLI 商店",
        "--admin-email",
        "Boss@CLI.test",
        "--admin-password",
        "cli-password-1",
        "--language",
        "zh-hans",
        "--timezone",
        "Asia/Shanghai",
        "--currency",
        "CNY",
    )
    assert f"tenant {slug} ready in" in created
    assert f"http://{slug}.localhost:8000" in created
    tenant = Tenant.objects.get(slug=slug)
    assert (tenant.language, tenant.time_zone, tenant.currency) == (
        "zh-hans",
        "Asia/Shanghai",
        "CNY",
    )
    with schema_context(tenant.schema_name):
        assert User.objects.get(email="boss@cli.test").check_password("cli-password-1")

    listing = run("tenant", "list")
    assert slug in listing and "CLI 商店" in listing and "tenant-template" not in listing

    again = run(
        "tenant", "create", slug, "--name", "x", "--admin-email", "a@b.test", "--if-missing"
    )
    assert "exists" in again

    assert "suspended" in run("tenant", "suspend", slug)
    assert Tenant.objects.get(slug=slug).status == Tenant.Status.SUSPENDED
    assert "ready" in run("tenant", "resume", slug)

    with pytest.raises(CommandError, match="add --yes"):
        run("tenant", "delete", slug)
    assert schema_exists(tenant.schema_name), "a refused delete changes nothing"

    assert "deleted" in run("tenant", "delete", slug, "--yes")
    assert not schema_exists(tenant.schema_name)
    assert not Tenant.objects.filter(slug=slug).exists()


def test_the_tenant_command_explains_bad_input(committed_db):
    with pytest.raises(CommandError, match=r"slug: .*reserved"):
        run("tenant", "create", "www", "--name", "x", "--admin-email", "a@b.test")
    with pytest.raises(CommandError, match="time_zone"):
        run(
            "tenant",
            "create",
            "okay-slug",
            "--name",
            "x",
            "--admin-email",
            "a@b.test",
            "--timezone",
            "Nowhere/Land",
        )
    with pytest.raises(CommandError, match="no tenant with slug 'ghost'"):
        run("tenant", "suspend", "ghost")
    with pytest.raises(CommandError, match="Only a suspended tenant can be resumed"):
        run("tenant", "resume", "acme")
    assert not Tenant.objects.filter(slug__in=["www", "okay-slug"]).exists()


def _staff(schema: str) -> list[tuple[str, str, list[str]]]:
    with schema_context(schema):
        return [
            (u.email, u.full_name, [g.name for g in u.groups.all()])
            for u in User.objects.prefetch_related("groups").order_by("email")
        ]


def _customers(schema: str) -> list[tuple[str, str, list[str], int]]:
    with schema_context(schema):
        return [
            (c.name, c.stage, list(c.phones.values_list("e164", flat=True)), c.orders.count())
            for c in Customer.objects.prefetch_related("phones").order_by("id")
        ]


def test_seed_demo_is_deterministic_and_safe_to_run_twice(committed_db):
    slugs = [f"seed-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    try:
        for slug in slugs:
            run("tenant", "create", slug, "--name", "Seed", "--admin-email", "o@seed.test")
            run("seed_demo", slug, "--seed", "7", "--customers", "300")
        first, second = (_staff(Tenant.objects.get(slug=s).schema_name) for s in slugs)
        assert first == second, "same seed, same data"
        customers = [_customers(Tenant.objects.get(slug=s).schema_name) for s in slugs]
        assert customers[0] == customers[1] and len(customers[0]) == 300

        output = run("seed_demo", slugs[0], "--seed", "7", "--customers", "300")
        assert "0 staff accounts created" in output
        assert "customers already seeded (300 in all)" in output
        assert _staff(Tenant.objects.get(slug=slugs[0]).schema_name) == first

        with schema_context(Tenant.objects.get(slug=slugs[0]).schema_name):
            email, _name, role = DEMO_LOGINS[1]
            manager = User.objects.get(email=email)
            assert manager.check_password(DEMO_PASSWORD)
            assert [g.name for g in manager.groups.all()] == [role]
            assert any("\u4e00" <= ch <= "\u9fff" for _e, n, _r in first for ch in n), "CJK names"
            assert not AuditEntry.objects.filter(table_name="customers_customer").exists()
            # Each demo customer prefers the language their name is written in.
            languages = dict(Customer.objects.values_list("name", "language"))
            assert set(languages.values()) == {"en", "zh-hans"}
            assert all((lang == "en") == name.isascii() for name, lang in languages.items())
            # Demo tickets were answered by people, not by "System".
            from support.models import TicketMessage

            answers = TicketMessage.objects.filter(kind__in=["reply", "note"])
            assert answers.exists() and not answers.filter(author__isnull=True).exists()
            # Every demo detractor opened its follow-up ticket, as an answer would.
            from support.models_feedback import SurveyResponse
            from support.models_saved_views import TicketSavedView

            assert TicketSavedView.objects.filter(shared=True).count() == 2
            detractors = SurveyResponse.objects.filter(detractor=True)
            assert detractors.exists()
            assert not detractors.filter(follow_up__isnull=True).exists()
    finally:
        for slug in slugs:
            run("tenant", "delete", slug, "--yes")


def test_seed_demo_refuses_unknown_or_closed_tenants(committed_db):
    with pytest.raises(CommandError, match="no tenant"):
        run("seed_demo", "ghost")
    with pytest.raises(CommandError, match="zero or more"):
        run("seed_demo", "acme", "--customers", "-1")
    Tenant.objects.filter(slug="acme").update(status=Tenant.Status.SUSPENDED)
    try:
        with pytest.raises(CommandError, match="is suspended, not ready"):
            run("seed_demo", "acme")
    finally:
        Tenant.objects.filter(slug="acme").update(status=Tenant.Status.READY)
