"""Writes to staff accounts, roles, teams and invitations.

Row changes are audited by the database triggers; the acting user is known to them through
AuditActorMiddleware (requests) or `audit_actor` (commands and tasks)."""

import datetime
import functools
import hashlib
import secrets
from collections.abc import Iterable
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts import capabilities as cap
from crm.accounts.audit import writes
from crm.accounts.models import Invitation, RecordScope, RoleProfile, Team, User
from crm.lib.tenancy import current_schema
from crm.lib.unique import clash_check, clash_refused

INVITATION_DAYS = 7


# --- staff --------------------------------------------------------------------------------


def _staff_limit() -> int | None:
    from crm.tenants.models import Tenant

    tenant = Tenant.objects.filter(schema_name=current_schema()).only("staff_limit").first()
    return tenant.staff_limit if tenant else None


def staff_seat_limit() -> int | None:
    return _staff_limit()


def staff_seats_used() -> int:
    open_invites = Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
    return User.objects.filter(is_active=True).count() + open_invites


def _check_seat_available() -> None:
    limit = _staff_limit()
    if limit is not None and staff_seats_used() >= limit:
        raise ValidationError(
            _(
                "Your plan allows %(limit)d staff accounts (active accounts and open "
                "invitations count). Deactivate someone or ask the platform operator for more."
            )
            % {"limit": limit}
        )


def _role(role: str | Group) -> Group:
    if isinstance(role, Group):
        return role
    try:
        return Group.objects.get(name=role)
    except Group.DoesNotExist:
        raise ValidationError(_("Unknown role: %(role)s") % {"role": role}) from None


def _email_clash(email: str) -> ValidationError | None:
    if User.objects.filter(email=email).exists():
        return ValidationError(_("A user with this email already exists."))
    return None


@writes
@transaction.atomic
def staff_create(
    *,
    actor: User | None,
    email: str,
    full_name: str,
    role: str | Group,
    password: str | None,
    language: str = "",
) -> User:
    """Create a staff account with one role. Without a password it cannot log in until one is
    set through a reset link."""
    group = _role(role)
    email = User.objects.normalize_email(email).strip().lower()
    clash = functools.partial(_email_clash, email)
    clash_check(clash)
    user = User(email=email, full_name=full_name, language=language)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(validate_unique=False)  # clash_refused decides, race included
    with clash_refused(clash):
        user.save()
    user.groups.add(group)
    return user


def _administrators_q() -> Q:
    perm = Permission.objects.get(content_type__app_label="accounts", codename=cap.ADMINISTER)
    return Q(is_superuser=True) | Q(groups__permissions=perm) | Q(user_permissions=perm)


def _keeps_an_admin(user: User, *, new_roles: list[Group] | None, deactivating: bool) -> None:
    """Refuse a change that would leave the tenant with no active administrator."""
    others = User.objects.filter(is_active=True).filter(_administrators_q()).exclude(pk=user.pk)
    if others.exists():
        return
    stays_admin = not deactivating and (
        new_roles is None
        or any(g.permissions.filter(codename=cap.ADMINISTER).exists() for g in new_roles)
    )
    if not stays_admin:
        raise ValidationError(_("This is the last active administrator; keep at least one."))


@writes
@transaction.atomic
def staff_update(
    *, actor: User | None, user: User, full_name: str, role: Group, teams: Iterable[Team]
) -> User:
    """Change a staff member's name, role and teams."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if set(user.groups.all()) != {role}:
        _keeps_an_admin(user, new_roles=[role], deactivating=False)
        user.groups.set([role])
    user.full_name = full_name
    user.save(update_fields=["full_name"])
    user.teams.set(list(teams))
    return user


def _end_sessions(user: User) -> int:
    """Delete the user's sessions. The auth backend already refuses inactive users on their next
    request; this removes the sessions so nothing is left behind: through the session engine,
    which drops the cached copy (settings.SESSION_ENGINE is cached_db) as well as the row."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            store(session_key=session.session_key).delete()
            ended += 1
    return ended


@writes
@transaction.atomic
def staff_deactivate(*, actor: User | None, user: User) -> User:
    if actor is not None and user.pk == actor.pk:
        raise ValidationError(_("You cannot deactivate your own account."))
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        raise ValidationError(_("This account is already deactivated."))
    _keeps_an_admin(user, new_roles=None, deactivating=True)
    user.is_active = False
    user.save(update_fields=["is_active"])
    _end_sessions(user)
    return user


@writes
@transaction.atomic
def staff_reactivate(*, actor: User | None, user: User) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        raise ValidationError(_("This account is already active."))
    _check_seat_available()
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


@writes
def language_set(*, actor: User | None, user: User, language: str) -> None:
    """Remember a user's interface language; the empty string means the workspace default."""
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])


