"""Saved views of the queues: an agent saves the current queue and filters under a name, opens,
renames and deletes their own; managers may share one with everyone; nobody changes another's.
The queue page reads them in its reference query (no query of their own)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import QueryDict
from django.urls import reverse

from support.models import TicketSavedView
from support.saved_view_services import ticket_view_delete, ticket_view_rename, ticket_view_save
from tests.conftest import client_for
from tests.tickets.factory import in_tenant, staff, ticket

pytestmark = pytest.mark.django_db

HOME = reverse("support:home")


def _save(browser, name, query, shared=False):  # type: ignore[no-untyped-def]
    data = {"name": name, "query": query}
    if shared:
        data["shared"] = "on"
    return browser.post(reverse("support:view_save"), data)


def test_an_agent_saves_opens_renames_and_deletes_a_view(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        urgent = ticket(assignee=agent, priority="urgent")
        calm = ticket(assignee=agent, priority="low")
    browser = client_for(acme, "agent")
    page = browser.get(HOME).content.decode()
    assert "No saved views yet" in page
    # The page offers its own queue and filter (without the cursor) to save.
    page = browser.get(HOME + "?queue=all&priority=urgent&after=abc").content.decode()
    assert 'name="query" value="queue=all&amp;priority=urgent"' in page
    response = _save(browser, "Urgent 急", "queue=all&priority=urgent&after=abc&evil=1")
    assert response.status_code == 302 and response.url == HOME + "?queue=all&priority=urgent"
    with in_tenant(acme):
        view = TicketSavedView.objects.get(user=agent)
        assert (view.name, view.shared) == ("Urgent 急", False)
        assert view.query == "queue=all&priority=urgent"
    page = browser.get(HOME).content.decode()
    assert f'href="?{view.query}"'.replace("&", "&amp;") in page and "Urgent 急" in page
    opened = browser.get(HOME + "?" + view.query).content.decode()
    assert urgent.reference in opened and calm.reference not in opened
    # Saving under the same name overwrites it.
    _save(browser, "Urgent 急", "queue=mine&priority=low")
    with in_tenant(acme):
        assert TicketSavedView.objects.get(pk=view.pk).query == "queue=mine&priority=low"
    response = browser.post(reverse("support:view_rename", args=[view.pk]), {"name": "Low"})
    assert response.status_code == 302
    with in_tenant(acme):
        assert TicketSavedView.objects.get(pk=view.pk).name == "Low"
    assert browser.post(reverse("support:view_delete", args=[view.pk])).status_code == 302
    with in_tenant(acme):
        assert not TicketSavedView.objects.filter(pk=view.pk).exists()


def test_only_managers_share_and_nobody_changes_anothers_view(acme):
    manager_browser, agent_browser = client_for(acme, "manager"), client_for(acme, "agent")
    _save(manager_browser, "Team urgent", "queue=all&priority=urgent", shared=True)
    _save(agent_browser, "Mine", "queue=mine")
    # An agent cannot share: refused, nothing saved.
    _save(agent_browser, "Everyone's", "queue=all", shared=True)
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        shared = TicketSavedView.objects.get(user=manager, name="Team urgent")
        mine = TicketSavedView.objects.get(user=agent, name="Mine")
        assert shared.shared and not TicketSavedView.objects.filter(name="Everyone's").exists()
    agent_page = agent_browser.get(HOME).content.decode()
    viewer_page = client_for(acme, "viewer").get(HOME).content.decode()
    manager_page = manager_browser.get(HOME).content.decode()
    # The shared view is listed for everyone, a personal one for its owner only.
    assert "Team urgent" in agent_page and "Team urgent" in viewer_page
    assert "Mine" in agent_page and ">Mine<" not in manager_page
    # Only the owner renames or deletes: anyone else gets a 404, and nothing changes.
    assert f'action="{reverse("support:view_delete", args=[shared.pk])}"' not in agent_page
    assert agent_browser.post(reverse("support:view_delete", args=[shared.pk])).status_code == 404
    response = agent_browser.post(reverse("support:view_rename", args=[shared.pk]), {"name": "x"})
    assert response.status_code == 404
    assert manager_browser.post(reverse("support:view_delete", args=[mine.pk])).status_code == 404
    with in_tenant(acme):
        assert TicketSavedView.objects.get(pk=shared.pk).name == "Team urgent"
        assert TicketSavedView.objects.filter(pk=mine.pk).exists()
        # The services refuse the same way, whoever calls them.
        with pytest.raises(PermissionDenied):
            ticket_view_delete(actor=agent, view=shared)
        with pytest.raises(PermissionDenied):
            ticket_view_rename(actor=agent, view=shared, name="Hijacked")
        with pytest.raises(ValidationError):
            ticket_view_save(actor=agent, name="Shared", query=QueryDict("queue=all"), shared=True)
        with pytest.raises(ValidationError):
            ticket_view_save(actor=agent, name="  ", query=QueryDict("queue=all"))
        ticket_view_save(actor=agent, name="Other", query=QueryDict("queue=all"))
        with pytest.raises(ValidationError):
            ticket_view_rename(actor=agent, view=mine, name="Other")
        assert TicketSavedView.objects.get(pk=mine.pk).name == "Mine"


def test_a_manager_deletes_a_shared_view_someone_else_made(acme):
    """A shared view is everyone's to see, so those who configure support may remove one that is
    not theirs (its owner left); a personal view stays its owner's alone."""
    admin_browser, manager_browser = client_for(acme, "admin"), client_for(acme, "manager")
    agent_browser = client_for(acme, "agent")
    _save(admin_browser, "Admin's shared", "queue=all&priority=high", shared=True)
    _save(admin_browser, "Admin's own", "queue=mine")
    with in_tenant(acme):
        admin = staff(acme, "admin")
        shared = TicketSavedView.objects.get(user=admin, name="Admin's shared")
        own = TicketSavedView.objects.get(user=admin, name="Admin's own")
    delete_shared = reverse("support:view_delete", args=[shared.pk])
    assert f'action="{delete_shared}"' in manager_browser.get(HOME).content.decode()
    assert f'action="{delete_shared}"' not in agent_browser.get(HOME).content.decode()
    assert agent_browser.post(delete_shared).status_code == 404
    assert manager_browser.post(reverse("support:view_delete", args=[own.pk])).status_code == 404
    with in_tenant(acme):
        assert TicketSavedView.objects.filter(pk__in=[shared.pk, own.pk]).count() == 2
    assert manager_browser.post(delete_shared).status_code == 302
    with in_tenant(acme):
        assert not TicketSavedView.objects.filter(pk=shared.pk).exists()
        assert TicketSavedView.objects.filter(pk=own.pk).exists()
