"""Writes of the programme settings page (users with "manage loyalty"): the programme's rules,
tiers, earn rules and promotions, and the rewards catalogue. Each takes the record with the
form's values set, checks it against the model (its constraints included) and saves it; points
already earned are not recalculated (new rules apply to orders from now on)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.unique import clash_check, clash_refused
from loyalty.models import EarnRule, Programme, Reward, Tier


def _save(record: Model) -> None:
    record.full_clean()
    record.save()


@writes
@transaction.atomic
def programme_save(*, actor: User | None, programme: Programme) -> Programme:
    programme.pk = 1  # the tenant's one programme
    _save(programme)
    return programme


@writes
@transaction.atomic
def tier_save(*, actor: User | None, tier: Tier) -> Tier:
    def clash() -> ValidationError | None:
        others = Tier.objects.exclude(pk=tier.pk)
        if others.filter(name=tier.name).exists():
            return ValidationError({"name": _("Another tier has this name.")})
        if others.filter(position=tier.position).exists():
            return ValidationError({"position": _("Another tier has this place in the order.")})
        return None

    clash_check(clash)
    with clash_refused(clash):
        _save(tier)
    return tier


@writes
@transaction.atomic
def tier_delete(*, actor: User | None, tier: Tier) -> None:
    """Members of the tier keep no tier until the next evaluation places them again."""
    Tier.objects.filter(pk=tier.pk).delete()


@writes
@transaction.atomic
def earn_rule_save(*, actor: User | None, rule: EarnRule) -> EarnRule:
    _save(rule)
    return rule


@writes
@transaction.atomic
def reward_save(*, actor: User | None, reward: Reward) -> Reward:
    _save(reward)
    return reward


@writes
@transaction.atomic
def reward_active_set(*, actor: User | None, reward: Reward, active: bool) -> Reward:
    """Deactivated rewards stay for the redemptions that name them; the counter stops offering
    them."""
    Reward.objects.filter(pk=reward.pk).update(active=active)
    reward.active = active
    return reward
