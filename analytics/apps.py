from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics import (
            churn_plugins,
            churn_registry,
            dashboard_panels,
            feedback_plugins,
            rfm_extensions,
            segment_fields_builtin,
            segment_list_filter,
        )
        from analytics.refresh import RefreshStep, refresh_step_register
        from analytics.rfm_seeding import rfm_seed
        from analytics.segment_seeding import segments_seed
        from analytics.segments import segments_refresh
        from crm.accounts.audit_labels import ACTIONS, register_table
        from crm.tenants.seeding import register_seeder

        # The refresh step, the customer tab, list column and filter, export columns.
        rfm_extensions.register()
        # Last: scores the orders every other seeder made.
        register_seeder("analytics", rfm_seed, order=90)
        # Before that refresh, so it fills their members.
        register_seeder("analytics_segments", segments_seed, order=85)
        ACTIONS.setdefault("analytics_refresh", _("Refreshed analytics"))
        register_table("analytics_rfmsettings", _("RFM settings"))
        register_table("analytics_segmentrule", _("Segment rule"))
        # Segments: what their rules can test, and the customer list's "segment" filter (the
        # audience of exports and surveys).
        segment_fields_builtin.register()
        # Segments are rebuilt last in the refresh, after the scores their rules may test.
        refresh_step_register(RefreshStep("segments", _("Segments"), segments_refresh, order=30))
        segment_list_filter.register()
        feedback_plugins.register()
        dashboard_panels.register()
        register_table("analytics_segment", _("Segment"))
        # A segment's name or rules can name a person: erasure reaches them.
        from analytics import erasure

        erasure.register()
        # The churn model: its tab and rules (churn_registry), then where others read it.
        churn_registry.register()
        churn_plugins.register()
        # Beside a support ticket: the customer's segment and churn flags.
        from analytics import support_context

        support_context.register()
