"""What a role can let its members do. Each capability is a Django permission on the placeholder
model accounts.Capability, so roles are plain auth Groups and checks are `user.has_perm`."""

from django.utils.translation import gettext_lazy as _

VIEW = "view_records"
CREATE = "create_records"
CHANGE = "change_records"
DELETE = "delete_records"
IMPORT = "import_records"
EXPORT = "export_records"
PERSONAL_DATA = "view_personal_data"
POINTS_OVER_LIMIT = "adjust_points_over_limit"
ENGAGEMENT = "manage_engagement"
LOYALTY = "manage_loyalty"
SEGMENTS = "manage_segments"
REPORTS = "view_reports"
ADMINISTER = "administer"

# (codename, label, explanation) in the order the role matrix shows them.
CAPABILITIES = (
    (VIEW, _("View"), _("Open customer, order and ticket records within the role's scope.")),
    (CREATE, _("Create"), _("Add customers, orders, tickets and notes.")),
    (CHANGE, _("Change"), _("Edit records, assign owners, merge duplicates.")),
    (DELETE, _("Delete"), _("Delete or erase records.")),
    (IMPORT, _("Import"), _("Load records from CSV or Excel files, and undo imports.")),
    (EXPORT, _("Export"), _("Download records as CSV or Excel.")),
    (
        PERSONAL_DATA,
        _("See personal data"),
        _("See phone numbers, emails, birthdays and addresses unmasked."),
    ),
    (
        POINTS_OVER_LIMIT,
        _("Adjust points above the limit"),
        _("Grant or deduct loyalty points beyond the per-adjustment limit."),
    ),
    (
        ENGAGEMENT,
        _("Manage surveys and care messages"),
        _("Create and schedule feedback surveys and care messages."),
    ),
    (
        LOYALTY,
        _("Manage loyalty"),
        _("Change loyalty programme settings and rewards; approve point adjustments."),
    ),
    (
        SEGMENTS,
        _("Manage segments"),
        _("Build, change and refresh customer segments: audiences for lists, exports, surveys."),
    ),
    (REPORTS, _("See reports"), _("Open dashboards and receive PDF reports.")),
    (
        ADMINISTER,
        _("Administer"),
        _("Manage staff, roles, teams and security; read the audit log."),
    ),
)
CODENAMES = tuple(codename for codename, _label, _help in CAPABILITIES)
LABELS = {codename: label for codename, label, _help in CAPABILITIES}


def perm(codename: str) -> str:
    """The full permission name for `user.has_perm`."""
    return f"accounts.{codename}"
