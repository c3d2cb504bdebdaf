"""Plain-language names for what the audit log records. Apps that audit their own tables add
labels here through `register_table` (the way admin.site.register works)."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

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


# Columns that hold personal data, by table ("*": every column), as apps register them with
# their tables. The audit log shows their values masked to readers without "see personal data".
PERSONAL_COLUMNS: dict[str, frozenset[str]] = {}
MASKED = "••••••"


def register_table(table: str, label: Promise, *, personal: tuple[str, ...] = ()) -> None:
    TABLES[table] = label
    if personal:
        PERSONAL_COLUMNS[table] = frozenset(personal)


# Keys of an entry's detail that may quote personal data: a list's filter (its search may be a
# phone number or an email). Masked like personal columns.
PERSONAL_DETAIL_KEYS = frozenset({"filter", "query"})


def detail_shown(detail: dict | None, *, personal: bool) -> dict | None:
    if personal or not detail:
        return detail
    return {k: MASKED if k in PERSONAL_DETAIL_KEYS and v else v for k, v in detail.items()}


def changes_shown(
    table: str, before: dict | None, after: dict | None, *, personal: bool
) -> list[tuple[str, object, object]]:
    """changed_fields, with the values of the table's personal columns masked unless the
    reader may see personal data (`personal`). That a column changed stays visible."""
    changes = changed_fields(before, after)
    columns = PERSONAL_COLUMNS.get(table, frozenset())
    if personal or not columns:
        return changes

    def masked(value: object) -> object:
        return None if value in (None, "") else MASKED

    return [
        (k, masked(b), masked(a)) if "*" in columns or k in columns else (k, b, a)
        for k, b, a in changes
    ]


def changed_fields(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """(field, before, after) for every field whose value differs, in a stable order."""
    before, after = before or {}, after or {}
    keys = sorted(set(before) | set(after))
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
