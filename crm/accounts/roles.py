"""Preset roles: auth Groups with a RoleProfile, created in every tenant schema by migration."""

from django.utils.translation import gettext_lazy as _

from crm.accounts import capabilities as cap

ADMIN = "Admin"
MANAGER = "Manager"
AGENT = "Agent"
MARKETING = "Marketing"
VIEWER = "Viewer"

PRESET_ROLES = (ADMIN, MANAGER, AGENT, MARKETING, VIEWER)

ROLE_LABELS = {
    ADMIN: _("Admin"),
    MANAGER: _("Manager"),
    AGENT: _("Agent"),
    MARKETING: _("Marketing"),
    VIEWER: _("Viewer"),
}

# Preset matrix; migration 0004 writes it into each schema and a test keeps the two in step.
PRESET_CAPABILITIES = {
    ADMIN: cap.CODENAMES,
    MANAGER: tuple(c for c in cap.CODENAMES if c != cap.ADMINISTER),
    AGENT: (cap.VIEW, cap.CREATE, cap.CHANGE, cap.PERSONAL_DATA),
    MARKETING: (cap.VIEW, cap.EXPORT, cap.ENGAGEMENT, cap.SEGMENTS, cap.REPORTS),
    VIEWER: (cap.VIEW,),
}
PRESET_SCOPES = {ADMIN: "all", MANAGER: "all", AGENT: "team", MARKETING: "all", VIEWER: "all"}
