"""The programme's home (the dashboard for readers of reports) and a member's statement."""

from decimal import Decimal

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can, capability_required
from customers.models import Customer
from customers.selectors import customer_for
from loyalty import selectors_ui
from loyalty.forms import DashboardForm, PeriodForm
from loyalty.models import Account
from loyalty.programme import local_today, programme

DEFAULT_POINT_VALUE = Decimal("0.01")


@capability_required(cap.VIEW)
def loyalty_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context: dict[str, object] = {
        "programme": programme(),
        "rewards": list(selectors_ui.rewards_offered()),
        "can_report": can(user, cap.REPORTS),
        "can_manage": can(user, cap.LOYALTY),
        "can_approve": can(user, cap.POINTS_OVER_LIMIT),
        "pending_count": selectors_ui.pending_adjustments(user).count()
        if can(user, cap.POINTS_OVER_LIMIT)
        else 0,
        "currency": getattr(getattr(request, "tenant", None), "currency", ""),
    }
    if context["can_report"]:
        form = DashboardForm(request.GET or None)
        data = form.cleaned_data if form.is_valid() else {}
        point_value = data.get("point_value")
        if point_value is None:
            point_value = DEFAULT_POINT_VALUE
        figures = selectors_ui.dashboard(data.get("since"))
        context |= {
            "form": form,
            "figures": figures,
            "point_value": point_value,
            "liability": selectors_ui.liability(figures.outstanding, point_value),
        }
    if context["can_manage"]:
        context["issues"] = selectors_ui.open_issues(user)
    return render(request, "loyalty/home.html", context)


@capability_required(cap.VIEW)
def statement(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        customer: Customer = customer_for(request.user, pk)
    except Customer.DoesNotExist:
        raise Http404 from None
    account = Account.objects.select_related("tier").filter(customer_id=customer.pk).first()
    form = PeriodForm(request.GET or None)
    start, end = form.period(local_today())
    return render(
        request,
        "loyalty/statement.html",
        {
            "customer": customer,
            "account": account,
            "form": form,
            "statement": selectors_ui.statement(account, start, end),
            "nav_section": "loyalty",
        },
    )
