"""Segment pages: the list, the builder (new and edit, with a live count), a segment's members
and history, refresh and delete. Reading needs "see reports"; building "manage segments"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from analytics import segment_selectors
from analytics.models_segments import Segment
from analytics.segment_fields import OPERATORS, UNARY, SegmentField, segment_fields
from analytics.segment_rules import (
    MAX_CONDITIONS,
    MAX_GROUPS,
    Condition,
    Group,
    Rules,
    condition_text,
    rules_check,
    rules_from_form,
    rules_from_json,
)
from analytics.segment_services import segment_delete, segment_refresh, segment_save
from crm.accounts import capabilities as cap
from crm.accounts.masking import shown
from crm.accounts.permissions import (
    acting_user,
    can,
    can_view_personal_data,
    capability_required,
    record_scope,
)


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description"]


def _segment(pk: int) -> Segment:
    try:
        return Segment.objects.get(pk=pk)
    except Segment.DoesNotExist:
        raise Http404 from None


def _nav(request: HttpRequest, **context: Any) -> dict[str, Any]:
    return {
        "nav_section": "analytics",
        "can_manage_segments": can(request.user, cap.SEGMENTS),
        **context,
    }


@capability_required(cap.REPORTS)
def segment_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analytics/segment_list.html",
        _nav(
            request,
            segments=list(segment_selectors.segments_listed()),
            # The stored counts are tenant-wide: only for a reader who sees every customer,
            # as on a segment's own page.
            show_total=record_scope(request.user) == "all",
            subnav="segments",
        ),
    )


# --- the builder ------------------------------------------------------------------------------


def _apply_action(rules: Rules, action: str) -> int | None:
    """Change the rules as a builder button asks; the index of a group whose new condition
    should take the focus."""
    verb, _sep, where = action.partition(":")
    places = [int(p) for p in where.split(":") if p.isdigit()]
    if verb == "add_group" and len(rules.groups) < MAX_GROUPS:
        rules.groups.append(Group(conditions=[Condition()]))
        return len(rules.groups) - 1
    if verb == "add" and places and places[0] < len(rules.groups):
        group = rules.groups[places[0]]
        if len(group.conditions) < MAX_CONDITIONS:
            group.conditions.append(Condition())
        return places[0]
    if verb == "remove" and len(places) == 2 and places[0] < len(rules.groups):
        group = rules.groups[places[0]]
        if places[1] < len(group.conditions):
            del group.conditions[places[1]]
        if not group.conditions:
            del rules.groups[places[0]]
    return None


def _field_rows(fields: list[SegmentField]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The field choices grouped for <optgroup>s, in order."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for f in fields:
        grouped.setdefault(str(f.group), []).append((f.key, str(f.label)))
    return list(grouped.items())


def _condition_rows(rules: Rules, fields: list[SegmentField]) -> list[dict[str, Any]]:
    """What the builder draws for each group and condition: the chosen field's operators and
    the input its value needs."""
    by_key = {f.key: f for f in fields}
    groups = []
    for group in rules.groups:
        rows = []
        for condition in group.conditions:
            chosen = by_key.get(condition.field)
            operators = chosen.operators if chosen else ()
            op = condition.op if condition.op in operators else (operators[0] if operators else "")
            condition.op = op
            if op in UNARY:
                widget = "none"
            elif op == "within_days" or (chosen and chosen.kind == "number"):
                widget = "number"
            elif chosen and chosen.kind == "date":
                widget = "date"
            elif chosen and chosen.kind == "choice" and chosen.choices is not None:
                widget = "select"
            else:
                widget = "text"
            rows.append(
                {
                    "condition": condition,
                    "operators": [(o, str(OPERATORS[o])) for o in operators],
                    "widget": widget,
                    "choices": chosen.choices()
                    if widget == "select" and chosen and chosen.choices
                    else [],
                }
            )
        groups.append({"join": group.join, "rows": rows})
    return groups


def _count(request: HttpRequest, rules: Rules) -> dict[str, Any]:
    if not any(c.field for g in rules.groups for c in g.conditions):
        # Nothing chosen yet (a new segment): a hint, not an error in red.
        return {"count": None, "errors": [], "nothing_chosen": True}
    try:
        return {"count": segment_selectors.segment_live_count(request.user, rules), "errors": []}
    except ValidationError as error:
        return {"count": None, "errors": error.messages}


def _builder(
    request: HttpRequest,
    segment: Segment | None,
    form: SegmentForm,
    rules: Rules,
    *,
    focus: int | None = None,
    status: int = 200,
    show_errors: bool = True,
) -> HttpResponse:
    """The builder page. While the rules are being built (show_errors False) a condition not
    finished yet is not called a mistake; the live count says what is missing."""
    fields = segment_fields(request.user)
    groups = _condition_rows(rules, fields)
    count = _count(request, rules)
    if show_errors and rules.groups:
        rules_check(rules, user=request.user)
    else:
        for group in rules.groups:
            for condition in group.conditions:
                condition.error = ""
    context = _nav(
        request,
        segment=segment,
        form=form,
        rules=rules,
        groups=groups,
        field_rows=_field_rows(fields),
        focus=focus,
        max_groups=MAX_GROUPS,
        subnav="segments",
        **count,
    )
    return render(request, "analytics/segment_form.html", context, status=status)


def _edit(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    if request.method != "POST":
        form = SegmentForm(instance=segment)
        if segment is None:
            rules = Rules(groups=[Group(conditions=[Condition()])])
            return _builder(request, segment, form, rules, show_errors=False)
        # A stored rule that no longer checks (a field archived) is pointed out at once.
        return _builder(request, segment, form, rules_from_json(segment.rules))
    rules = rules_from_form(request.POST)
    action = request.POST.get("action", "save")
    if action != "save":
        # A builder button or a field changed (htmx redraws the rules): nothing is saved, and
        # the name is not checked yet.
        typed = {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
        }
        focus = _apply_action(rules, action)
        unchecked = SegmentForm(initial=typed, instance=segment)
        return _builder(request, segment, unchecked, rules, focus=focus, show_errors=False)
    form = SegmentForm(request.POST, instance=segment or Segment())
    if not form.is_valid():
        return _builder(request, segment, form, rules, status=400)
    try:
        saved = segment_save(actor=acting_user(request), segment=form.instance, rules=rules)
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, error.messages)
        return _builder(request, segment, form, rules, status=400)
    messages.success(
        request,
        _("Segment “%(name)s” saved: %(n)d members.")
        % {"name": saved.name, "n": saved.member_count},
    )
    return redirect("analytics:segment_detail", pk=saved.pk)


@capability_required(cap.SEGMENTS)
def segment_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@capability_required(cap.SEGMENTS)
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, _segment(pk))


@capability_required(cap.SEGMENTS)
@require_POST
def segment_count(request: HttpRequest) -> HttpResponse:
    """The builder's live count (htmx, while editing): the rules as they stand in the form."""
    rules = rules_from_form(request.POST)
    return render(request, "analytics/_segment_count.html", _count(request, rules))


