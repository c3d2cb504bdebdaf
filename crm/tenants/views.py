"""The platform console (public schema, for operators) and the health endpoint."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from crm.accounts.permissions import acting_user, operator_required
from crm.tenants import selectors, services
from crm.tenants.forms import LimitsForm, SuspendForm, TenantCreateForm
from crm.tenants.health import health_report
from crm.tenants.lookup import HOST_TENANT_SECONDS
from crm.tenants.models import Tenant


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The console host's health: each component's state, timing and error. Kept public as
    before: the Docker health check, load balancers and operators' monitoring read it, and it
    names no tenant and holds no personal data."""
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@never_cache
@require_GET
def healthz_tenant(request: HttpRequest) -> JsonResponse:
    """A tenant host's health: ok or not ok, nothing more. Anyone can reach a tenant's site,
    so which component is down (and its error text) is for the console host only."""
    ok = health_report()["ok"]
    return JsonResponse({"status": "ok" if ok else "not ok"}, status=200 if ok else 503)


def _tenant_or_404(slug: str) -> Tenant:
    return get_object_or_404(selectors.business_tenants(), slug=slug)


@operator_required
def console_home(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    tenants = selectors.business_tenants()
    if status in Tenant.Status.values:
        tenants = tenants.filter(status=status)
    sizes = selectors.schema_sizes_mb()
    rows = [(tenant, sizes.get(tenant.schema_name)) for tenant in tenants]
    return render(
        request,
        "tenants/console_home.html",
        {"rows": rows, "status_filter": status, "statuses": Tenant.Status.choices[:4]},
    )


@operator_required
def tenant_new(request: HttpRequest) -> HttpResponse:
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant = services.tenant_create(
                actor=acting_user(request), spec=services.TenantSpec(**form.cleaned_data)
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("%(name)s is being provisioned.") % {"name": tenant.name})
            return redirect("console:tenant_detail", slug=tenant.slug)
    return render(request, "tenants/tenant_new.html", {"form": form})


def _detail_context(tenant: Tenant, limits_form: LimitsForm | None = None) -> dict[str, object]:
    return {
        "tenant": tenant,
        "site_url": selectors.tenant_site_url(tenant),
        "events": tenant.events.all()[:50],
        "suspend_form": SuspendForm(),
        # Each web process remembers a host's tenant this long (crm.tenants.lookup).
        "suspend_reach_seconds": int(HOST_TENANT_SECONDS),
        "usage": selectors.tenant_usage(tenant),
        "limits_form": limits_form
        or LimitsForm(
            initial={
                "staff_limit": tenant.staff_limit,
                "customer_limit": tenant.customer_limit,
                "storage_limit_mb": tenant.storage_limit_mb,
                "require_two_factor": tenant.require_two_factor,
            }
        ),
    }


@operator_required
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    return render(request, "tenants/tenant_detail.html", _detail_context(tenant))


@operator_required
@require_POST
def tenant_limits(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    form = LimitsForm(request.POST)
    if not form.is_valid():
        return render(
            request, "tenants/tenant_detail.html", _detail_context(tenant, form), status=400
        )
    services.tenant_limits_set(actor=acting_user(request), tenant=tenant, **form.cleaned_data)
    messages.success(request, _("Plan limits saved."))
    return redirect("console:tenant_detail", slug=tenant.slug)


@operator_required
@require_GET
def tenant_status(request: HttpRequest, slug: str) -> HttpResponse:
    """The status panel alone; htmx polls it while a tenant is provisioning."""
    tenant = _tenant_or_404(slug)
    return render(request, "tenants/_tenant_status.html", _detail_context(tenant))


def _transition(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    tenant = _tenant_or_404(slug)
    try:
        if action == "suspend":
            form = SuspendForm(request.POST)
            if not form.is_valid():
                # Never suspend with the reason dropped: say why and change nothing.
                context = {**_detail_context(tenant), "suspend_form": form}
                return render(request, "tenants/tenant_detail.html", context, status=400)
            reason = form.cleaned_data["reason"]
            services.tenant_suspend(actor=acting_user(request), tenant=tenant, reason=reason)
            messages.success(request, _("%(name)s is suspended.") % {"name": tenant.name})
        elif action == "resume":
            services.tenant_resume(actor=acting_user(request), tenant=tenant)
            messages.success(request, _("%(name)s is running again.") % {"name": tenant.name})
        elif action == "retry":
            services.tenant_provision_retry(actor=acting_user(request), tenant=tenant)
            messages.success(request, _("Provisioning started again."))
        else:  # pragma: no cover - the URLconf only routes the three actions above
            raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("console:tenant_detail", slug=tenant.slug)


@operator_required
@require_POST
def tenant_suspend(request: HttpRequest, slug: str) -> HttpResponse:
    return _transition(request, slug, "suspend")


@operator_required
@require_POST
def tenant_resume(request: HttpRequest, slug: str) -> HttpResponse:
    return _transition(request, slug, "resume")


@operator_required
@require_POST
def tenant_retry(request: HttpRequest, slug: str) -> HttpResponse:
    return _transition(request, slug, "retry")
