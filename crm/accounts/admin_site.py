"""The Django admin on the tenant site (``django-admin/``): the site object, and the base of the
read-mostly lists apps show in it. It lives here, below every app, so an app registers its
models with ``@admin.register(Model, site=site)`` in its own admin.py (Django's autodiscover
imports it at start-up) without importing another app; crm/urls_tenant.py serves the site.

Administrators only. The admin's "Import" goes to our import wizard instead of
django-import-export's import, so admin imports get the same validation, audit and undo as every
other import."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin

from crm.accounts.audit import audit_record
from crm.accounts.permissions import acting_user, can_administer


class TenantAdminSite(admin.AdminSite):
    site_header = _("CRM data administration")
    site_title = _("CRM data administration")
    index_title = _("Records")
    final_catch_all_view = False  # unknown admin URLs are plain 404s

    # The admin's own routes we serve. Signing out and passwords are the CRM's own pages
    # (templates/admin/base_site.html links back); autocomplete and "view on site" are not
    # needed by read-mostly lists. The rest stay unrouted.
    SITE_ROUTES = ("index", "login", "jsi18n", "app_list")

    def has_permission(self, request: HttpRequest) -> bool:
        return can_administer(request.user)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        return [
            u
            for u in super().get_urls()
            if isinstance(u, URLResolver) or u.name in self.SITE_ROUTES
        ]

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Our own sign-in (with two-factor, lockouts) rather than the admin's login form;
            # signed-in staff without "administer" get a 403, as everywhere else.
            if not request.user.is_authenticated:
                login = reverse("accounts:login")
                return HttpResponseRedirect(f"{login}?{urlencode({'next': request.path})}")
            if not self.has_permission(request):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return guarded

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(reverse("accounts:login"))
        if not self.has_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("tenant_admin:index"))


site = TenantAdminSite(name="tenant_admin")


class ReadMostlyAdmin(ExportMixin, admin.ModelAdmin):
    """Lists and exports; records are changed through the CRM's own pages and services (which
    validate and audit), so the admin does not add, change or delete them."""

    import_kind = ""
    import_export_change_list_template = "admin/change_list_read_mostly.html"
    MODEL_ROUTES = ("changelist", "change", "history", "export")

    def get_urls(self) -> list[URLPattern]:
        return [
            u
            for u in super().get_urls()
            if u.name and u.name.rsplit("_", 1)[-1] in self.MODEL_ROUTES
        ]

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> Any:
        raise Http404  # another tenant's or a removed record: a plain 404, never a redirect

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_administer(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_administer(request.user)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return can_administer(request.user)

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_export_resource_kwargs(request, **kwargs), "user": request.user}

    def export_action(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The export reads the list's filters from the address; one the admin cannot read
        # ("?foo=1") is a 400 with a message, as the list answers it, not a 500.
        try:
            return super().export_action(request, *args, **kwargs)
        except IncorrectLookupParameters:
            message = _("The filter in this address could not be read. Go back to the list.")
            return render(request, "400.html", {"message": message}, status=400)

    def get_export_data(
        self, file_format: Any, request: HttpRequest, queryset: Any, **kwargs: Any
    ) -> Any:
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        audit_record(
            action="export",
            actor=acting_user(request),
            detail={
                "kind": self.import_kind,
                "filter": request.GET.urlencode(),
                "rows": queryset.count(),
                "format": type(file_format).__name__,
                "admin": True,
            },
        )
        return data

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "wizard_import_url": f"/transfer/imports/new/?kind={self.import_kind}",
        }
        return super().changelist_view(request, context)
