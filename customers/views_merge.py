"""Duplicates pages: the queue of possible duplicates, the compare-and-merge page, and the
history of merges with their undo."""

import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can, capability_required
from crm.lib.redirects import local_url
from customers import duplicates, merge, schema, selectors
from customers.erasure import customer_erased_blocker
from customers.models import Customer, CustomerMerge, DuplicatePair


def _pair_or_404(request: HttpRequest, pk: int) -> DuplicatePair:
    visible = selectors.visible_customers(request.user)
    pair = duplicates.open_pairs(visible).filter(pk=pk).first()
    if pair is None:
        raise Http404
    return pair


def _refresh_display() -> dict[str, object]:
    state = duplicates.refresh_state()
    return {
        "running": bool(state.get("running")),
        "last": datetime.datetime.fromisoformat(state["last"]) if state.get("last") else None,
    }


@capability_required(cap.CHANGE)
def duplicates_queue(request: HttpRequest) -> HttpResponse:
    after = None
    raw = request.GET.get("after", "")
    if raw:
        try:
            score, pk = (int(x) for x in raw.split("-", 1))
            after = (score, pk)
        except ValueError:
            after = None
    rows, next_key = duplicates.queue_page(selectors.visible_customers(request.user), after=after)
    return render(
        request,
        "customers/duplicates.html",
        {
            "rows": rows,
            "next_after": f"{next_key[0]}-{next_key[1]}" if next_key else "",
            "refresh": _refresh_display(),
            "can_merge": can(request.user, cap.PERSONAL_DATA),
        },
    )


@capability_required(cap.CHANGE)
@require_POST
def duplicates_refresh(request: HttpRequest) -> HttpResponse:
    from customers.tasks import duplicates_refresh_task

    previous = duplicates.refresh_state()
    duplicates.refresh_state_set(running=timezone.now().isoformat(), last=previous.get("last", ""))
    transaction.on_commit(lambda: duplicates_refresh_task.delay())
    messages.success(request, _("Looking for duplicates. Reload this page in a minute."))
    return redirect("customers:duplicates")


@capability_required(cap.CHANGE)
@require_POST
def duplicate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    pair = _pair_or_404(request, pk)
    merge.duplicate_pair_dismiss(actor=acting_user(request), pair=pair)
    messages.success(request, _("Marked as not duplicates."))
    return redirect("customers:duplicates")


def _field_rows(keep: Customer, drop: Customer, chosen: dict[str, str]) -> list[dict[str, object]]:
    from customers.custom_fields import field_definitions

    labels = {d.key: d.label for d in field_definitions()} if hasattr(keep, "custom") else {}
    rows = []
    for name in merge.merge_field_names(keep, drop):
        if name.startswith("custom:"):
            key = name[7:]
            label = labels.get(key, key)
            kept_value = (keep.custom or {}).get(key)
            dropped_value = (drop.custom or {}).get(key)
        else:
            label = str(schema.label(name))
            display = f"get_{name}_display"
            kept_value = getattr(keep, display)() if hasattr(keep, display) else getattr(keep, name)
            dropped_value = (
                getattr(drop, display)() if hasattr(drop, display) else getattr(drop, name)
            )
        rows.append(
            {
                "name": name,
                "label": label,
                "kept": kept_value if kept_value not in (None, "") else "",
                "dropped": dropped_value if dropped_value not in (None, "") else "",
                "choice": chosen.get(name, "left"),
            }
        )
    return rows


@capability_required(cap.CHANGE)
def customer_merge_page(request: HttpRequest, a: int, b: int) -> HttpResponse:
    # Merging means choosing between values: whoever may not see them may not merge.
    if not can(request.user, cap.PERSONAL_DATA):
        raise PermissionDenied
    visible = selectors.visible_customers(request.user).select_related("owner", "team")
    found = {c.pk: c for c in visible.filter(pk__in=[a, b], erased_at__isnull=True)}
    if a == b or len(found) != 2:
        raise Http404
    # The page shows `a` on the left and `b` on the right; radios say "left" or "right".
    left, right = found[a], found[b]
    fields = merge.merge_field_names(left, right)
    sides = {
        f: ("left" if c == "kept" else "right")
        for f, c in merge.default_choices(left, right, fields).items()
    }
    keep_id = a
    error = ""
    if request.method == "POST":
        if request.POST.get("keep") == str(b):
            keep_id = b
        for name in fields:
            value = request.POST.get(f"f-{name}")
            if value in ("left", "right"):
                sides[name] = value
        keep, drop = (left, right) if keep_id == a else (right, left)
        kept_side = "left" if keep_id == a else "right"
        chosen = {f: "kept" if side == kept_side else "dropped" for f, side in sides.items()}
        try:
            done = merge.customer_merge(
                actor=acting_user(request), keep=keep, drop=drop, chosen=chosen
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("Merged. You can undo this from the merge history."))
            return redirect("customers:detail", pk=done.kept_id_value)
    return render(
        request,
        "customers/merge.html",
        {
            "left": left,
            "right": right,
            "keep_id": keep_id,
            "rows": _field_rows(left, right, sides),
            "left_phones": list(left.phones.all()),
            "right_phones": list(right.phones.all()),
            "left_emails": list(left.emails.all()),
            "right_emails": list(right.emails.all()),
            "left_orders": left.orders.count(),
            "right_orders": right.orders.count(),
            "error": error,
        },
        status=400 if error else 200,
    )


@capability_required(cap.CHANGE)
def merges_history(request: HttpRequest) -> HttpResponse:
    visible = selectors.visible_customers(request.user)
    merges = (
        CustomerMerge.objects.filter(kept_id_value__in=visible.values("pk"))
        .select_related("actor", "reverted_by")
        .order_by("-merged_at", "-id")[:100]
    )
    rows = []
    for item in merges:
        dropped = item.before.get("dropped", [{}])[0].get("fields", {})
        kept = item.before.get("kept", [{}])[0].get("fields", {})
        # An erasure left only who was erased and when: say so instead of offering Revert.
        erased = (
            customer_erased_blocker([item.kept_id_value, item.dropped_id])
            if "erased_at" in item.before
            else None
        )
        gone = item.before.get("erased_sides", [])
        rows.append(
            {
                "merge": item,
                "kept_name": kept.get("name", "")
                or (_("Erased customer") if "kept" in gone else ""),
                "dropped_name": dropped.get("name", "")
                or (_("Erased customer") if "dropped" in gone else ""),
                "erased": erased,
            }
        )
    return render(
        request,
        "customers/merges.html",
        {"rows": rows, "can_revert": can(request.user, cap.PERSONAL_DATA)},
    )


@capability_required(cap.CHANGE)
@require_POST
def merge_revert(request: HttpRequest, pk: int) -> HttpResponse:
    if not can(request.user, cap.PERSONAL_DATA):
        raise PermissionDenied
    visible = selectors.visible_customers(request.user)
    item = CustomerMerge.objects.filter(pk=pk, kept_id_value__in=visible.values("pk")).first()
    if item is None:
        raise Http404
    try:
        merge.customer_merge_revert(actor=acting_user(request), merge=item)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The merge was undone."))
    return redirect(local_url(request, request.POST.get("next", ""), reverse("customers:merges")))
