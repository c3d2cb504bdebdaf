"""Survey pages for staff: reports and comments ("see reports"), settings and NPS sends
("manage surveys and care messages"). The public answer page is support.feedback_public."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can, capability_required
from crm.transfer.exporting import InvalidFilter
from support import feedback_selectors, feedback_services
from support.feedback_forms import CommentFilterForm, FeedbackSettingsForm, ReportForm, SendForm
from support.models_feedback import SurveySend


def _nav(user: Any) -> dict[str, Any]:
    return {
        "nav_section": "support",
        "can_reports": can(user, cap.REPORTS),
        "can_engage": can(user, cap.ENGAGEMENT),
    }


@capability_required(cap.REPORTS)
def reports(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    form = ReportForm(request.GET or None)
    since, until = form.period()
    if not form.is_bound:
        # Show the period the report covers in the inputs.
        form = ReportForm(initial={"since": since, "until": until})
    return render(
        request,
        "support/feedback/reports.html",
        {
            **_nav(user),
            "subnav": "reports",
            "form": form,
            "report": feedback_selectors.feedback_report(user, since=since, until=until),
        },
    )


@capability_required(cap.REPORTS)
def comments(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    form = CommentFilterForm(request.GET or None)
    values: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    query = feedback_selectors.CommentQuery(
        kind=values.get("kind") or "",
        detractors_only=bool(values.get("detractors")),
        text=values.get("q") or "",
        since=values.get("since"),
        until=values.get("until"),
    )
    after = request.GET.get("after", "")
    page = feedback_selectors.comment_page(
        user, query, after=int(after) if after.isdigit() and len(after) < 19 else None
    )
    next_query = None
    if page.next_after:
        params = request.GET.copy()
        params["after"] = str(page.next_after)
        next_query = params.urlencode()
    return render(
        request,
        "support/feedback/comments.html",
        {**_nav(user), "subnav": "comments", "form": form, "page": page, "next_query": next_query},
    )


@capability_required(cap.ENGAGEMENT)
def feedback_settings(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    current = feedback_selectors.feedback_settings()
    form = FeedbackSettingsForm(
        request.POST or None,
        initial={
            "csat_on_resolve": current.csat_on_resolve,
            "ces_on_resolve": current.ces_on_resolve,
            "resolve_delay_minutes": current.resolve_delay_minutes,
            "expiry_days": current.expiry_days,
            "fatigue_days": current.fatigue_days,
            "complaint_keywords": "\n".join(current.complaint_keywords),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            feedback_services.feedback_settings_save(
                actor=user,
                csat_on_resolve=data["csat_on_resolve"],
                ces_on_resolve=data["ces_on_resolve"],
                resolve_delay_minutes=data["resolve_delay_minutes"],
                expiry_days=data["expiry_days"],
                fatigue_days=data["fatigue_days"],
                complaint_keywords=form.keywords(),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("Survey settings saved."))
            return redirect("support:feedback_settings")
    return render(
        request,
        "support/feedback/settings.html",
        {**_nav(user), "subnav": "settings", "form": form},
    )


@capability_required(cap.ENGAGEMENT)
def sends(request: HttpRequest) -> HttpResponse:
    """The NPS sends, and a new one: first counted (who matches, who may be asked), then
    sent once the sender confirms the count."""
    user = acting_user(request)
    initial = {"audience_query": request.GET.get("audience", "")}
    form = SendForm(request.POST or None, initial=initial)
    counted = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if request.POST.get("confirm") == "1":
                send = feedback_services.survey_send_create(
                    actor=user,
                    name=data["name"],
                    audience_query=data["audience_query"],
                    external_ids=data["external_ids"],
                )
                messages.success(request, _("The survey is on its way."))
                return redirect("support:feedback_send", pk=send.pk)
            counted = feedback_selectors.audience_count(
                user, audience_query=data["audience_query"], external_ids=data["external_ids"]
            )
        except InvalidFilter as exc:
            form.add_error("audience_query", str(exc))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
    return render(
        request,
        "support/feedback/sends.html",
        {
            **_nav(user),
            "subnav": "sends",
            "form": form,
            "counted": counted,
            "fatigue_days": feedback_selectors.feedback_settings().fatigue_days,
            "sends": feedback_selectors.sends_recent(),
        },
    )


def _send_or_404(pk: int) -> SurveySend:
    send = SurveySend.objects.select_related("created_by").filter(pk=pk).first()
    if send is None:
        raise Http404
    return send


@capability_required(cap.ENGAGEMENT)
def send_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    progress = feedback_selectors.send_progress(_send_or_404(pk))
    return render(
        request,
        "support/feedback/send_detail.html",
        {**_nav(user), "subnav": "sends", "progress": progress},
    )


@capability_required(cap.ENGAGEMENT)
def send_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress panel alone, polled by htmx while the send runs."""
    progress = feedback_selectors.send_progress(_send_or_404(pk))
    return render(request, "support/feedback/_send_progress.html", {"progress": progress})
