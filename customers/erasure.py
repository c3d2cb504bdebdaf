"""What customers hold about a person, registered as erasure holders (crm.lib.erasure), and the
one check every undo path calls so that nothing brings an erased customer back.

Holders registered here: the customer record itself, contacts, consent, timeline (with merge
entries on other customers that name the person), merge before-images, import before-images
(customers' import kinds write them) and the audit entries of every audited table that
mention the person. crm.transfer registers its files itself (crm.transfer.erasure)."""

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm.accounts.audit import (
    audit_redact,
    audit_redact_between,
    audit_redact_mentions,
    audited_tables,
    columns_referencing,
)
from crm.lib.contacts import name_sort_key
from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from customers import schema
from customers.models import (
    ConsentEvent,
    Customer,
    CustomerEmail,
    CustomerMerge,
    CustomerPhone,
    Interaction,
    SavedView,
)

# How long a merge's transaction may run before it stamps the merge: its audit entries are
# dated from the transaction's start.
MERGE_TRANSACTION_MAX = datetime.timedelta(minutes=10)

# --- the one check for every undo ------------------------------------------------------------


def customer_erased_blocker(ids: Iterable[int]) -> str | None:
    """Why an undo touching these customers is refused ("Customer #12 was erased on …"), or
    None. Every undo (merge revert, import undo, and any later app's) calls it with the ids of
    the customers whose records it would restore, give rows back to, or remove, before it
    writes anything: no undo may bring an erased customer back. A merged-away id that was part
    of an erased person is known from the merge that names it."""
    wanted = {int(i) for i in ids if i is not None}
    if not wanted:
        return None
    erased = (
        Customer.objects.filter(pk__in=wanted, erased_at__isnull=False)
        .order_by("pk")
        .values_list("pk", "erased_at")
        .first()
    )
    if erased is None:
        merge = (
            CustomerMerge.objects.filter(dropped_id__in=wanted, before__has_key="erased_at")
            .order_by("pk")
            .first()
        )
        if merge is None:
            return None
        erased = (merge.dropped_id, merge.before["erased_at"])
    pk, when = erased
    if isinstance(when, str):
        when = datetime.datetime.fromisoformat(when)
    return _(
        "Customer #%(id)d was erased on %(date)s; an erased customer cannot be brought back."
    ) % {"id": pk, "date": formats.date_format(timezone.localtime(when), "SHORT_DATE_FORMAT")}


def person_ids(customer_id: int) -> tuple[int, ...]:
    """The erased record and every record merged into it (and into those), not reverted: one
    person whose data now lives in the kept record and in copies kept for the merges."""
    found = {customer_id}
    frontier = {customer_id}
    while frontier:
        merged = set(
            CustomerMerge.objects.filter(
                kept_id_value__in=frontier, reverted_at__isnull=True
            ).values_list("dropped_id", flat=True)
        )
        frontier = merged - found
        found |= frontier
    return tuple(sorted(found))


# --- holders -------------------------------------------------------------------------------


def _erase_record(erasure: Erasure) -> None:
    # The row stays, for the orders that point at it; updated_at moves so that every guard
    # that compares it (merge revert's) sees the change.
    for pk in erasure.customer_ids:
        name = f"Erased customer #{pk}"
        Customer.objects.filter(pk=pk).update(
            # What identifies the person (customers.schema), the name as a stand-in.
            **schema.erased_values()
            | {"name": name, "name_sort": name_sort_key(name), "custom": {}},
            erased_at=erasure.at,
            updated_at=erasure.at,
        )


def _erase_contacts(erasure: Erasure) -> None:
    CustomerPhone.objects.filter(customer__in=erasure.customer_ids).delete()
    CustomerEmail.objects.filter(customer__in=erasure.customer_ids).delete()


def _erase_consent(erasure: Erasure) -> None:
    ConsentEvent.objects.filter(customer__in=erasure.customer_ids).delete()


def _erase_timeline(erasure: Erasure) -> None:
    Interaction.objects.filter(customer__in=erasure.customer_ids).delete()
    # A merge's entry on the kept customer names the merged one ("Merged with 陈静 (#12)"): when
    # the merged one is the person (the merge was reverted, or the kept one is someone else's
    # record), the entry stays with the name taken out.
    for merge in CustomerMerge.objects.filter(dropped_id__in=erasure.customer_ids):
        entry = merge.before.get("timeline_entry")
        if entry:
            Interaction.objects.filter(pk=entry).exclude(customer__in=erasure.customer_ids).update(
                title=_("Merged with an erased customer (#%(id)d)") % {"id": merge.dropped_id}
            )


