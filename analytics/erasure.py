"""Segments as a holder of personal data (crm.lib.erasure): a segment's name, description or a
rule's value can name a person ("Name contains 张三", "VIP 张三"). Erasing that person renames
such a segment "Segment #id", blanks its description, and gives each condition that named them
the value ERASED, which no customer matches, so the segment never widens to more customers than
it had; its audit entries (which copy the rules) are redacted. The segment's membership holds
customer ids only and is rebuilt at the next refresh."""

from typing import Any

from crm.accounts.audit import audit_redact
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register

ERASED = "•erased"


def _rules_scrubbed(rules: Any, erasure: Erasure) -> Any:
    """`rules` with every condition value naming the person replaced (the same object when
    none does)."""
    changed = False
    groups = []
    for group in (rules or {}).get("groups", []):
        conditions = []
        for condition in group.get("conditions", []):
            value = condition.get("value", "")
            if isinstance(value, str) and erasure.mentioned_in(value):
                condition = {**condition, "value": ERASED}
                changed = True
            conditions.append(condition)
        groups.append({**group, "conditions": conditions})
    return {**rules, "groups": groups} if changed else rules


def _erase_segments(erasure: Erasure) -> None:
    from analytics.models_segments import Segment

    touched = []
    for segment in Segment.objects.only("id", "name", "description", "rules"):
        rules = _rules_scrubbed(segment.rules, erasure)
        named = erasure.mentioned_in(segment.name)
        described = erasure.mentioned_in(segment.description)
        if rules is segment.rules and not (named or described):
            continue
        name = segment.name
        if named:
            name = f"Segment #{segment.pk}"
            if Segment.objects.filter(name=name).exclude(pk=segment.pk).exists():
                name = f"{name} ({erasure.at:%Y%m%d%H%M%S})"
        Segment.objects.filter(pk=segment.pk).update(
            rules=rules,
            name=name,
            description="" if described else segment.description,
        )
        touched.append(str(segment.pk))
    if touched:
        audit_redact(table_name=Segment._meta.db_table, record_ids=touched)


def register() -> None:
    erasure_holder_register(
        ErasureHolder(
            "analytics.segments",
            _erase_segments,
            "segment names, descriptions and rule values that name the person",
            order=30,
        )
    )