# --- a segment --------------------------------------------------------------------------------


@capability_required(cap.REPORTS)
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(pk)
    after_text = request.GET.get("after", "")
    after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else None
    page = segment_selectors.segment_member_page(request.user, segment, after=after)
    user = request.user
    for customer in page.customers:
        customer.phone_shown = shown(user, "phone", customer.first_phone)
        customer.email_shown = shown(user, "email", customer.first_email)
    fields = {f.key: f for f in segment_fields()}
    rules = rules_from_json(segment.rules)
    may_see = can_view_personal_data(user)
    described = [
        {
            "join": g.join,
            "conditions": [condition_text(c, fields, may_see=may_see) for c in g.conditions],
        }
        for g in rules.groups
    ]
    list_url = reverse("customers:home") + "?" + urlencode({"segment": segment.pk})
    return render(
        request,
        "analytics/segment_detail.html",
        _nav(
            request,
            segment=segment,
            rules=rules,
            described=described,
            page=page,
            next_query=urlencode({"after": page.next_after}) if page.next_after else "",
            history=segment_selectors.segment_history(segment),
            show_total=record_scope(user) == "all",
            list_url=list_url,
            subnav="segments",
        ),
    )


@capability_required(cap.SEGMENTS)
@require_POST
def segment_refresh_now(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(pk)
    try:
        refresh = segment_refresh(actor=acting_user(request), segment=segment)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Refreshed: %(members)d members, %(joined)d joined, %(left)d left.")
            % {"members": refresh.members, "joined": refresh.joined, "left": refresh.left},
        )
    return redirect("analytics:segment_detail", pk=segment.pk)


@capability_required(cap.SEGMENTS)
@require_POST
def segment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(pk)
    segment_delete(actor=acting_user(request), segment=segment)
    messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
    return redirect("analytics:segments")