# --- invitations --------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@writes
@transaction.atomic
def invitation_create(
    *, actor: User | None, email: str, full_name: str, role: Group, teams: Iterable[Team]
) -> tuple[Invitation, str]:
    """Invite someone by email. Returns the invitation and the token for the link; only its hash
    is stored, so the link in the email is the only copy."""
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": _("Someone with this email already has an account.")})
    if Invitation.objects.filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).exists():
        raise ValidationError(
            {"email": _("This address already has an open invitation; revoke it to send anew.")}
        )
    _check_seat_available()
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        email=email,
        full_name=full_name,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor,
        expires_at=timezone.now() + datetime.timedelta(days=INVITATION_DAYS),
    )
    invitation.teams.set(list(teams))
    from crm.accounts.mail import invitation_send

    transaction.on_commit(lambda: invitation_send(invitation=invitation, token=token))
    return invitation, token


def invitation_for_token(token: str) -> Invitation | None:
    """The open invitation a link refers to, or None (unknown, used, revoked or expired)."""
    invitation = Invitation.objects.filter(token_hash=_token_hash(token)).first()
    return invitation if invitation is not None and invitation.is_open else None


@transaction.atomic
def invitation_accept(*, token: str, full_name: str, password: str) -> User:
    """Turn an invitation into an account. Single use: the invitation row is locked and closed
    in the same transaction that creates the user."""
    invitation = (
        Invitation.objects.select_for_update().filter(token_hash=_token_hash(token)).first()
    )
    if invitation is None or not invitation.is_open:
        raise ValidationError(_("This invitation link is no longer valid. Ask for a new one."))
    user = staff_create(
        actor=None,
        email=invitation.email,
        full_name=full_name,
        role=invitation.role,
        password=password,
    )
    user.teams.set(list(invitation.teams.all()))
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return user


@writes
@transaction.atomic
def invitation_revoke(*, actor: User | None, invitation: Invitation) -> None:
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if not updated:
        raise ValidationError(_("This invitation was already used or revoked."))


# --- roles and teams ----------------------------------------------------------------------


def _capability_permissions(codenames: Iterable[str]) -> list[Permission]:
    wanted = set(codenames)
    unknown = wanted - set(cap.CODENAMES)
    if unknown:
        raise ValidationError(_("Unknown capabilities: %(names)s") % {"names": ", ".join(unknown)})
    return list(Permission.objects.filter(content_type__app_label="accounts", codename__in=wanted))


def _role_name_clash(name: str) -> ValidationError | None:
    if Group.objects.filter(name__iexact=name).exists():
        return ValidationError({"name": _("A role with this name exists.")})
    return None


@writes
@transaction.atomic
def role_create(
    *, actor: User | None, name: str, description: str, scope: str, codenames: Iterable[str]
) -> Group:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A role needs a name.")})
    clash = functools.partial(_role_name_clash, name)
    clash_check(clash)
    if scope not in RecordScope.values:
        raise ValidationError({"scope": _("Unknown scope.")})
    with clash_refused(clash):
        group = Group.objects.create(name=name)
    RoleProfile.objects.create(group=group, description=description, scope=scope)
    group.permissions.set(_capability_permissions(codenames))
    return group


@writes
@transaction.atomic
def role_update(
    *, actor: User | None, group: Group, description: str, scope: str, codenames: Iterable[str]
) -> Group:
    profile = RoleProfile.objects.select_for_update().get(group=group)
    if profile.is_preset:
        raise ValidationError(_("Preset roles cannot be changed; create a custom role instead."))
    if scope not in RecordScope.values:
        raise ValidationError({"scope": _("Unknown scope.")})
    permissions = _capability_permissions(codenames)
    if cap.ADMINISTER not in set(codenames):
        for member in group.user_set.filter(is_active=True):
            if not member.groups.exclude(pk=group.pk).exists():
                _keeps_an_admin(member, new_roles=[], deactivating=False)
    profile.description = description
    profile.scope = scope
    profile.save(update_fields=["description", "scope"])
    group.permissions.set(permissions)
    return group


@writes
@transaction.atomic
def role_delete(*, actor: User | None, group: Group) -> None:
    profile = RoleProfile.objects.select_for_update().get(group=group)
    if profile.is_preset:
        raise ValidationError(_("Preset roles cannot be deleted."))
    if group.user_set.exists() or Invitation.objects.filter(role=group).exists():
        raise ValidationError(_("Move its members and invitations to another role first."))
    group.delete()


def _team_name_clash(name: str, team_id: int | None) -> ValidationError | None:
    others = Team.objects.filter(name__iexact=name)
    if team_id is not None:
        others = others.exclude(pk=team_id)
    if others.exists():
        return ValidationError({"name": _("A team with this name exists.")})
    return None


@writes
@transaction.atomic
def team_save(*, actor: User | None, team: Team | None, name: str, members: Iterable[User]) -> Team:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A team needs a name.")})
    clash = functools.partial(_team_name_clash, name, team.pk if team is not None else None)
    clash_check(clash)
    with clash_refused(clash):
        if team is None:
            team = Team.objects.create(name=name)
        else:
            team.name = name
            team.save(update_fields=["name"])
    team.members.set(list(members))
    return team


@writes
@transaction.atomic
def team_delete(*, actor: User | None, team: Team) -> None:
    team.delete()
