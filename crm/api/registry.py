"""The routers apps add to the API, registered from their AppConfig.ready (crm never imports
an app above it): `api_router_register("/orders", router, scope=LOYALTY)`. The API is built
from them when the tenant URLconf is first loaded, after every app is ready."""

from dataclasses import dataclass

from ninja import Router

from crm.api.scopes import SCOPES


@dataclass(frozen=True)
class ApiRouter:
    prefix: str
    router: Router
    scope: str
    tag: str


_ROUTERS: dict[tuple[str, str], ApiRouter] = {}


def api_router_register(prefix: str, router: Router, *, scope: str, tag: str = "") -> None:
    """Serve `router`'s operations under /api/v1/<prefix>, to tokens with `scope`. Registering
    the same prefix and scope again replaces the earlier router (a reloaded app)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown API scope {scope!r}; known: {sorted(SCOPES)}")
    _ROUTERS[(prefix, scope)] = ApiRouter(prefix, router, scope, tag or scope)


def api_routers() -> list[ApiRouter]:
    return list(_ROUTERS.values())
