"""The counter: redeem from the customer's Points tab, the receipt, cancelling a redemption,
manual adjustments, the approvals queue and a member's full history."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can, capability_required
from customers.models import Customer
from customers.selectors import customer_for
from loyalty import counter_services, selectors_ui
from loyalty.errors import InsufficientPoints
from loyalty.forms import AdjustForm, RedeemForm
from loyalty.models import Account, Adjustment, Redemption, Reward


def _customer_or_404(request: HttpRequest, pk: int) -> Customer:
    try:
        return customer_for(request.user, pk)
    except Customer.DoesNotExist:
        raise Http404 from None


def _points_tab(customer: Customer) -> str:
    return reverse("customers:detail", kwargs={"pk": customer.pk}) + "#tab-points"


def _refusal(exc: Exception) -> str:
    if isinstance(exc, InsufficientPoints):
        return _("Not enough points: the balance is %(balance)d, %(wanted)d were asked for.") % {
            "balance": exc.balance,
            "wanted": exc.wanted,
        }
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _form_refusal(form: RedeemForm | AdjustForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@capability_required(cap.CHANGE)
@require_POST
def redeem(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    if customer.erased_at is not None:
        messages.error(request, _("This customer was erased."))
        return redirect(_points_tab(customer))
    # Any reward: one that ran out or ended since the page was drawn gets the service's own
    # refusal ("out of stock", "not valid today"), not "not a valid choice".
    form = RedeemForm(request.POST, rewards=Reward.objects.all())
    if not form.is_valid():
        messages.error(request, _form_refusal(form))
        return redirect(_points_tab(customer))
    try:
        redemption = counter_services.counter_redeem(
            actor=acting_user(request),
            customer=customer,
            points=form.cleaned_data["points"],
            reward=form.cleaned_data["reward"],
            note=form.cleaned_data["note"],
            idempotency_key=f"counter:{form.cleaned_data['key']}",
        )
    except (InsufficientPoints, ValidationError) as exc:
        messages.error(request, _refusal(exc))
        return redirect(_points_tab(customer))
    return redirect("loyalty:receipt", pk=redemption.pk)


@capability_required(cap.VIEW)
def receipt(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        redemption = selectors_ui.redemption_for(request.user, pk)
    except Redemption.DoesNotExist:
        raise Http404 from None
    return render(
        request,
        "loyalty/receipt.html",
        {
            "redemption": redemption,
            "customer": redemption.account.customer,
            "balance_after": selectors_ui.balance_after(redemption),
            "balance_now": redemption.account.balance,
            "can_cancel": can(request.user, cap.CHANGE)
            and redemption.status == Redemption.Status.COMPLETED,
            "nav_section": "loyalty",
        },
    )


@capability_required(cap.CHANGE)
@require_POST
def redemption_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        redemption = selectors_ui.redemption_for(request.user, pk)
    except Redemption.DoesNotExist:
        raise Http404 from None
    try:
        counter_services.counter_redemption_cancel(
            actor=acting_user(request), redemption=redemption
        )
    except (InsufficientPoints, ValidationError) as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(
            request,
            _("Redemption #%(id)d cancelled; %(points)d points are back on the balance.")
            % {"id": redemption.pk, "points": redemption.points},
        )
    return redirect("loyalty:receipt", pk=redemption.pk)


@capability_required(cap.CHANGE)
@require_POST
def adjust(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = AdjustForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_refusal(form))
        return redirect(_points_tab(customer))
    try:
        adjustment = counter_services.counter_adjust(
            actor=acting_user(request), customer=customer, **form.cleaned_data
        )
    except (InsufficientPoints, ValidationError) as exc:
        messages.error(request, _refusal(exc))
        return redirect(_points_tab(customer))
    if adjustment.status == Adjustment.Status.PENDING:
        messages.warning(
            request,
            _(
                "The adjustment of %(points)+d points is above the limit: it waits for a second "
                "user's approval."
            )
            % {"points": adjustment.points},
        )
    else:
        messages.success(
            request, _("Points adjusted by %(points)+d.") % {"points": adjustment.points}
        )
    return redirect(_points_tab(customer))


@capability_required(cap.POINTS_OVER_LIMIT)
def approvals(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "loyalty/approvals.html",
        {
            "pending": list(selectors_ui.pending_adjustments(request.user)[:200]),
            "decided": selectors_ui.recent_decisions(request.user),
            "me": request.user,
            "nav_section": "loyalty",
        },
    )


@capability_required(cap.POINTS_OVER_LIMIT)
@require_POST
def adjustment_decide(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        adjustment = selectors_ui.adjustment_for(request.user, pk)
    except Adjustment.DoesNotExist:
        raise Http404 from None
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, _("Choose to approve or to reject."))
        return redirect("loyalty:approvals")
    try:
        counter_services.counter_adjustment_decide(
            actor=acting_user(request), adjustment=adjustment, approve=decision == "approve"
        )
    except (InsufficientPoints, ValidationError) as exc:
        messages.error(request, _refusal(exc))
    else:
        if decision == "approve":
            messages.success(request, _("Adjustment approved and applied."))
        else:
            messages.success(request, _("Adjustment rejected."))
    return redirect("loyalty:approvals")


@capability_required(cap.VIEW)
def history(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    account = Account.objects.select_related("tier").filter(customer_id=customer.pk).first()
    page = selectors_ui.history_page(account, request.GET.get("page"))
    return render(
        request,
        "loyalty/history.html",
        {"customer": customer, "account": account, "page": page, "nav_section": "loyalty"},
    )
