"""`{% memo "name" key… %}…{% endmemo %}`: a piece of a page drawn once per process and key.

For the frame every page draws (navigation, language menu, the signed-in user's name), whose
HTML follows from a handful of plain values. The key is the block's name, the values listed,
and what every block varies by without saying so: the tenant's schema, the language, the
URLconf and the script prefix. Whatever the block shows must follow from these; with
settings.TEMPLATE_MEMO_VERIFY (on under DEBUG and in the tests) every block is drawn anyway and
compared with what was remembered, so a value left out of the key fails loudly instead of
showing one reader another's page. A CSRF token cannot go inside (it changes per request).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.template.base import Node, NodeList, Parser, Token
from django.template.defaulttags import CsrfTokenNode
from django.urls import get_script_prefix, get_urlconf
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from crm.lib.tenancy import current_schema

register = template.Library()

# Enough for every combination of a few hundred tenants' frames; past it, start again.
MAX_ENTRIES = 4096
_remembered: dict[tuple[Any, ...], SafeString] = {}
_PLAIN = (str, int, bool, type(None))


class MemoKeyIncomplete(AssertionError):
    """The same key drew different HTML: the block shows something its key leaves out."""


def forget_all() -> None:
    _remembered.clear()


def _plain(value: Any, name: str) -> Any:
    if isinstance(value, Promise):
        return str(value)
    if type(value) not in _PLAIN and not isinstance(value, str):
        raise template.TemplateSyntaxError(
            f"{{% memo {name} %}}: key values must be text, numbers or booleans, not"
            f" {type(value).__name__}"
        )
    return value


class MemoNode(Node):
    child_nodelists = ("nodelist",)

    def __init__(self, name: str, keys: list[Any], nodelist: NodeList) -> None:
        self.name = name
        self.keys = keys
        self.nodelist = nodelist

    def render(self, context: Any) -> SafeString:
        key = (
            self.name,
            current_schema(),
            get_language(),
            get_urlconf() or settings.ROOT_URLCONF,
            get_script_prefix(),
            *(_plain(k.resolve(context), self.name) for k in self.keys),
        )
        remembered = _remembered.get(key)
        verify = getattr(settings, "TEMPLATE_MEMO_VERIFY", False)
        if remembered is not None and not verify:
            return remembered
        html = mark_safe(self.nodelist.render(context))  # noqa: S308 - rendered by the template
        if remembered is not None and remembered != html:
            raise MemoKeyIncomplete(
                f"{{% memo {self.name} %}} drew different HTML for the same key {key!r}: add what"
                " differs to its key"
            )
        if len(_remembered) >= MAX_ENTRIES:
            _remembered.clear()
        _remembered[key] = html
        return html


@register.tag
def memo(parser: Parser, token: Token) -> MemoNode:
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError('{% memo %} takes a name: {% memo "site-nav" … %}')
    name = bits[1].strip("\"'")
    keys = [parser.compile_filter(bit) for bit in bits[2:]]
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    if nodelist.get_nodes_by_type(CsrfTokenNode):
        raise template.TemplateSyntaxError(
            f"{{% memo {name} %}} holds a {{% csrf_token %}}: it changes per request, keep the"
            " form outside the block"
        )
    return MemoNode(name, keys, nodelist)