def _erase_merge_images(erasure: Erasure) -> None:
    # Both sides' before-images go; what is left says who was erased and when, which is what
    # merge revert and the history page read to refuse (an image cannot be restored anyway).
    ids = erasure.customer_ids
    for merge in CustomerMerge.objects.filter(
        dropped_id__in=ids, reverted_at__isnull=False
    ).exclude(kept_id_value__in=ids):
        # The person was merged into someone else's record and that was undone: the other
        # record held the person's values meanwhile, and its audit entries of that time say so.
        # The merge's own entries are stamped when its transaction began, a little earlier.
        if merge.reverted_at is None:  # excluded above; for the type checker
            continue
        audit_redact_between(
            table_name=Customer._meta.db_table,
            record_id=str(merge.kept_id_value),
            start=merge.merged_at - MERGE_TRANSACTION_MAX,
            end=merge.reverted_at,
        )
    for merge in CustomerMerge.objects.filter(kept_id_value__in=ids) | CustomerMerge.objects.filter(
        dropped_id__in=ids
    ):
        sides = [
            side
            for side, pk in (("kept", merge.kept_id_value), ("dropped", merge.dropped_id))
            if pk in ids
        ]
        merge.before = {
            "erased_sides": sides,
            "erased_at": erasure.at.isoformat(),
            "timeline_entry": merge.before.get("timeline_entry"),
        }
        merge.save(update_fields=["before"])


def _erase_import_images(erasure: Erasure) -> None:
    # What an import changed keeps its row (counts, undo's refusal); the before-image of the
    # person's record and contacts goes. Orders' images hold no personal data and stay.
    from crm.transfer.bulk import label_of
    from crm.transfer.models import ImportChange

    ImportChange.objects.filter(
        model=label_of(Customer), object_id__in=erasure.customer_ids
    ).exclude(before=None).update(before=None)


def _erase_saved_views(erasure: Erasure) -> None:
    """Saved customer lists whose search, filter or name gives the person's name, email or
    phone lose that part (and are renamed)."""
    for view in SavedView.objects.only("id", "user_id", "name", "query"):
        query = erasure.scrubbed_query(view.query)
        named = erasure.mentioned_in(view.name)
        if query == view.query and not named:
            continue
        name = view.name
        if named:
            name = f"Saved view #{view.pk}"
            if (
                SavedView.objects.filter(user_id=view.user_id, name=name)
                .exclude(pk=view.pk)
                .exists()
            ):
                name = f"{name} ({erasure.at:%Y%m%d%H%M%S})"
        SavedView.objects.filter(pk=view.pk).update(query=query, name=name)


def _erase_list_cache(_erasure: Erasure) -> None:
    """Rendered list pages are kept in Redis under a data version the erasure moves on, so
    they are never served again; they are deleted once it commits, not left to expire (a
    page rendered before the commit, still under the old version, goes with them)."""
    from customers.list_cache import list_cache_forget

    transaction.on_commit(list_cache_forget)


# Audited columns that name a customer without a foreign key (a merge keeps ids of records that
# no longer exist). Foreign keys to customers_customer are found in the database.
_AUDIT_MENTIONS: dict[str, tuple[str, ...]] = {}


def erasure_audit_mentions_register(table: str, *columns: str) -> None:
    """Columns of an audited table that hold a customer's id without a foreign key."""
    _AUDIT_MENTIONS[table] = tuple(sorted(set(_AUDIT_MENTIONS.get(table, ())) | set(columns)))


def audit_mention_columns() -> dict[str, list[str]]:
    """For every audited table, the columns whose value is a customer id (empty list: the
    table's rows never name a customer)."""
    customer_table = Customer._meta.db_table
    found: dict[str, list[str]] = {}
    for table in audited_tables():
        columns = set(columns_referencing(table, customer_table)) | set(
            _AUDIT_MENTIONS.get(table, ())
        )
        if table == customer_table:
            columns.add("id")
        found[table] = sorted(columns)
    return found


def _erase_audit_values(erasure: Erasure) -> None:
    values = [str(pk) for pk in erasure.customer_ids]
    for table, columns in audit_mention_columns().items():
        if table == Customer._meta.db_table:
            # The record's own entries, by the indexed record id.
            audit_redact(table_name=table, record_ids=values)
            columns = [c for c in columns if c != "id"]
        audit_redact_mentions(table_name=table, columns=columns, values=values)


def register() -> None:
    erasure_audit_mentions_register("customers_customermerge", "dropped_id", "kept_id_value")
    for holder in (
        ErasureHolder(
            "customers.record",
            _erase_record,
            "name, birthday, gender, language, address, tags, notes, external id,"
            " custom field values",
            order=10,
        ),
        ErasureHolder("customers.contacts", _erase_contacts, "phone numbers and emails", 20),
        ErasureHolder("customers.consent", _erase_consent, "consent history", 20),
        ErasureHolder(
            "customers.timeline",
            _erase_timeline,
            "timeline entries; the name in merge entries on other customers",
            20,
        ),
        ErasureHolder(
            "customers.merge_images",
            _erase_merge_images,
            "before-images of merges the person was part of (either side)",
            30,
        ),
        ErasureHolder(
            "customers.import_images",
            _erase_import_images,
            "before-images imports kept of the person's record and contacts",
            30,
        ),
        ErasureHolder(
            "customers.saved_views",
            _erase_saved_views,
            "saved customer lists searching for the person's name, email or phone",
            30,
        ),
        ErasureHolder(
            "customers.list_cache",
            _erase_list_cache,
            "the customer list's cached pages (deleted once the erasure commits)",
            95,
        ),
        ErasureHolder(
            "customers.audit_values",
            _erase_audit_values,
            "values in audit entries of every audited table that mention the person",
            90,
        ),
    ):
        erasure_holder_register(holder)
