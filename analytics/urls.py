from django.urls import include, path

from analytics import segment_views, views

app_name = "analytics"

urlpatterns = [
    path("", views.analytics_home, name="home"),
    path("rfm/", include("analytics.rfm_urls")),
    path("segments/", segment_views.segment_list, name="segments"),
    path("segments/new/", segment_views.segment_new, name="segment_new"),
    path("segments/count/", segment_views.segment_count, name="segment_count"),
    path("segments/<int:pk>/", segment_views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", segment_views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/refresh/", segment_views.segment_refresh_now, name="segment_refresh"),
    path("segments/<int:pk>/delete/", segment_views.segment_remove, name="segment_delete"),
]

# The churn model's pages (helper "churn").
from analytics import churn_urls  # noqa: E402

urlpatterns += churn_urls.urlpatterns
