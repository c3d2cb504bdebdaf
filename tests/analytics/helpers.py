"""Builders for the analytics tests: customers, orders, tickets and segments through services."""

from typing import Any

from analytics.models_segments import Segment
from analytics.segment_rules import rules_from_json
from analytics.segment_services import segment_save


def rules(*groups: list[tuple[str, str, Any]], join: str = "and", inner: str = "and") -> dict:
    """{"join": join, "groups": [...]} from groups of (field, op, value)."""
    return {
        "join": join,
        "groups": [
            {
                "join": inner,
                "conditions": [
                    {"field": f, "op": o, "value": "" if v is None else str(v)} for f, o, v in g
                ],
            }
            for g in groups
        ],
    }


def segment(name: str, data: dict, actor: Any = None) -> Segment:
    return segment_save(actor=actor, segment=Segment(name=name), rules=rules_from_json(data))


def form_data(data: dict, **extra: str) -> dict[str, str]:
    """The builder's POST fields for rules given as JSON."""
    post = {"join": data["join"], **extra}
    for g, group in enumerate(data["groups"]):
        post[f"g{g}-join"] = group["join"]
        for c, condition in enumerate(group["conditions"]):
            for part in ("field", "op", "value"):
                post[f"g{g}-c{c}-{part}"] = condition[part]
    return post
