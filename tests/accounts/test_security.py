"""Sign-in security: lockout after repeated failures, two-factor sign-in with recovery codes,
who must use it, and the administrator's unlock and reset."""

import base64
import re

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from crm.accounts import roles, security
from crm.accounts.models import AuditEntry, User
from crm.accounts.services import staff_create
from crm.tenants.models import Tenant
from tests.conftest import client_for
from tests.isolation.cases import TENANT_CASES
from tests.testkit.cast import PASSWORD
from tests.testkit.otp import authenticator_for, totp_code, verify_session

pytestmark = pytest.mark.django_db

LOCKED = 429


def _sign_in(client: Client, email: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return client.post("/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def _lock_out(member, email: str, ip: str = "10.0.0.1"):
    """Five wrong passwords, in varying letter case: they all count against one email."""
    responses = [
        _sign_in(client_for(member), spelling, "wrong-password", ip)
        for spelling in (email, email.upper(), f"  {email} ", email.title(), email)
    ]
    for response in responses[:-1]:
        assert response.status_code == 200
        assert "do not match an active account" in response.content.decode()
    return responses[-1]


def _user(member, role: str) -> User:
    return User.objects.get(pk=member.users[role].pk)


# --- lockout ------------------------------------------------------------------------------


class TestLockout:
    def test_five_failures_lock_the_email_from_that_address_with_a_clear_message(self, acme):
        fifth = _lock_out(acme, acme.email("agent"))
        assert fifth.status_code == LOCKED
        page = fifth.content.decode()
        assert "After 5 failed attempts, signing in as agent@acme.test" in page
        assert "Try again in 15 minutes" in page
        assert "Ask an administrator of your workspace to unlock" in page

        client = client_for(acme)
        refused = _sign_in(client, acme.email("agent"))
        assert refused.status_code == LOCKED, "even the right password is refused"
        assert "Sign-in locked for now" in refused.content.decode()
        assert "_auth_user_id" not in client.session

    def test_another_address_and_another_tenant_are_not_locked(self, acme, globex):
        email = acme.email("agent")
        assert _lock_out(acme, email).status_code == LOCKED

        other_ip = _sign_in(client_for(acme), email, ip="10.0.0.2")
        assert other_ip.status_code == 302 and other_ip.url == "/"

        # The same person also works for globex, with an account of the same address there.
        with schema_context(globex.schema):
            staff_create(
                actor=None,
                email=email,
                full_name="Moonlighter",
                role=roles.AGENT,
                password=PASSWORD,
            )
        elsewhere = _sign_in(client_for(globex), email)
        assert elsewhere.status_code == 302 and elsewhere.url == "/"
        with schema_context(globex.schema):
            assert not AccessAttempt.objects.filter(username=email).exists()
        with schema_context(acme.schema):
            assert AccessAttempt.objects.filter(username=email, ip_address="10.0.0.1").exists()

    def test_a_successful_sign_in_clears_earlier_failures(self, acme):
        email = acme.email("viewer")
        for _ in range(4):
            _sign_in(client_for(acme), email, "wrong-password")
        assert _sign_in(client_for(acme), email).status_code == 302
        assert _sign_in(client_for(acme), email, "wrong-password").status_code == 200

    def test_an_admin_unlocks_and_others_may_not(self, acme):
        email = acme.email("viewer")
        _lock_out(acme, email)
        manager = client_for(acme, "manager")
        assert manager.get("/admin-console/security/").status_code == 403
        unlock_url = reverse("accounts:security_unlock", kwargs={"email": email})
        assert manager.post(unlock_url).status_code == 403
        assert _sign_in(client_for(acme), email).status_code == LOCKED

        admin = client_for(acme, "admin")
        page = admin.get("/admin-console/security/").content.decode()
        assert email in page and "10.0.0.1" in page and "Unlock" in page
        response = admin.post(unlock_url, follow=True)
        assert f"{email} can sign in again." in response.content.decode()
        assert "Nobody is locked out." in response.content.decode()
        assert _sign_in(client_for(acme), email).status_code == 302
        with schema_context(acme.schema):
            entry = AuditEntry.objects.filter(action="lockout_cleared").get()
            assert entry.actor_id == acme.admin.pk and entry.detail == {"email": email}

        assert admin.post(unlock_url).status_code == 404, "nothing left to unlock"


# --- two-factor sign-in -------------------------------------------------------------------


def _codes(page: str) -> list[str]:
    return re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", page)


def _password_sign_in(member, role: str) -> Client:
    client = client_for(member)
    assert _sign_in(client, member.email(role)).status_code == 302
    return client


class TestTwoFactor:
    def test_enrolment_confirms_with_a_real_code_and_shows_recovery_codes_once(self, acme):
        client = client_for(acme, "viewer")
        setup = client.get("/two-factor/")
        page = setup.content.decode()
        assert setup.status_code == 200
        assert 'src="data:image/svg+xml;base64,' in page
        assert "no-store" in setup.headers["Cache-Control"]
        secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1)
        with schema_context(acme.schema):
            device = TOTPDevice.objects.get(user_id=acme.viewer.pk, confirmed=False)
            assert base64.b32decode(secret.replace(" ", "")) == device.bin_key
            assert client.get("/two-factor/").content.decode().count(secret) == 1, "same key"

        wrong = client.post("/two-factor/", {"code": "000000"})
        assert "That code does not match" in wrong.content.decode()
        with schema_context(acme.schema):
            code = totp_code(device)
        shown = client.post("/two-factor/", {"code": code, "next": "/customers/"})
        codes = _codes(shown.content.decode())
        assert len(codes) == 10 and len(set(codes)) == 10
        assert "no-store" in shown.headers["Cache-Control"]
        assert 'href="/customers/"' in shown.content.decode()
        with schema_context(acme.schema):
            assert security.has_two_factor(_user(acme, "viewer"))
            assert security.recovery_codes_left(_user(acme, "viewer")) == 10
        assert client.get("/customers/").status_code == 200, "this session is verified"

        status = client.get("/two-factor/").content.decode()
        assert "You have 10 unused recovery codes." in status
        assert not _codes(status), "recovery codes are shown once"

    def test_the_next_sign_in_asks_for_the_code(self, acme):
        with schema_context(acme.schema):
            device = authenticator_for(_user(acme, "viewer"))
        client = _password_sign_in(acme, "viewer")
        assert client.get("/").url == "/two-factor/verify/"
        response = client.get("/customers/")
        assert response.url == "/two-factor/verify/?next=%2Fcustomers%2F"
        assert client.get("/two-factor/").url.startswith("/two-factor/verify/")

        page = client.get(response.url).content.decode()
        assert "Enter your sign-in code" in page
        wrong = client.post("/two-factor/verify/", {"code": "123456", "next": "/customers/"})
        assert "not right, or it was already used" in wrong.content.decode()
        with schema_context(acme.schema):
            code = totp_code(device)
            # As after a few wrong codes in a row: django-otp makes the next try wait.
            TOTPDevice.objects.filter(pk=device.pk).update(
                throttling_failure_count=4, throttling_failure_timestamp=timezone.now()
            )
        throttled = client.post("/two-factor/verify/", {"code": code, "next": "/customers/"})
        assert "Too many wrong codes" in throttled.content.decode()

        with schema_context(acme.schema):
            TOTPDevice.objects.filter(pk=device.pk).update(
                throttling_failure_timestamp=timezone.now() - timezone.timedelta(minutes=5)
            )
        verified = client.post("/two-factor/verify/", {"code": code, "next": "/customers/"})
        assert verified.status_code == 302 and verified.url == "/customers/"
        assert client.get("/customers/").status_code == 200

        replay = _password_sign_in(acme, "viewer")
        again = replay.post("/two-factor/verify/", {"code": code})
        assert "already used" in again.content.decode(), "a code works once"

    def test_a_recovery_code_works_once(self, acme):
        with schema_context(acme.schema):
            user = _user(acme, "agent")
            authenticator_for(user)
            codes = security.recovery_codes_renew(user=user)
        typed = f"{codes[0][:4].upper()}-{codes[0][4:].upper()}"

        client = _password_sign_in(acme, "agent")
        response = client.post("/two-factor/verify/", {"code": typed})
        assert response.status_code == 302 and response.url == "/"
        assert client.get("/").status_code == 200
        with schema_context(acme.schema):
            assert security.recovery_codes_left(user) == 9

        again = _password_sign_in(acme, "agent").post("/two-factor/verify/", {"code": typed})
        assert again.status_code == 200
        assert "already used" in again.content.decode()

    def test_new_recovery_codes_replace_the_old_ones(self, acme):
        client = client_for(acme, "admin")
        with schema_context(acme.schema):
            old = security.recovery_codes_renew(user=_user(acme, "admin"))
        new = _codes(client.post("/two-factor/recovery-codes/").content.decode())
        assert len(new) == 10
        with schema_context(acme.schema):
            admin = _user(acme, "admin")
            assert security.recovery_codes_left(admin) == 10
            assert security.two_factor_verify(user=admin, code=new[0]).device is not None
            assert security.two_factor_verify(user=admin, code=old[0]).device is None

    def test_an_admin_resets_someone_elses_two_factor(self, acme):
        with schema_context(acme.schema):
            colleague = staff_create(
                actor=None,
                email="second-admin@acme.test",
                full_name="Second",
                role=roles.ADMIN,
                password=None,
            )
            authenticator_for(colleague)
            security.recovery_codes_renew(user=colleague)
            colleague_client = Client(HTTP_HOST=acme.host)
            colleague_client.force_login(colleague)
            verify_session(colleague_client, colleague)
        assert colleague_client.get("/").status_code == 200

        url = reverse("accounts:security_two_factor_reset", kwargs={"user_id": colleague.pk})
        assert client_for(acme, "manager").post(url).status_code == 403
        with schema_context(acme.schema):
            assert TOTPDevice.objects.filter(user=colleague).exists()

        admin = client_for(acme, "admin")
        assert "Reset two-factor" in admin.get("/admin-console/security/").content.decode()
        response = admin.post(url, follow=True)
        assert "Two-factor sign-in of Second is reset." in response.content.decode()
        with schema_context(acme.schema):
            assert not TOTPDevice.objects.filter(user=colleague).exists()
            assert not StaticDevice.objects.filter(user=colleague).exists()
            assert AuditEntry.objects.filter(
                action="two_factor_reset", record_id=str(colleague.pk)
            ).exists()
        # Their session is no longer verified, and as an admin they must enrol again.
        assert colleague_client.get("/").url == "/two-factor/"


# --- who must use it ----------------------------------------------------------------------


def _unverified(member, role: str) -> Client:
    client = Client(HTTP_HOST=member.host)
    with schema_context(member.schema):
        client.force_login(_user(member, role))
    return client


OWN_TWO_FACTOR_PAGES = {"accounts:two_factor_setup", "accounts:two_factor_verify"}


class TestEnforcement:
    @pytest.mark.parametrize(
        "name",
        sorted(
            name
            for name, case in TENANT_CASES.items()
            if case.kind in ("staff", "object") and name not in OWN_TWO_FACTOR_PAGES
        ),
    )
    def test_an_admin_without_a_device_is_sent_to_enrolment_from_every_staff_page(self, name, acme):
        case = TENANT_CASES[name]
        url = reverse(name, kwargs=case.kwargs(acme) if case.kwargs else {})
        client = _unverified(acme, "admin")
        response = client.get(url) if case.method == "GET" else client.post(url)
        assert response.status_code == 302
        assert response.url.split("?")[0] == "/two-factor/"

    def test_an_unenrolled_admin_may_still_leave_switch_language_and_enrol(self, acme):
        client = _unverified(acme, "admin")
        assert client.get("/two-factor/").status_code == 200
        assert client.get("/two-factor/verify/").url == "/two-factor/"
        assert client.get("/healthz").status_code in (200, 503)
        assert client.post("/language/", {"language": "zh-hans"}).status_code == 302
        assert client.post("/logout/").url == "/login/"

    def test_htmx_requests_are_sent_to_enrolment_as_a_full_page(self, acme):
        response = _unverified(acme, "admin").get("/customers/", HTTP_HX_REQUEST="true")
        assert response.headers["HX-Redirect"] == "/two-factor/?next=%2Fcustomers%2F"

    def test_a_viewer_is_not_sent_unless_the_tenant_requires_it(self, acme):
        client = _unverified(acme, "viewer")
        assert client.get("/").status_code == 200
        Tenant.objects.filter(pk=acme.tenant.pk).update(require_two_factor=True)
        assert client.get("/").url == "/two-factor/"
        assert client_for(acme, "viewer").get("/").status_code == 200, "the helper enrols"

    def test_operators_in_public_must_enrol(self, acme):
        operator = User.objects.create_user("ops-2fa@platform.test", PASSWORD, is_staff=True)
        client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
        client.force_login(operator)
        assert client.get("/").url == "/two-factor/"
        page = client.get("/two-factor/").content.decode()
        assert "Your account needs a second step" in page
        device = TOTPDevice.objects.get(user=operator, confirmed=False)
        shown = client.post("/two-factor/", {"code": totp_code(device)})
        assert len(_codes(shown.content.decode())) == 10
        assert "Acme Trading" in client.get("/").content.decode()

        outsider = User.objects.create_user("not-an-operator-2fa@example.com", PASSWORD)
        plain = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
        plain.force_login(outsider)
        assert plain.get("/").status_code == 403, "no console rights, nothing to protect"


def test_a_tenant_admin_can_require_two_factor_for_everyone(acme):
    admin = client_for(acme, "admin")
    response = admin.post(reverse("accounts:security_policy"), {"require_two_factor": "on"})
    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.require_two_factor
    assert tenant.events.first().detail == "require_two_factor: False → True"
    # From now on a viewer without an authenticator is sent to set one up.
    viewer = Client(HTTP_HOST=acme.host)
    with schema_context(acme.schema):
        viewer.force_login(User.objects.get(pk=acme.viewer.pk))
    assert viewer.get("/").url.startswith("/two-factor/")
    admin.post(reverse("accounts:security_policy"), {})
    assert not Tenant.objects.get(slug="acme").require_two_factor
