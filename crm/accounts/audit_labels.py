"""Plain-language names for what the audit log records. Apps that audit their own tables add
labels here through `register_table` (the way admin.site.register works), naming the columns that
hold personal data so the log masks them for readers without "see personal data"."""

from collections.abc import Callable, Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.accounts.masking import MASK, shown
from crm.accounts.permissions import can_view_personal_data

# How a personal column's value reaches a reader: a masking kind ("phone", "email", "birthday",
# "address") or a function (reader, value) -> what that reader may see.
ValueMasker = str | Callable[[Any, Any], Any]

ACTIONS: dict[str, Promise] = {
    "insert": _("Created"),
    "update": _("Changed"),
    "delete": _("Deleted"),
    "login": _("Signed in"),
    "login_failed": _("Failed sign-in"),
    "logout": _("Signed out"),
    "export": _("Exported"),
    "import": _("Imported"),
    "personal_data_export": _("Exported personal data"),
    "two_factor_enabled": _("Turned on two-factor sign-in"),
    "two_factor_failed": _("Wrong two-factor code"),
    "two_factor_reset": _("Reset two-factor sign-in"),
    "recovery_codes_renewed": _("Renewed recovery codes"),
    "lockout_cleared": _("Unlocked sign-in"),
    "two_factor_policy": _("Changed the two-factor requirement"),
}

TABLES: dict[str, Promise] = {
    "accounts_user": _("Staff account"),
    "auth_group": _("Role"),
    "auth_group_permissions": _("Role capability"),
    "accounts_user_groups": _("Role membership"),
    "accounts_user_user_permissions": _("Personal capability"),
    "accounts_roleprofile": _("Role settings"),
    "accounts_team": _("Team"),
    "accounts_team_members": _("Team membership"),
    "accounts_invitation": _("Invitation"),
}


# {table: {column: masker}}: the columns of audited tables that hold personal data.
PERSONAL_COLUMNS: dict[str, dict[str, ValueMasker]] = {}


def register_table(
    table: str, label: Promise, *, personal: Mapping[str, ValueMasker] | None = None
) -> None:
    """Name an audited table; `personal` lists its columns that hold personal data. The audit
    log is read by administrators, and "administer" does not imply "see personal data"."""
    TABLES[table] = label
    if personal:
        PERSONAL_COLUMNS[table] = dict(personal)


# Keys of an entry's detail that may quote personal data: a list's filter (its search may be a
# phone number or an email). Masked whole for readers without "see personal data".
PERSONAL_DETAIL_KEYS = frozenset({"filter", "query"})


def detail_shown(detail: dict | None, *, reader: Any) -> dict | None:
    if not detail or can_view_personal_data(reader):
        return detail
    return {k: MASK * 6 if k in PERSONAL_DETAIL_KEYS and v else v for k, v in detail.items()}


def masked_whole(reader: Any, value: object) -> object:
    """A masker for columns whose whole value is personal (before-images, JSON documents)."""
    return value if can_view_personal_data(reader) else MASK * 6


def _shown(reader: Any, table: str, column: str, value: object) -> object:
    masker = PERSONAL_COLUMNS.get(table, {}).get(column)
    if masker is None or value is None:
        return value
    if isinstance(masker, str):
        return shown(reader, masker, value)
    return masker(reader, value)


def changed_fields(
    before: dict | None, after: dict | None, *, table: str, reader: Any
) -> list[tuple[str, object, object]]:
    """(field, before, after) for every field whose value differs, in a stable order, with
    personal values as `reader` may see them."""
    before, after = before or {}, after or {}
    keys = sorted(set(before) | set(after))
    return [
        (k, _shown(reader, table, k, before.get(k)), _shown(reader, table, k, after.get(k)))
        for k in keys
        if before.get(k) != after.get(k)
    ]
