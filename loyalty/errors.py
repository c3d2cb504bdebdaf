"""Refusals callers handle by type (the API answers 409 for InsufficientPoints)."""

from django.utils.translation import gettext as _


class InsufficientPoints(Exception):
    """The balance does not cover what was asked; nothing was written."""

    def __init__(self, *, balance: int, wanted: int) -> None:
        self.balance = balance
        self.wanted = wanted
        super().__init__(
            _("Not enough points: the balance is %(balance)d, %(wanted)d were asked for.")
            % {"balance": balance, "wanted": wanted}
        )
