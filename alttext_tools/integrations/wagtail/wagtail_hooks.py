"""Wagtail admin hooks: the app's URLs under /admin/alttext/, and a menu item for users who may change images."""

from __future__ import annotations

from typing import Any

from django.urls import include, path, reverse
from wagtail import hooks
from wagtail.admin.menu import MenuItem

from alttext_tools.integrations.wagtail import urls
from alttext_tools.integrations.wagtail.views import image_permission_policy


class AltTextMenuItem(MenuItem):  # type: ignore[misc]  # wagtail is untyped here
    def is_shown(self, request: Any) -> bool:
        return bool(image_permission_policy().user_has_permission(request.user, "change"))


@hooks.register("register_admin_urls")  # type: ignore[untyped-decorator]
def register_admin_urls() -> list[Any]:
    return [path("alttext/", include(urls))]


@hooks.register("register_admin_menu_item")  # type: ignore[untyped-decorator]
def register_menu_item() -> MenuItem:
    return AltTextMenuItem("Alt text", reverse("alttext_wagtail:index"), icon_name="image", order=310)
