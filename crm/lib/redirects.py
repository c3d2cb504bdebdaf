"""Where a "next" parameter may send the browser. Imports no app."""

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def local_url(request: HttpRequest, target: str, default: str) -> str:
    """`target` if it is a path on this site ("/customers/?q=x"), else `default`. Anything else
    is refused: another host (an open redirect), and a bare word, which django's redirect()
    would try to reverse as a URL name (a NoReverseMatch, a 500)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return target
