"""The places that hold a person's data, so that erasing a customer reaches every copy.

Each app that keeps personal data about customers (their rows, before-images kept for undo,
audit values, files) registers an ErasureHolder from its AppConfig.ready. customers.privacy's
customer_erase calls every holder, in `order`, inside the erasure's transaction.

The registry lives here, below every app, because holders come from apps on both sides of
customers: crm.transfer (files of imports and exports) sits below customers and may not import
it; support, loyalty and later apps sit above. This module imports no app.

Rules for a holder:
- it gets an Erasure (the ids of the person's customer records, and when the erasure happens)
  and removes or redacts what it holds about those ids, in the current transaction;
- files are removed in that transaction too, as its last step (see crm.transfer.erasure), so a
  committed erasure never leaves a file behind; a rollback after that may cost files that are
  only ever copies (exports, rejected-row reports, uploads), never a record;
- it must make any undo it owns impossible for those ids (customers.erasure.
  customer_erased_blocker is the one check every undo path calls);
- tests/customers/test_erasure_complete.py plants a value in every registered holder and
  fails for a holder it does not know: a new holder comes with its planting there."""

import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

# Fewer digits than this in a search are not a phone number (a ticket number, a year).
PHONE_DIGITS_AT_LEAST = 7
# A name shorter than this names nobody in particular (one character: 李, a surname).
NAME_CHARS_AT_LEAST = 2
# A name is found where it is not part of a longer Latin word or number: "Li" in "li mei", not
# in "Oliver"; "Al" not in "All leads" or "potential". Chinese is written without spaces, so
# "李梅" is found in "客户李梅投诉".
_NAME_EDGE = "[a-z0-9]"


def _name_in(name: str, text: str) -> bool:
    pattern = f"(?<!{_NAME_EDGE}){re.escape(name)}(?!{_NAME_EDGE})"
    return re.search(pattern, text) is not None


@dataclass(frozen=True)
class Erasure:
    """One erasure: the person's customer ids (the erased record and every record merged into
    it), the moment it happens, and what identified the person just before it (names, emails,
    E.164 phones), read before any holder runs, for holders that look for the person in free
    text: a saved search, an export's filter."""

    customer_ids: tuple[int, ...]
    at: datetime.datetime
    names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def mentioned_in(self, text: str) -> bool:
        """Whether free text (a search box, a saved view's name) gives one of the person's
        names, emails or phone numbers. Phones match on digits, so "158 6661 0550" finds
        +8615866610550; a name matches case-folded, where it is not inside a longer Latin
        word or number (_NAME_EDGE)."""
        folded = text.strip().casefold()
        if not folded:
            return False
        if any(email.casefold() in folded for email in self.emails if email):
            return True
        if any(
            len(name.strip()) >= NAME_CHARS_AT_LEAST and _name_in(name.strip().casefold(), folded)
            for name in self.names
        ):
            return True
        for run in re.findall(r"\d[\d\s().+-]*\d", folded):
            digits = re.sub(r"\D", "", run)
            if len(digits) >= PHONE_DIGITS_AT_LEAST and any(
                digits in re.sub(r"\D", "", phone) for phone in self.phones
            ):
                return True
        return False

    def scrubbed_query(self, query: str) -> str:
        """A saved list query (a URL query string) without the parameters whose value gives
        the person away; `query` itself when none does."""
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [
            (key, value)
            for key, value in pairs
            if not (self.mentioned_in(value) or self.mentioned_in(key))
        ]
        return query if len(kept) == len(pairs) else urlencode(kept)


@dataclass(frozen=True)
class ErasureHolder:
    name: str  # unique, e.g. "customers.contacts"
    erase: Callable[[Erasure], None]
    # What it removes, in a few words (for the README's list and the admin's reference).
    removes: str
    # Lower runs first. The audit holder runs last (90) so it also reaches entries the other
    # holders' changes wrote; file holders run at 80, after every database change.
    order: int = 50


_HOLDERS: dict[str, ErasureHolder] = {}


def erasure_holder_register(holder: ErasureHolder) -> None:
    """Register (or replace, on a reload) a holder of personal data. Call from AppConfig.ready."""
    _HOLDERS[holder.name] = holder


def erasure_holders() -> list[ErasureHolder]:
    return sorted(_HOLDERS.values(), key=lambda h: (h.order, h.name))


# A customer erased: its id and when the record was created (ids repeat between copies of a
# tenant that went their own way; the pair does not).
ErasedRecord = tuple[int, datetime.datetime]

# Erasing again what an archive restored from before an erasure holds (crm.tenants.erasures).
# The customers app sets it: only it knows how to erase a customer.
_REPLAYER: list[Callable[[Sequence[ErasedRecord]], int]] = []


def erasure_replayer_set(replayer: Callable[[Sequence[ErasedRecord]], int]) -> None:
    """Set the function that erases the given records where they exist (same id, same creation
    time) and are not erased yet, returning how many it erased. Call from AppConfig.ready."""
    _REPLAYER[:] = [replayer]


def erasure_replay(records: Sequence[ErasedRecord]) -> int:
    if not _REPLAYER:
        raise RuntimeError("no erasure replayer is set (the customers app is not installed)")
    return _REPLAYER[0](records)
