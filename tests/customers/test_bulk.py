"""Bulk actions on the customer list, exports of a selection, and saved views."""

import csv
import io

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from customers.models import Customer, SavedView
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(acme):
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        made = [
            customer_create(
                actor=None,
                data=CustomerInput(
                    name=name, phones=[phone], emails=[email], owner=owner, tags=tags
                ),
            )
            for name, phone, email, owner, tags in [
                ("=cmd|' /C calc'!A0", "13800000001", "a@x.cn", agent, []),
                ("李四", "13800000002", "b@x.cn", agent, ["vip"]),
                ("王五", "13800000003", "c@x.cn", None, ["vip"]),
            ]
        ]
    return made


def _post(client, ids, **data):
    return client.post(reverse("customers:bulk"), {"ids": [c.pk for c in ids], **data})


def test_tagging_untagging_and_reassigning_many_at_once_is_audited_row_by_row(acme, three):
    manager = client_for(acme, "manager")
    assert _post(manager, three, action="tag", tag="春节").status_code == 302
    _post(manager, three, action="untag", tag="vip")
    _post(manager, three[:2], action="assign", owner=acme.manager.pk)
    with schema_context(acme.schema):
        rows = {c.name: c for c in Customer.objects.filter(pk__in=[c.pk for c in three])}
        assert all(c.tags == ["春节"] for c in rows.values())
        assert rows["李四"].owner_id == acme.manager.pk and rows["王五"].owner_id is None
        updates = AuditEntry.objects.filter(table_name="customers_customer", action="update")
        assert updates.filter(actor_id=acme.manager.pk).count() == 3 + 2 + 2


def test_an_agent_only_changes_customers_in_scope(acme, three):
    _post(client_for(acme, "agent"), three, action="tag", tag="mine")
    with schema_context(acme.schema):
        tagged = set(
            Customer.objects.filter(tags__contains=["mine"]).values_list("name", flat=True)
        )
    assert tagged == {"=cmd|' /C calc'!A0", "李四"}, "王五 is not the agent's"


def test_refusals_change_nothing(acme, three):
    for role in ("viewer", "marketing"):
        assert _post(client_for(acme, role), three, action="tag", tag="x").status_code == 403
    response = _post(client_for(acme, "manager"), three, action="tag", tag="")
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Type the tag." in messages
    response = _post(client_for(acme, "manager"), [], action="tag", tag="x")
    assert "Tick at least one customer." in [str(m) for m in response.wsgi_request._messages]
    with schema_context(acme.schema):
        assert not Customer.objects.filter(tags__contains=["x"]).exists()


def test_exporting_a_selection_masks_for_marketing_and_escapes_formulas(acme, three):
    response = _post(client_for(acme, "marketing"), three, action="export")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["'=cmd|' /C calc'!A0", "李四", "王五"]
    assert all("13800000" not in r["phones"] and "@x.cn" not in r["emails"] for r in rows)
    manager = b"".join(_post(client_for(acme, "manager"), three, action="export").streaming_content)
    # The same columns as the list's export (importable back); "+" starts a formula: escaped.
    assert "'+8613800000001" in manager.decode("utf-8-sig")
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(action="export").first()
        assert entry.detail == {"customers": 3, "selection": True}


def test_saved_views_are_personal(acme, three):
    manager = client_for(acme, "manager")
    manager.post(reverse("customers:view_save"), {"name": "VIPs", "query": "tag=vip"})
    page = manager.get(reverse("customers:home")).content.decode()
    assert 'href="?tag=vip"' in page and "VIPs" in page
    with schema_context(acme.schema):
        view = SavedView.objects.get(name="VIPs")
    viewer = client_for(acme, "viewer")
    assert "VIPs" not in viewer.get(reverse("customers:home")).content.decode()
    assert viewer.post(reverse("customers:view_delete", args=[view.pk])).status_code == 404
    assert manager.post(reverse("customers:view_delete", args=[view.pk])).status_code == 302
    with schema_context(acme.schema):
        assert not SavedView.objects.filter(pk=view.pk).exists()


def _bulk_bar(page: str) -> tuple[list[str], list[str]] | None:
    """(actions offered, owner dropdown's options) of the list's bulk bar, None without one."""
    import re

    bar = re.search(r'<fieldset class="bulk-bar">(.*?)</fieldset>', page, re.S)
    if bar is None:
        return None
    actions = re.search(r'<select name="action">(.*?)</select>', bar.group(1), re.S)
    owner = re.search(r'<select name="owner" id="bulk-owner">(.*?)</select>', bar.group(1), re.S)
    options = re.compile(r'<option value="([^"]*)"')
    return (
        options.findall(actions.group(1)) if actions else [],
        options.findall(owner.group(1)) if owner else [],
    )


def test_the_bulk_bar_offers_what_each_role_may_do(acme, three):
    with schema_context(acme.schema):
        active = {
            str(pk) for pk in User.objects.filter(is_active=True).values_list("pk", flat=True)
        }
        User.objects.filter(pk=acme.admin.pk).update(is_active=False)
    pages = {
        role: client_for(acme, role).get(reverse("customers:home")).content.decode()
        for role in ("manager", "agent", "marketing", "viewer")
    }
    manager_bar = _bulk_bar(pages["manager"])
    assert manager_bar is not None
    manager_actions, owners = manager_bar
    assert manager_actions == ["tag", "untag", "assign", "export"]
    # Active staff only, after "Choose…"; the search form's owner filter keeps its own id.
    assert owners[0] == "" and set(owners[1:]) == active - {str(acme.admin.pk)}
    assert pages["manager"].count('id="bulk-owner"') == 1
    assert (_bulk_bar(pages["agent"]) or ([], []))[0] == ["tag", "untag", "assign"]
    assert _bulk_bar(pages["marketing"]) == (["export"], [])  # no owner to assign
    assert _bulk_bar(pages["viewer"]) is None
    assert 'name="ids"' not in pages["viewer"]
