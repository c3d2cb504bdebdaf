"""Staff sign in, out, switch language and reset a forgotten password."""

import pytest
from django.conf import settings
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from tests.conftest import client_for
from tests.testkit.cast import PASSWORD
from tests.testkit.smtp import body_text, first_link

pytestmark = pytest.mark.django_db


def test_staff_log_in_with_their_email_in_any_case_and_land_on_home(acme):
    client = client_for(acme)
    response = client.post(
        "/login/", {"username": "  AGENT@Acme.TEST ", "password": PASSWORD}, follow=True
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/"
    assert "Welcome, acme" in page
    for section in ("Customers", "Support", "Loyalty", "Analytics"):
        assert section in page
    assert 'href="/admin-console/staff/"' not in page, "agents do not see Admin"


def test_admins_see_the_admin_section(acme):
    page = client_for(acme, "admin").get("/").content.decode()
    assert 'href="/admin-console/staff/"' in page


def test_a_wrong_password_says_so_and_logs_nobody_in(acme):
    client = client_for(acme)
    response = client.post("/login/", {"username": acme.email("agent"), "password": "nope"})
    assert response.status_code == 200
    assert "do not match an active account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_deactivated_staff_cannot_log_in(acme):
    with schema_context(acme.schema):
        User.objects.filter(pk=acme.agent.pk).update(is_active=False)
    client = client_for(acme)
    client.post("/login/", {"username": acme.email("agent"), "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_logging_out_ends_the_session(acme):
    client = client_for(acme, "viewer")
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405, "logout is a POST, not a link"
    response = client.post("/logout/")
    assert response.url == "/login/"
    assert client.get("/").status_code == 302


def test_section_pages_show_their_empty_states(acme):
    client = client_for(acme, "viewer")
    expectations = {
        "customers:home": "No customers yet",
        "support:home": "Nothing is assigned to you",
        "loyalty:home": "are on their page, in the Points tab",
        "analytics:home": "No dashboards for your role",  # dashboards need "See reports"
    }
    for name, text in expectations.items():
        page = client.get(reverse(name)).content.decode()
        assert text in page, name
        assert 'aria-current="page"' in page


def test_the_staff_list_shows_roles_and_status(acme):
    page = client_for(acme, "admin").get("/admin-console/staff/").content.decode()
    for role in ("admin", "manager", "agent", "marketing", "viewer"):
        assert acme.email(role) in page
    assert "Manager" in page and "Viewer" in page


class TestLanguage:
    def test_the_workspace_language_is_the_default(self, globex, acme):
        assert "登录" in client_for(globex).get("/login/").content.decode()
        assert "Log in" in client_for(acme).get("/login/").content.decode()

    def test_switching_sets_a_cookie_and_remembers_the_choice(self, acme):
        client = client_for(acme, "manager")
        response = client.post("/language/", {"language": "zh-hans", "next": "/customers/"})
        assert response.status_code == 302 and response.url == "/customers/"
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
        page = client.get("/customers/").content.decode()
        assert ">客户</a>" in page
        assert '<html lang="zh-hans"' in page
        with schema_context(acme.schema):
            assert User.objects.get(pk=acme.manager.pk).language == "zh-hans"

        # On another browser (no cookie) the saved choice still applies after logging in.
        other = client_for(acme, "manager")
        assert '<html lang="zh-hans"' in other.get("/").content.decode()

    def test_unknown_languages_and_foreign_redirects_are_ignored(self, acme):
        client = client_for(acme, "manager")
        response = client.post("/language/", {"language": "xx", "next": "https://evil.example/"})
        assert response.url == "/"
        assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


class TestPasswordReset:
    @pytest.fixture(autouse=True)
    def _real_smtp(self, settings, smtp_server):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port

    def test_a_forgotten_password_is_reset_through_an_emailed_link(self, acme, smtp_server):
        client = client_for(acme)
        response = client.post("/password-reset/", {"email": acme.email("viewer")})
        assert response.url == "/password-reset/sent/"

        message = smtp_server.wait_for(acme.email("viewer"))
        link = first_link(message)
        assert link.startswith("http://acme.localhost/password-reset/")
        assert acme.email("viewer") in body_text(message)

        form = client.get(link.removeprefix("http://acme.localhost"), follow=True)
        assert form.context["validlink"] is True
        set_url = form.redirect_chain[-1][0]
        short = client.post(set_url, {"new_password1": "short", "new_password2": "short"})
        assert "at least 10 characters" in short.content.decode()
        done = client.post(
            set_url, {"new_password1": "a-brand-new-pass", "new_password2": "a-brand-new-pass"}
        )
        assert done.url == "/password-reset/done/"

        login = client_for(acme).post(
            "/login/", {"username": acme.email("viewer"), "password": "a-brand-new-pass"}
        )
        assert login.url == "/"

        reused = client_for(acme).get(link.removeprefix("http://acme.localhost"), follow=True)
        assert reused.context["validlink"] is False, "the link works once"

    def test_unknown_addresses_get_the_same_answer_and_no_email(self, acme, smtp_server):
        response = client_for(acme).post("/password-reset/", {"email": "nobody@acme.test"})
        assert response.url == "/password-reset/sent/"
        assert smtp_server.messages_to("nobody@acme.test") == []

    def test_another_tenants_staff_get_no_email(self, acme, globex, smtp_server):
        client_for(globex).post("/password-reset/", {"email": acme.email("manager")})
        assert smtp_server.messages_to(acme.email("manager")) == []
