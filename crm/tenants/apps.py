from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "crm.tenants"
    label = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from crm.tenants import lookup

        lookup.connect_signals()
