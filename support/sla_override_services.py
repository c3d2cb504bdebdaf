"""Writes to the SLA overrides (support.models_slarep): keyword-only, typed, one transaction,
audited. A changed override applies to tickets opened (or whose customer or priority changes)
from then on; open tickets keep the targets they were given, as with SlaPolicy."""

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.columns import INT32_MAX, text_error
from crm.lib.unique import clash_check, clash_refused
from support.models import Priority, SlaOverride, SlaOverrideTarget
from support.sla_overrides import filter_check


def _clash(override: SlaOverride | None, key: str, value: str) -> ValidationError | None:
    taken = SlaOverride.objects.filter(filter_key=key, filter_value=value)
    if override is not None:
        taken = taken.exclude(pk=override.pk)
    if taken.exists():
        return ValidationError(
            {"filter_value": _("Another override already names these customers.")}
        )
    return None


@writes
@transaction.atomic
def sla_override_save(
    *,
    actor: User | None,
    override: SlaOverride | None,
    name: str,
    filter_key: str,
    filter_value: str,
    targets: Mapping[str, tuple[int, int] | None],
) -> SlaOverride:
    """Create or change an override: its name, the customer filter and value it picks
    customers by (checked with that filter's own field), and (first response, resolution)
    business minutes per priority; None leaves a priority to the standard targets."""
    name, filter_value = name.strip(), filter_value.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the override a name.")
    error = text_error(name, 100) or text_error(filter_value, 200)
    if error:
        errors["name" if text_error(name, 100) else "filter_value"] = error
    check = filter_check(filter_key, filter_value)
    if check.list_filter is None:
        errors["filter_key"] = _("Choose a customer filter from the list.")
    elif check.problem:
        errors["filter_value"] = check.problem
    given = {p: t for p, t in targets.items() if t is not None}
    if not given:
        errors["targets"] = _("Give targets for at least one priority.")
    for priority, (first, resolution) in given.items():
        if priority not in Priority.values:
            errors["targets"] = _("Unknown priority.")
        elif not (0 < first <= INT32_MAX and 0 < resolution <= INT32_MAX):
            errors["targets"] = _("Targets are whole minutes above zero.")
    if errors:
        raise ValidationError(errors)
    clash = lambda: _clash(override, filter_key, filter_value)  # noqa: E731
    clash_check(clash)
    if override is None:
        override = SlaOverride()
    override.name, override.filter_key, override.filter_value = name, filter_key, filter_value
    with clash_refused(clash):
        override.save()
    SlaOverrideTarget.objects.filter(override=override).exclude(priority__in=list(given)).delete()
    for priority, (first, resolution) in given.items():
        SlaOverrideTarget.objects.update_or_create(
            override=override,
            priority=priority,
            defaults={"first_response_minutes": first, "resolution_minutes": resolution},
        )
    return override


@writes
@transaction.atomic
def sla_override_delete(*, actor: User | None, override: SlaOverride) -> None:
    """Remove an override; tickets it was applied to keep their dues and say where they came
    from by the name kept with them."""
    override.delete()
