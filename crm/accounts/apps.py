from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "crm.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun

        from crm.accounts import audit, seeding
        from crm.tenants import archive
        from crm.tenants import seeding as tenant_seeding

        tenant_seeding.register_seeder("staff", seeding.staff_seed, order=10)
        archive.register_export_listener(audit.record_tenant_export)
        # Every Celery task, present and future, names itself in the log when it writes.
        task_prerun.connect(audit.task_actor_begin, weak=False)
        task_postrun.connect(audit.task_actor_end, weak=False)
