from django.conf import settings
from django.http import HttpRequest

from crm.lib.tenancy import in_public_schema


def site(request: HttpRequest) -> dict[str, object]:
    """What every page needs to draw its frame: which site it is on and the language menu."""
    tenant = getattr(request, "tenant", None)
    is_public = in_public_schema()
    match = request.resolver_match
    return {
        "current_tenant": None if is_public else tenant,
        "is_platform_console": is_public,
        "available_languages": settings.LANGUAGES,
        # The navigation marks this app's section as current, unless the view names another
        # (nav_section); None where no URL matched (a 404 page).
        "current_app_name": match.app_name if match else None,
    }
