"""The tenant admin console: invitations, staff changes, roles, teams and what users can see."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from crm.accounts import services
from crm.accounts.models import Invitation, Team, User
from crm.accounts.permissions import record_scope, scope_filter
from crm.accounts.roles import PRESET_CAPABILITIES, PRESET_SCOPES
from crm.tenants.models import Tenant
from tests.conftest import client_for
from tests.testkit.smtp import first_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    return smtp_server


def _invite(client, email, role="Agent", teams=()):
    with schema_context("t_acme"):
        role_id = Group.objects.get(name=role).pk
    return client.post(
        reverse("admin_console:staff_invite"),
        {"email": email, "full_name": "", "role": role_id, "teams": list(teams)},
    )


class TestInvitations:
    def test_an_invited_person_accepts_by_email_and_is_signed_in_with_the_role(
        self, acme, real_smtp, django_capture_on_commit_callbacks
    ):
        with schema_context(acme.schema):
            team = Team.objects.create(name="Shanghai store")
        admin = client_for(acme, "admin")
        with django_capture_on_commit_callbacks(execute=True):
            response = _invite(admin, "New.Hire@Example.com", teams=[team.pk])
        assert response.status_code == 302

        link = first_link(real_smtp.wait_for("new.hire@example.com"))
        assert link.startswith("http://acme.localhost:8000/invitation/")
        path = link.removeprefix("http://acme.localhost:8000")

        newcomer = client_for(acme)
        form = newcomer.get(path)
        assert "You will sign in as new.hire@example.com" in form.content.decode()
        weak = newcomer.post(
            path, {"full_name": "赵敏", "password1": "short", "password2": "short"}
        )
        assert "at least 10 characters" in weak.content.decode()
        done = newcomer.post(
            path,
            {"full_name": "赵敏", "password1": "a-fine-password", "password2": "a-fine-password"},
        )
        assert done.status_code == 302 and done.url == "/"
        assert "赵敏" in newcomer.get("/").content.decode()
        with schema_context(acme.schema):
            user = User.objects.get(email="new.hire@example.com")
            assert [g.name for g in user.groups.all()] == ["Agent"]
            assert list(user.teams.all()) == [team]
            assert Invitation.objects.get(email="new.hire@example.com").accepted_at

        again = client_for(acme).get(path)
        assert again.status_code == 404, "the link works once"
        assert "no longer works" in again.content.decode()

    def test_expired_and_revoked_links_do_not_work(self, acme):
        with schema_context(acme.schema):
            admin = User.objects.get(pk=acme.admin.pk)
            viewer_role = Group.objects.get(name="Viewer")
            expired, expired_token = services.invitation_create(
                actor=admin, email="late@example.com", full_name="", role=viewer_role, teams=[]
            )
            Invitation.objects.filter(pk=expired.pk).update(
                expires_at=timezone.now() - datetime.timedelta(minutes=1)
            )
            revoked, revoked_token = services.invitation_create(
                actor=admin, email="gone@example.com", full_name="", role=viewer_role, teams=[]
            )
            services.invitation_revoke(actor=admin, invitation=revoked)
        for token in (expired_token, revoked_token, "made-up-token"):
            response = client_for(acme).post(
                f"/invitation/{token}/",
                {"full_name": "X", "password1": "a-fine-password", "password2": "a-fine-password"},
            )
            assert response.status_code == 404
        with schema_context(acme.schema):
            assert not User.objects.filter(
                email__in=["late@example.com", "gone@example.com"]
            ).exists()

    def test_the_plan_staff_limit_refuses_more_invitations(self, acme):
        with schema_context(acme.schema):
            used = services.staff_seats_used()
        Tenant.objects.filter(slug="acme").update(staff_limit=used)
        response = _invite(client_for(acme, "admin"), "one-too-many@example.com")
        assert response.status_code == 200
        assert "Your plan allows" in response.content.decode()
        with schema_context(acme.schema):
            assert not Invitation.objects.filter(email="one-too-many@example.com").exists()

    def test_an_existing_account_or_open_invitation_is_explained(self, acme):
        admin = client_for(acme, "admin")
        taken = _invite(admin, acme.email("viewer"))
        assert "already has an account" in taken.content.decode()
        _invite(admin, "twice@example.com")
        second = _invite(admin, "TWICE@example.com")
        assert "already has an open invitation" in second.content.decode()


class TestStaffChanges:
    def test_deactivating_signs_the_person_out_at_once(self, acme):
        agent = client_for(acme, "agent")
        assert agent.get("/").status_code == 200
        session_key = agent.cookies["sessionid"].value
        response = client_for(acme, "admin").post(
            reverse("admin_console:staff_deactivate", args=[acme.agent.pk])
        )
        assert response.status_code == 302
        assert agent.get("/").status_code == 302, "the open session no longer works"
        with schema_context(acme.schema):
            assert not User.objects.get(pk=acme.agent.pk).is_active
            remaining = [
                s
                for s in Session.objects.all()
                if s.get_decoded().get("_auth_user_id") == str(acme.agent.pk)
            ]
            assert remaining == []
            # Sessions are read through the cache (cached_db): the cached copy is gone too.
            assert cache.get(f"django.contrib.sessions.cached_db{session_key}") is None

        client_for(acme, "admin").post(
            reverse("admin_console:staff_reactivate", args=[acme.agent.pk])
        )
        with schema_context(acme.schema):
            assert User.objects.get(pk=acme.agent.pk).is_active

    def test_nobody_removes_the_last_administrator(self, acme):
        admin = client_for(acme, "admin")
        own = admin.post(
            reverse("admin_console:staff_deactivate", args=[acme.admin.pk]), follow=True
        )
        assert "cannot deactivate your own account" in own.content.decode()
        with schema_context(acme.schema):
            owner = User.objects.get(email="owner@acme.test")
            services.staff_deactivate(actor=User.objects.get(pk=acme.admin.pk), user=owner)
            viewer_role = Group.objects.get(name="Viewer")
        demote = admin.post(
            reverse("admin_console:staff_edit", args=[acme.admin.pk]),
            {"full_name": "acme admin", "role": viewer_role.pk},
        )
        assert "last active administrator" in demote.content.decode()
        with schema_context(acme.schema):
            assert User.objects.get(pk=acme.admin.pk).is_tenant_admin

    def test_changing_role_and_teams(self, acme):
        with schema_context(acme.schema):
            team = Team.objects.create(name="VIP desk")
            manager_role = Group.objects.get(name="Manager")
        response = client_for(acme, "admin").post(
            reverse("admin_console:staff_edit", args=[acme.viewer.pk]),
            {"full_name": "Promoted Viewer", "role": manager_role.pk, "teams": [team.pk]},
        )
        assert response.status_code == 302
        with schema_context(acme.schema):
            user = User.objects.get(pk=acme.viewer.pk)
            assert (user.full_name, [g.name for g in user.groups.all()]) == (
                "Promoted Viewer",
                ["Manager"],
            )
            assert list(user.teams.all()) == [team]
            assert user.has_perm(cap.perm(cap.EXPORT))


class TestRolesAndTeams:
    def test_the_matrix_shows_presets_and_a_custom_role(self, acme):
        admin = client_for(acme, "admin")
        created = admin.post(
            reverse("admin_console:role_new"),
            {
                "name": "Store lead",
                "description": "Runs one store",
                "scope": "team",
                "capabilities": [cap.VIEW, cap.EXPORT, cap.PERSONAL_DATA],
            },
        )
        assert created.status_code == 302
        page = admin.get(reverse("admin_console:role_list")).content.decode()
        for text in ("Store lead", "Runs one store", "Manager", "See personal data"):
            assert text in page
        with schema_context(acme.schema):
            role = Group.objects.get(name="Store lead")
            assert set(role.permissions.values_list("codename", flat=True)) == {
                cap.VIEW,
                cap.EXPORT,
                cap.PERSONAL_DATA,
            }
            assert role.profile.scope == "team"

    def test_presets_are_fixed_and_roles_in_use_stay(self, acme):
        admin = client_for(acme, "admin")
        with schema_context(acme.schema):
            viewer = Group.objects.get(name="Viewer")
            custom = services.role_create(
                actor=None, name="Temp", description="", scope="own", codenames=[cap.VIEW]
            )
            User.objects.get(pk=acme.agent.pk).groups.add(custom)
        edit = admin.get(reverse("admin_console:role_edit", args=[viewer.pk]), follow=True)
        assert "Preset roles cannot be changed" in edit.content.decode()
        delete = admin.post(reverse("admin_console:role_delete", args=[custom.pk]), follow=True)
        assert "Move its members" in delete.content.decode()
        with schema_context(acme.schema):
            assert Group.objects.filter(pk=custom.pk).exists()

    def test_team_names_are_unique_regardless_of_case(self, acme):
        admin = client_for(acme, "admin")
        admin.post(reverse("admin_console:team_list"), {"name": "Returns"})
        again = admin.post(reverse("admin_console:team_list"), {"name": "RETURNS"})
        assert "A team with this name exists." in again.content.decode()
        with schema_context(acme.schema):
            assert Team.objects.filter(name__iexact="returns").count() == 1


class TestWhatAUserCanSee:
    def test_a_viewer_sees_records_with_personal_data_masked(self, acme):
        page = (
            client_for(acme, "admin")
            .get(reverse("admin_console:staff_access", args=[acme.viewer.pk]))
            .content.decode()
        )
        assert "Phone numbers, Email addresses, Birthdays, Addresses" in page
        assert "All customers and tickets" in page

    def test_an_agent_sees_their_teams_records_unmasked(self, acme):
        page = (
            client_for(acme, "admin")
            .get(reverse("admin_console:staff_access", args=[acme.agent.pk]))
            .content.decode()
        )
        assert "None: sees personal data unmasked." in page
        assert "owned by the user or the user&#x27;s teams" in page
        assert "in no team yet, so only their own" in page

    def test_scope_filters_a_real_queryset(self, acme):
        with schema_context(acme.schema):
            agent = User.objects.get(pk=acme.agent.pk)
            mate = User.objects.get(pk=acme.viewer.pk)
            team = Team.objects.create(name="Night shift")
            team.members.set([agent, mate])
            assert record_scope(agent) == "team"
            visible = User.objects.filter(scope_filter(agent, owner_field="pk", team_field="teams"))
            assert set(visible) == {agent, mate}
            admin = User.objects.get(pk=acme.admin.pk)
            assert (
                User.objects.filter(scope_filter(admin, owner_field="pk")).count()
                == User.objects.count()
            )


def test_the_preset_matrix_in_each_tenant_is_the_documented_one(acme, globex):
    for member in (acme, globex):
        with schema_context(member.schema):
            for name, codenames in PRESET_CAPABILITIES.items():
                group = Group.objects.select_related("profile").get(name=name)
                assert set(group.permissions.values_list("codename", flat=True)) == set(codenames)
                assert group.profile.scope == PRESET_SCOPES[name] and group.profile.is_preset
