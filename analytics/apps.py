from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics import dashboard_panels, segment_fields_builtin, segment_list_filter
        from crm.accounts.audit_labels import register_table

        # Segments: what their rules can test, and the customer list's "segment" filter (the
        # audience of exports and surveys).
        segment_fields_builtin.register()
        segment_list_filter.register()
        dashboard_panels.register()
        register_table("analytics_segment", _("Segment"))
