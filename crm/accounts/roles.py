"""Preset roles. Each is a django.contrib.auth Group in the tenant's schema.

The permission matrix behind each role arrives with the accounts-and-permissions work; for now the
roles name who is who, and Admin alone reaches the admin pages.
"""

from django.utils.translation import gettext_lazy as _

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
