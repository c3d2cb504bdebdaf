"""Every write to API tokens. Row changes are audited by the database trigger (the secret's
hash only as "changed"; last use makes no entry)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.audit import writes
from crm.accounts.models import User
from crm.api.models import ApiToken
from crm.api.scopes import SCOPES
from crm.api.tokens import token_hash, token_new, token_prefix


@writes
@transaction.atomic
def api_token_create(
    *,
    actor: User | None,
    name: str,
    scopes: list[str],
    origin: ApiToken.Origin | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret, which is shown this once and never stored. `origin` says
    where it was made: the API tokens page (by `actor`, its maker) or the command line (no
    maker); when not given, a token with an actor is the page's, one without the command
    line's. It is kept on the token, so a page-made token whose maker is deleted later is not
    taken for a command-line one (customers.api masks what it reads)."""
    if origin is None:
        origin = ApiToken.Origin.COMMAND_LINE if actor is None else ApiToken.Origin.PAGE
    if (origin == ApiToken.Origin.PAGE) != (actor is not None):
        raise ValueError("a page-made token has its maker; a command-line token has none")
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the token a name, for example the till or system using it.")
    elif len(name) > ApiToken._meta.get_field("name").max_length:  # type: ignore[operator]
        errors["name"] = _("The name is too long.")
    chosen = sorted(set(scopes))
    if not chosen or any(scope not in SCOPES for scope in chosen):
        errors["scopes"] = _("Choose what the token may reach.")
    if errors:
        raise ValidationError(errors)
    secret = token_new()
    token = ApiToken.objects.create(
        name=name,
        scopes=chosen,
        prefix=token_prefix(secret),
        secret_hash=token_hash(secret),
        origin=origin,
        created_by=actor,
    )
    return token, secret


@writes
@transaction.atomic
def api_token_revoke(*, actor: User | None, token: ApiToken) -> ApiToken:
    """The token stops working at once; revoking twice changes nothing."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db()
    return token
