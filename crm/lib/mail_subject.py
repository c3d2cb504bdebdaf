"""Email subject lines from templates. Imports no app."""

from typing import Any

from django.template.loader import render_to_string

# Long enough for any subject a person reads; a header line is folded past 78 characters anyway.
SUBJECT_MAX_LENGTH = 200


def subject_render(template_name: str, context: dict[str, Any]) -> str:
    """One header line: every run of whitespace (a line break in a tenant's name would make
    Django refuse the header, and the mail would never leave) becomes one space. The template
    turns autoescape off: a subject is plain text, not HTML."""
    text = " ".join(render_to_string(template_name, context).split())
    return text[:SUBJECT_MAX_LENGTH]
