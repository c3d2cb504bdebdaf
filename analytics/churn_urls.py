"""The churn model's pages, included in analytics.urls (namespace "analytics")."""

from django.urls import path

from analytics import churn_views

urlpatterns = [
    path("churn/", churn_views.churn_model, name="churn"),
    path("churn/risk/", churn_views.churn_risk, name="churn_risk"),
    path("churn/settings/", churn_views.churn_settings_edit, name="churn_settings"),
]
