"""Sign-in security: who must use two-factor sign-in, enrolling and checking TOTP devices with
recovery codes, and an administrator's unlock and two-factor reset.

Devices (django-otp) and failed attempts (django-axes) live in the schema of the site, tenant
or public, beside the users they belong to: nothing here crosses tenants."""

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.accounts import capabilities as cap
from crm.accounts.audit import audit_record
from crm.accounts.backends import LOADED_TWO_FACTOR
from crm.accounts.lockout import normalise_email
from crm.accounts.models import User
from crm.tenants.models import Tenant

RECOVERY_CODE_COUNT = 10
TOTP_DIGITS = 6  # django-otp's default, and what every authenticator app shows
TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"

# --- who needs it -------------------------------------------------------------------------


def is_platform_site(tenant: Tenant | None) -> bool:
    """The console on the bare domain (the public schema), rather than a tenant's site."""
    return tenant is None or tenant.schema_name == settings.PUBLIC_SCHEMA_NAME


def _required(tenant: Tenant | None, *, is_operator: bool, is_admin: bool) -> bool:
    if tenant is None or is_platform_site(tenant):
        # A public account without staff or superuser rights can do nothing in the console.
        return is_operator
    return bool(tenant.require_two_factor) or is_admin


def two_factor_required(user: Any, tenant: Tenant | None) -> bool:
    """Operators always; in a tenant, its administrators, or everyone when the tenant says so."""
    if not user.is_authenticated:
        return False
    return _required(
        tenant,
        is_operator=bool(user.is_staff or user.is_superuser),
        # Evaluated only on a tenant's site: is_tenant_admin costs a permission query.
        is_admin=not is_platform_site(tenant) and bool(user.is_tenant_admin),
    )


def has_two_factor(user: Any) -> bool:
    """Enrolled: the user has a confirmed authenticator (recovery codes come with it)."""
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def had_two_factor_when_loaded(user: Any) -> bool:
    """has_two_factor as of the start of this request: the signed-in user comes with the answer
    (crm.accounts.backends.PermissionBackend.get_user), so asking costs no query."""
    loaded = getattr(user, LOADED_TWO_FACTOR, None)
    return has_two_factor(user) if loaded is None else bool(loaded)


# --- enrolment ----------------------------------------------------------------------------


