"""api_token create <tenant> --name NAME --scope loyalty [--scope customers]: make an API token
and print only its secret (for scripts: `TOKEN=$(manage.py api_token create acme ...)`).
api_token list <tenant>; api_token revoke <tenant> <prefix>. Recorded in the audit log as done
from the command line."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from crm.accounts.audit import audit_actor
from crm.api import selectors, services
from crm.api.models import ApiToken
from crm.api.scopes import SCOPES
from crm.transfer.management.commands._tenant_arg import tenant_named

ACTOR = "command line"


class Command(BaseCommand):
    help = "Create, list or revoke a tenant's API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token and print its secret only")
        create.add_argument("tenant", help="tenant slug or schema name")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--scope", action="append", required=True, choices=sorted(SCOPES), dest="scopes"
        )
        listing = actions.add_parser("list", help="the tenant's tokens")
        listing.add_argument("tenant", help="tenant slug or schema name")
        revoke = actions.add_parser("revoke", help="stop a token, named by its prefix")
        revoke.add_argument("tenant", help="tenant slug or schema name")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_named(options["tenant"])
        with schema_context(tenant.schema_name), audit_actor(ACTOR):
            getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        try:
            _token, secret = services.api_token_create(
                actor=None,
                name=options["name"],
                scopes=options["scopes"],
                origin=ApiToken.Origin.COMMAND_LINE,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(secret)

    def _list(self, options: dict[str, Any]) -> None:
        for token in selectors.api_tokens():
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            scopes = ",".join(token.scopes)
            self.stdout.write(f"{token.prefix}…\t{token.name}\t{scopes}\t{state}\tused {used}")

    def _revoke(self, options: dict[str, Any]) -> None:
        matches = [
            t for t in selectors.api_tokens() if t.prefix.startswith(options["prefix"].rstrip("…"))
        ]
        live = [t for t in matches if t.revoked_at is None]
        if len(live) != 1:
            raise CommandError(f"{len(live)} active tokens start with {options['prefix']!r}")
        services.api_token_revoke(actor=None, token=live[0])
        self.stdout.write(f"revoked {live[0].name}")
