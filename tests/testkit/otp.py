"""Two-factor sign-in for tests: real authenticator devices, real codes, verified sessions."""

from django.http import HttpRequest
from django.test import Client
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.accounts.models import User


def authenticator_for(user: User) -> TOTPDevice:
    """The user's confirmed authenticator, made if they have none (run in the user's schema)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test phone", confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    """A code the device accepts now, as the phone app would show it. django-otp refuses a time
    step it has already accepted and takes one step ahead, so after a code was used in this
    step we give the next step's (run in the device's schema)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if totp.t() <= device.last_t:
        totp.drift += device.last_t + 1 - totp.t()
    return str(totp.token()).zfill(device.digits)


def verify_session(client: Client, user: User) -> TOTPDevice:
    """Mark a force-logged-in client's session as verified with the user's authenticator,
    through django_otp.login as the verify page does (run in the user's schema)."""
    device = authenticator_for(user)
    request = HttpRequest()
    request.session = client.session
    request.user = user
    otp_login(request, device)
    request.session.save()
    return device
