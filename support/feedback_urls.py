"""Survey pages for staff, under /support/feedback/ (names in the support namespace)."""

from django.urls import path

from support import feedback_views

urlpatterns = [
    path("", feedback_views.reports, name="feedback_reports"),
    path("comments/", feedback_views.comments, name="feedback_comments"),
    path("settings/", feedback_views.feedback_settings, name="feedback_settings"),
    path("sends/", feedback_views.sends, name="feedback_sends"),
    path("sends/<int:pk>/", feedback_views.send_detail, name="feedback_send"),
    path("sends/<int:pk>/progress/", feedback_views.send_progress, name="feedback_send_progress"),
]
