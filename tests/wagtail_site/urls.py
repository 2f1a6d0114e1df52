"""URLs of the test Wagtail site: the admin only."""

from __future__ import annotations

from django.urls import include, path
from wagtail.admin import urls as wagtailadmin_urls

urlpatterns = [path("admin/", include(wagtailadmin_urls))]
