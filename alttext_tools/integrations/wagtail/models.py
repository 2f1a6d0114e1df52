"""`GeneratedDescription`: what alttext wrote into an image's description, and whether a person has looked at it."""

from __future__ import annotations

from django.db import models
from wagtail.images import get_image_model_string

GENERATED, REVIEWED, EDITED, FAILED = "generated", "reviewed", "edited", "failed"
STATES = ((GENERATED, "generated"), (REVIEWED, "reviewed"), (EDITED, "edited"), (FAILED, "failed"))


class GeneratedDescription(models.Model):  # type: ignore[misc]  # django is untyped here
    """One per image alttext described: the bytes (sha256) and model it came from, the text written,
    and its review state. The description is unreviewed while `state` is generated and the image's
    description still equals `alt` (a person who changes it in Wagtail's own form has reviewed it)."""

    image = models.OneToOneField(get_image_model_string(), on_delete=models.CASCADE, related_name="alttext")
    sha256 = models.CharField(max_length=64, blank=True)
    alt = models.TextField(blank=True)
    decorative = models.BooleanField(default=False)
    model_id = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=35, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=GENERATED)
    error = models.TextField(blank=True)  # why the last attempt failed (state "failed")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "generated image description"

    def __str__(self) -> str:
        return f"{self.image_id}: {self.state}"
