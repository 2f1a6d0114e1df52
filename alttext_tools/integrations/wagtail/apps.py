"""The Django app: describes new images on upload (a `post_save` handler, run after the commit)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class AltTextWagtailConfig(AppConfig):  # type: ignore[misc]  # django is untyped here
    name = "alttext_tools.integrations.wagtail"
    label = "alttext_wagtail"
    verbose_name = "Alt text"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.db.models.signals import post_save
        from wagtail.images import get_image_model

        from alttext_tools.integrations.wagtail.worker import on_image_saved

        post_save.connect(on_image_saved, sender=get_image_model(), dispatch_uid="alttext_wagtail_upload")
        setting_changed.connect(_settings_changed, dispatch_uid="alttext_wagtail_settings")


def _settings_changed(setting: str, **kwargs: Any) -> None:
    """A new ALTTEXT (tests' override_settings) means new models: drop the loaded ones."""
    if setting == "ALTTEXT":
        from alttext_tools.integrations.wagtail.generation import forget_describer

        forget_describer()