@transaction.atomic
def totp_pending(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator an enrolment page shows: the same one on every visit, so
    reloading the page does not invalidate a QR code already scanned."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # one pending device per user
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_uri(device: TOTPDevice, *, issuer: str) -> str:
    """The otpauth:// link a QR code carries (Key URI format). The issuer is the workspace's
    name, so staff of several workspaces can tell the entries apart."""
    issuer = issuer.replace(":", "").strip() or "CRM"
    label = quote(f"{issuer}:{device.user.get_username()}")
    params = urlencode(
        {
            "secret": totp_secret_text(device).replace(" ", ""),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{params}"


def _normalise_code(code: str) -> str:
    # People copy codes with spaces or the hyphen we print in recovery codes.
    return "".join(code.split()).replace("-", "").lower()


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def totp_confirm(*, user: User, code: str, ip: str | None = None) -> tuple[TOTPDevice, list[str]]:
    """Turn on two-factor sign-in with a code from the pending authenticator. Returns the device
    and the new recovery codes, which are shown once and never again."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("pk")
        .first()
    )
    if device is None:
        raise ValidationError(_("Start again: this setup page has expired."))
    if not device.verify_token(_normalise_code(code)):
        raise ValidationError(
            _("That code does not match. Check your device's clock and enter the current code.")
        )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    audit_record(action="two_factor_enabled", actor=user, ip=ip)
    return device, codes


@transaction.atomic
def recovery_codes_renew(*, user: User, ip: str | None = None) -> list[str]:
    """Replace the recovery codes (when used up or exposed); the old ones stop working."""
    if not has_two_factor(user):
        raise ValidationError(_("Turn on two-factor sign-in first."))
    codes = _new_recovery_codes(user)
    audit_record(action="recovery_codes_renewed", actor=user, ip=ip)
    return codes


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user_id=user.pk).count()


# --- verification at sign-in ------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    device: Device | None
    throttled: bool = False


def two_factor_verify(*, user: User, code: str, ip: str | None = None) -> Verification:
    """Check a code from the authenticator (six digits) or a recovery code (used up by this).

    Each kind is checked only against its own device (recovery codes are eight letters and
    digits), so a mistyped code slows down one of them, not both. django-otp throttles each
    device after failures (1, 2, 4 ... seconds)."""
    code = _normalise_code(code)
    model: type[TOTPDevice] | type[StaticDevice]
    model = TOTPDevice if code.isdigit() and len(code) == TOTP_DIGITS else StaticDevice
    with transaction.atomic():
        devices = list(model.objects.select_for_update().filter(user=user, confirmed=True))
        # Asked before trying: a throttled device refuses even the right code.
        throttled = any(not device.verify_is_allowed()[0] for device in devices)
        for device in devices:
            if device.verify_token(code):
                return Verification(device=device)
        audit_record(action="two_factor_failed", actor=user, ip=ip)
    return Verification(device=None, throttled=throttled)


# --- the administrator's side -----------------------------------------------------------


@transaction.atomic
def two_factor_reset(*, actor: User, user: User) -> int:
    """Remove a user's authenticator and recovery codes (a lost phone). Their next request
    is no longer verified; if two-factor sign-in is required for them, they enrol anew after
    signing in with their password, so confirm who is asking before resetting."""
    devices = TOTPDevice.objects.filter(user=user).count()
    TOTPDevice.objects.filter(user=user).delete()
    devices += StaticDevice.objects.filter(user=user).count()
    StaticDevice.objects.filter(user=user).delete()
    audit_record(
        action="two_factor_reset",
        actor=actor,
        table_name="accounts_user",
        record_id=user.pk,
        detail={"email": user.email},
    )
    return devices


@transaction.atomic
def lockout_clear(*, actor: User, email: str) -> int:
    """Let an email sign in again from every address it is locked out from, here only.

    Returns how many attempt records went; 0 means it was not locked (nothing is recorded)."""
    email = normalise_email(email)
    if not email:
        return 0
    cleared = axes_reset(username=email)
    if cleared:
        audit_record(action="lockout_cleared", actor=actor, detail={"email": email})
    return cleared


@dataclass(frozen=True)
class Lockout:
    email: str
    ip_address: str | None
    failures: int
    locked_until: datetime


def lockouts() -> list[Lockout]:
    """Email and address pairs locked out now, as axes counts them: failures within the
    cool-off window, summed over browsers, at or above the limit. (Reads the database
    handler's table, which is the one settings choose.)"""
    cooloff = settings.AXES_COOLOFF_TIME
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cooloff)
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .order_by("-last")
    )
    return [
        Lockout(
            email=row["username"] or "",
            ip_address=row["ip_address"],
            failures=row["failures"],
            locked_until=row["last"] + cooloff,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class MemberTwoFactor:
    user: User
    enrolled: bool
    required: bool


def staff_two_factor(tenant: Tenant | None) -> list[MemberTwoFactor]:
    """Every active account of this site with its two-factor state, for the security page.
    Administrator rights come from one query, not a permission check per account."""
    administer = Permission.objects.filter(
        content_type__app_label="accounts", codename=cap.ADMINISTER
    )
    users = (
        User.objects.filter(is_active=True)
        .annotate(
            enrolled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            administers=Exists(
                User.objects.filter(pk=OuterRef("pk")).filter(
                    Q(is_superuser=True)
                    | Q(groups__permissions__in=administer)
                    | Q(user_permissions__in=administer)
                )
            ),
        )
        .order_by("full_name", "email")
    )
    return [
        MemberTwoFactor(
            user=user,
            enrolled=user.enrolled,
            required=_required(
                tenant,
                is_operator=user.is_staff or user.is_superuser,
                is_admin=user.administers,
            ),
        )
        for user in users
    ]
