from django.urls import include, path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.analytics_home, name="home"),
    path("rfm/", include("analytics.rfm_urls")),
]
