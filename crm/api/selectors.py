from django.db.models import QuerySet

from crm.api.models import ApiToken
from crm.api.tokens import token_hash


def api_tokens() -> QuerySet[ApiToken]:
    """The tenant's tokens, live ones first."""
    return ApiToken.objects.select_related("created_by").order_by(
        "revoked_at", "-created_at", "-id"
    )


def token_for_secret(secret: str) -> ApiToken | None:
    """The live token with this secret in the current tenant's schema, or None."""
    if not secret or len(secret) > 200:
        return None
    return ApiToken.objects.filter(secret_hash=token_hash(secret), revoked_at__isnull=True).first()
