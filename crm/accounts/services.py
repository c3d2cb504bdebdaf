"""Writes to staff accounts."""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.accounts import roles
from crm.accounts.models import User


@transaction.atomic
def staff_create(
    *,
    email: str,
    full_name: str,
    role: str,
    password: str | None,
    language: str = "",
) -> User:
    """Create a staff account with one preset role. Without a password it cannot log in until
    one is set through a reset link."""
    if role not in roles.PRESET_ROLES:
        raise ValidationError(_("Unknown role: %(role)s") % {"role": role})
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email=email).exists():
        raise ValidationError(_("A user with this email already exists."))
    user = User(email=email, full_name=full_name, language=language)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def language_set(*, user: User, language: str) -> None:
    """Remember a user's interface language; the empty string means the workspace default."""
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
