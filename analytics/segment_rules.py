"""A segment's rules: read from the builder's form or from storage, checked, and compiled to one
filter on customers.

Rules are groups of conditions, one level deep: the groups are joined by AND or OR, and so are
the conditions inside each group. Stored as JSON:

    {"join": "and", "groups": [
        {"join": "or", "conditions": [{"field": "city", "op": "eq", "value": "上海"}, ...]},
        ...]}

Checking names each mistake with its place ("Group 2, condition 1: Points balance: Enter a
number."), so the builder can show it beside the condition and a stored rule whose field went
away (an archived custom field) says so instead of matching nobody silently."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from analytics.segment_fields import (
    OPERATORS,
    UNARY,
    SegmentField,
    evaluated_as_of,
    segment_fields,
    value_clean,
)
from crm.accounts.masking import MASK
from customers.models import Customer

JOINS = ("and", "or")
MAX_GROUPS = 10
MAX_CONDITIONS = 20


@dataclass
class Condition:
    field: str = ""
    op: str = ""
    value: str = ""
    error: str = ""  # set by rules_check, shown beside the condition

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "op": self.op, "value": self.value}


@dataclass
class Group:
    join: str = "and"
    conditions: list[Condition] = field(default_factory=list)


@dataclass
class Rules:
    join: str = "and"
    groups: list[Group] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "join": self.join,
            "groups": [
                {"join": g.join, "conditions": [c.as_json() for c in g.conditions]}
                for g in self.groups
            ],
        }

    @property
    def errors(self) -> list[str]:
        return [c.error for g in self.groups for c in g.conditions if c.error]


def _join(value: Any) -> str:
    return value if value in JOINS else "and"


def rules_from_json(data: Any) -> Rules:
    """Rules from storage; anything malformed becomes an empty or blank part (checked later)."""
    if not isinstance(data, Mapping):
        return Rules()
    groups = []
    for g in data.get("groups") or []:
        if not isinstance(g, Mapping):
            continue
        conditions = [
            Condition(str(c.get("field", "")), str(c.get("op", "")), str(c.get("value") or ""))
            for c in g.get("conditions") or []
            if isinstance(c, Mapping)
        ]
        groups.append(Group(_join(g.get("join")), conditions))
    return Rules(_join(data.get("join")), groups)


def rules_from_form(data: Mapping[str, Any]) -> Rules:
    """Rules from the builder's fields: join, g<i>-join, g<i>-c<j>-field, -op, -value. Indexes
    need not be consecutive (a removed condition leaves a gap)."""
    indexes: dict[int, set[int]] = {}
    for name in data:
        parts = name.split("-")
        if len(parts) == 3 and parts[0][:1] == "g" and parts[1][:1] == "c":
            try:
                indexes.setdefault(int(parts[0][1:]), set()).add(int(parts[1][1:]))
            except ValueError:
                continue
        elif len(parts) == 2 and parts[0][:1] == "g" and parts[1] == "join":
            try:
                indexes.setdefault(int(parts[0][1:]), set())
            except ValueError:
                continue
    groups = []
    for g in sorted(indexes)[:MAX_GROUPS]:
        conditions = [
            Condition(
                str(data.get(f"g{g}-c{c}-field", "")).strip(),
                str(data.get(f"g{g}-c{c}-op", "")).strip(),
                str(data.get(f"g{g}-c{c}-value", "")).strip(),
            )
            for c in sorted(indexes[g])[:MAX_CONDITIONS]
        ]
        groups.append(Group(_join(data.get(f"g{g}-join")), conditions))
    return Rules(_join(data.get("join")), groups)


def _fields_by_key(user: Any) -> dict[str, SegmentField]:
    return {f.key: f for f in segment_fields(user)}


def rules_check(rules: Rules, *, user: Any = None) -> list[tuple[Condition, SegmentField, Any]]:
    """Check every condition (setting its `error`) and return the good ones with their field and
    cleaned value. A user may only use fields offered to them (segment_fields(user))."""
    fields = _fields_by_key(user)
    checked = []
    for g_number, group in enumerate(rules.groups, start=1):
        for c_number, condition in enumerate(group.conditions, start=1):
            place = _("Group %(g)d, condition %(c)d") % {"g": g_number, "c": c_number}
            condition.error = ""
            segment_field = fields.get(condition.field)
            if segment_field is None:
                hidden = user is not None and _fields_by_key(None).get(condition.field)
                if not condition.field:
                    what = _("choose what to test.")
                elif hidden:
                    what = _("you may not test “%(field)s”.") % {"field": hidden.label}
                else:
                    what = _("“%(field)s” can no longer be tested.") % {"field": condition.field}
                condition.error = f"{place}: {what}"
                continue
            if condition.op not in segment_field.operators:
                condition.error = f"{place}: {segment_field.label}: " + _("choose how to compare.")
                continue
            try:
                value = value_clean(segment_field, condition.op, condition.value)
            except ValidationError as error:
                condition.error = f"{place}: {segment_field.label}: {' '.join(error.messages)}"
                continue
            checked.append((condition, segment_field, value))
    return checked


def _joined(join: str, left: Q, right: Q) -> Q:
    return left & right if join == "and" else left | right


def rules_compile(rules: Rules, *, user: Any = None, as_of: datetime.date | None = None) -> Q:
    """One filter for the rules; ValidationError listing every mistake. Rules without any
    condition are refused: a segment of everybody is the customer list."""
    checked = rules_check(rules, user=user)
    if rules.errors:
        raise ValidationError(rules.errors)
    if not checked:
        raise ValidationError(_("Add at least one condition."))
    by_condition = {id(c): (f, v) for c, f, v in checked}
    combined: Q | None = None
    with evaluated_as_of(as_of):
        for group in rules.groups:
            inner: Q | None = None
            for condition in group.conditions:
                segment_field, value = by_condition[id(condition)]
                q = segment_field.to_q(condition.op, value)
                inner = q if inner is None else _joined(group.join, inner, q)
            if inner is None:
                continue
            combined = inner if combined is None else _joined(rules.join, combined, inner)
    assert combined is not None
    return combined


def segment_customers(
    rules: Rules, *, user: Any = None, as_of: datetime.date | None = None
) -> QuerySet[Customer]:
    """Every customer the rules match (erased customers never), unordered. With a user: only
    fields that user may test; the caller adds the user's record scope."""
    return (
        Customer.objects.filter(erased_at__isnull=True)
        .filter(rules_compile(rules, user=user, as_of=as_of))
        .order_by()
    )


def operator_label(op: str) -> str:
    return str(OPERATORS.get(op, op))


def condition_text(
    condition: Condition, fields: Mapping[str, SegmentField], *, may_see: bool = True
) -> str:
    """A condition in words, for the segment's page ("City is 上海"). The value compared with a
    personal field is masked for a reader who may not see personal data."""
    segment_field = fields.get(condition.field)
    label = str(segment_field.label) if segment_field else condition.field
    shown = condition.value
    if segment_field is not None and segment_field.personal and not may_see:
        shown = MASK * 3
    elif segment_field is not None and segment_field.choices is not None:
        shown = dict(segment_field.choices()).get(condition.value, condition.value)
    if condition.op in UNARY:
        return f"{label} {operator_label(condition.op)}"
    return f"{label} {operator_label(condition.op)} {shown}"
