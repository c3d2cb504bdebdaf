"""The analytics home: the dashboard's panels this reader may see (analytics.dashboard)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.dashboard import dashboard_built
from crm.accounts import capabilities as cap
from crm.accounts.permissions import capability_required


@capability_required(cap.VIEW)
def analytics_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analytics/home.html",
        {"panels": dashboard_built(request.user), "subnav": "dashboard"},
    )
