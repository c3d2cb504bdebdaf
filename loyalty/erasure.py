"""Erasing a customer keeps the amounts (the ledger is the business's record of what it owes)
but removes the text that may name or describe the person: entry notes, adjustment reasons,
redemption notes, and those values in the audit entries of the loyalty tables."""

from crm.accounts.audit import audit_redact
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from loyalty.models import Account, Adjustment, LedgerEntry, Redemption

ERASED_REASON = "•erased"
# Loyalty tables whose audit entries carry an account_id (and so belong to the person).
_AUDITED_BY_ACCOUNT = ("loyalty_ledgerentry", "loyalty_adjustment", "loyalty_redemption")


def _erase_loyalty_text(erasure: Erasure) -> None:
    accounts = list(
        Account.objects.filter(customer_id__in=erasure.customer_ids).values_list("pk", flat=True)
    )
    if not accounts:
        return
    LedgerEntry.objects.filter(account_id__in=accounts).exclude(note="").update(note="")
    Adjustment.objects.filter(account_id__in=accounts).update(reason=ERASED_REASON)
    Redemption.objects.filter(account_id__in=accounts).exclude(note="").update(note="")
    for table in _AUDITED_BY_ACCOUNT:
        for account in accounts:
            audit_redact(
                table_name=table, record_ids=[], owner_key="account_id", owner_id=str(account)
            )


def register() -> None:
    erasure_holder_register(
        ErasureHolder(
            "loyalty.text",
            _erase_loyalty_text,
            "notes of point entries and redemptions, reasons of adjustments, and their audit"
            " values (the amounts stay)",
            order=40,
        )
    )
