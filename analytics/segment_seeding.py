"""Demo data: a few dynamic segments a shop's marketer would keep, made before the analytics
seeder's refresh rebuilds their members. Safe twice: a segment of the same name is left as it is."""

import random

from analytics.models_segments import Segment
from analytics.segment_rules import rules_from_json
from analytics.segment_services import segment_save
from crm.tenants.seeding import SeedOptions


def _condition(field: str, op: str, value: str = "") -> dict[str, str]:
    return {"field": field, "op": op, "value": value}


def _rules(*conditions: dict[str, str], join: str = "and") -> dict[str, object]:
    return {"join": "and", "groups": [{"join": join, "conditions": list(conditions)}]}


DEMO_SEGMENTS = {
    "VIP 上海": _rules(_condition("city", "eq", "上海"), _condition("spent", "gte", "2000")),
    "Regulars (5+ orders)": _rules(_condition("orders", "gte", "5")),
    "Champions": _rules(_condition("rfm_segment", "eq", "champions")),
    "Slipping away": _rules(
        _condition("churn_flag", "present"), _condition("p_alive", "lte", "30"), join="or"
    ),
    "Unhappy lately": _rules(_condition("feedback_detractor", "within_days", "90")),
}


def segments_seed(rng: random.Random, options: SeedOptions) -> str:
    made = 0
    for name, rules in DEMO_SEGMENTS.items():
        if Segment.objects.filter(name=name).exists():
            continue
        segment_save(actor=None, segment=Segment(name=name), rules=rules_from_json(rules))
        made += 1
    return f"{made} segments made, {len(DEMO_SEGMENTS)} in all"
