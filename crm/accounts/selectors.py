"""Reads shared by the admin console's views."""

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.functional import Promise

from crm.accounts import capabilities as cap
from crm.accounts.masking import KINDS
from crm.accounts.models import AuditEntry, Invitation, RecordScope, Team, User
from crm.accounts.permissions import record_scope


def staff_list() -> QuerySet[User]:
    return User.objects.prefetch_related("groups", "teams").order_by(
        "-is_active", "full_name", "email"
    )


def open_invitations() -> QuerySet[Invitation]:
    return Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True)


def roles_with_capabilities() -> list[dict[str, Any]]:
    """Each role with its scope, member count and the capability codenames it grants."""
    groups = (
        Group.objects.select_related("profile")
        .annotate(member_count=Count("user", filter=Q(user__is_active=True)))
        .prefetch_related("permissions")
        .order_by("-profile__is_preset", "name")
    )
    return [
        {
            "group": group,
            "granted": {p.codename for p in group.permissions.all()},
            "member_count": group.member_count,
        }
        for group in groups
    ]


def teams_with_members() -> QuerySet[Team]:
    return Team.objects.prefetch_related(
        Prefetch("members", queryset=User.objects.order_by("full_name", "email"))
    )


@dataclass
class CapabilityLine:
    codename: str
    label: Promise
    explanation: Promise
    via: list[str] = field(default_factory=list)

    @property
    def granted(self) -> bool:
        return bool(self.via)


@dataclass
class AccessReport:
    user: User
    roles: list[Group]
    capabilities: list[CapabilityLine]
    scope: str
    scope_label: str
    teams: list[Team]
    masked_fields: list[Promise]


def user_access(user: User) -> AccessReport:
    """What a user can do and see, and which role grants each part: the "what can this user
    see" page."""
    roles = list(user.groups.prefetch_related("permissions").order_by("name"))
    lines = []
    for codename, label, explanation in cap.CAPABILITIES:
        via = [r.name for r in roles if any(p.codename == codename for p in r.permissions.all())]
        if user.is_superuser and not via:
            via = ["superuser"]
        if not user.is_active:
            via = []
        lines.append(CapabilityLine(codename, label, explanation, via))
    sees_personal = any(line.granted for line in lines if line.codename == cap.PERSONAL_DATA)
    scope = record_scope(user)
    return AccessReport(
        user=user,
        roles=roles,
        capabilities=lines,
        scope=scope,
        scope_label=str(RecordScope(scope).label),
        teams=list(user.teams.order_by("name")),
        masked_fields=[] if sees_personal else list(KINDS.values()),
    )


@dataclass(frozen=True)
class AuditFilters:
    actor_id: int | None = None
    table_name: str = ""
    action: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None


def audit_entries(filters: AuditFilters, *, before_id: int | None, limit: int) -> list[AuditEntry]:
    """Newest first, keyset-paginated on id (no OFFSET, no COUNT over a growing table)."""
    entries = AuditEntry.objects.all()
    if filters.actor_id is not None:
        entries = entries.filter(actor_id=filters.actor_id)
    if filters.table_name:
        entries = entries.filter(table_name=filters.table_name)
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.date_from:
        entries = entries.filter(at__date__gte=filters.date_from)
    if filters.date_to:
        entries = entries.filter(at__date__lte=filters.date_to)
    if before_id is not None:
        entries = entries.filter(id__lt=before_id)
    return list(entries.order_by("-id")[:limit])


def audit_actors() -> list[tuple[int, str]]:
    return list(User.objects.order_by("email").values_list("pk", "email"))
