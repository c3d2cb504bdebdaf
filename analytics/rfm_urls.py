"""The RFM pages' addresses, included under /analytics/rfm/ by analytics.urls."""

from django.urls import path

from analytics import rfm_views

urlpatterns = [
    path("", rfm_views.rfm_overview, name="rfm"),
    path("refresh/", rfm_views.rfm_refresh, name="rfm_refresh"),
    path("refresh/status/", rfm_views.rfm_refresh_status, name="rfm_refresh_status"),
    path("settings/", rfm_views.rfm_settings_page, name="rfm_settings"),
    path("map/", rfm_views.rfm_map_page, name="rfm_map"),
    path("map/reset/", rfm_views.rfm_map_reset, name="rfm_map_reset"),
    path("transitions/", rfm_views.rfm_transitions, name="rfm_transitions"),
]
