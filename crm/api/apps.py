from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API for point-of-sale and other systems, under /api/v1/ on a tenant's host:
    tokens, their errors, limits and idempotency. Apps add their endpoints with
    crm.api.registry.api_router_register from their own AppConfig.ready."""

    name = "crm.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from crm.accounts.audit_labels import register_table

        register_table("api_apitoken", _("API token"))
