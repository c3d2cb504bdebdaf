from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "crm.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from crm.accounts import audit, seeding
        from crm.tenants import archive
        from crm.tenants import seeding as tenant_seeding

        tenant_seeding.register_seeder("staff", seeding.staff_seed, order=10)
        archive.register_export_listener(audit.record_tenant_export)
