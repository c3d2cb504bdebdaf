"""Widgets that write their HTML out directly instead of through Django's widget templates, and
choices Django need not normalise.

Django draws a widget by rendering a template that includes one template for its attributes and,
for a select, one per option: on a list page with a search form on every view that is a large
share of the page's rendering time. These write out the same HTML (tests compare them with
Django's), for the plain cases they are used for: no option groups, no per-option attributes.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any

from django import forms
from django.utils.choices import BaseChoiceIterator
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def attrs_html(attrs: dict[str, Any]) -> str:
    """As django/forms/widgets/attrs.html writes them."""
    parts = []
    for key, value in attrs.items():
        if value is False:
            continue
        parts.append(f" {key}" if value is True else f' {key}="{escape(str(value))}"')
    return "".join(parts)


class PlainChoices(BaseChoiceIterator):
    """Choices already in Django's normal form: (value, label) pairs, no groups. Django passes
    a choice iterator through as it is; a list it normalises on every deep copy of the field,
    every assignment and, given as a function, every time the choices are read."""

    def __init__(self, choices: Sequence[tuple[Any, Any]]) -> None:
        self.choices = choices

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.choices)

    def __deepcopy__(self, memo: dict[int, Any]) -> PlainChoices:
        return self  # never changed after it is made


def _text(value: Any) -> str:
    """As `{{ value }}` writes a value: escaped unless marked safe. (Django's escape() does the
    same as html.escape, behind a check for lazy arguments on every call.)"""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


class ListSelect(forms.Select):
    """forms.Select's HTML, for a single choice among plain options (no groups)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        chosen = self.format_value(value)
        options = []
        found = False  # as Django: only the first option with the chosen value is selected
        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):
                raise ValueError(f"{type(self).__name__} draws no option groups ({name})")
            text = "" if option_value is None else str(option_value)
            selected = not found and text in chosen
            found |= selected
            options.append(
                f'\n  <option value="{html.escape(text)}"{" selected" if selected else ""}>'
                f"{_text(label)}</option>\n"
            )
        html_attrs = attrs_html(self.build_attrs(self.attrs, attrs))
        return mark_safe(  # noqa: S308 - every value above is escaped
            f'<select name="{escape(name)}"{html_attrs}>{"".join(options)}\n</select>'
        )


class DirectInputMixin:
    """An <input> widget's HTML (text, number, date…), as django/forms/widgets/input.html."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]  # type: ignore[attr-defined]
        shown = widget["value"]
        value_html = "" if shown is None else f' value="{escape(str(shown))}"'
        return mark_safe(  # noqa: S308 - every value above is escaped
            f'<input type="{escape(widget["type"])}" name="{escape(name)}"{value_html}'
            f"{attrs_html(widget['attrs'])}>"
        )


class ListTextInput(DirectInputMixin, forms.TextInput):
    pass


class ListNumberInput(DirectInputMixin, forms.NumberInput):
    pass


class ListDateInput(DirectInputMixin, forms.DateInput):
    pass
