"""The admin URLs of the app, mounted under Wagtail's admin by wagtail_hooks."""

from __future__ import annotations

from django.urls import path

from alttext_tools.integrations.wagtail import views

app_name = "alttext_wagtail"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:image_id>/", views.act, name="act"),
]
