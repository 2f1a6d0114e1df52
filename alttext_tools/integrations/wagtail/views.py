"""The admin view: images without a description or with generated text no person has reviewed, with
accept / edit / regenerate. Only users who may change images see it, and act only on images they
may change (Wagtail's image permission policy, collections included)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST
from wagtail.images import get_image_model

from alttext_tools.integrations.wagtail.generation import DescribeFailed, get_describer, read_image
from alttext_tools.integrations.wagtail.models import EDITED, GENERATED, REVIEWED, GeneratedDescription
from alttext_tools.text import normalize_alt

PAGE_SIZE = 50
ACTIONS = ("accept", "edit", "regenerate")


def image_permission_policy() -> Any:
    """Wagtail's permission policy for the image model in use."""
    try:
        from wagtail.permissions import policy_registry  # Wagtail 7+
    except ImportError:
        from wagtail.images.permissions import permission_policy

        return permission_policy
    return policy_registry.get_by_type(get_image_model())


def to_review(user: Any) -> Any:
    """The images `user` may change that need a person: no description, or generated text not yet reviewed."""
    images = image_permission_policy().instances_user_has_permission_for(user, "change")
    pending = Q(description="") | Q(alttext__state=GENERATED, description=F("alttext__alt"))
    return images.filter(pending).select_related("alttext", "collection").order_by("-created_at", "-pk")


def _require_change_permission(user: Any) -> None:
    if not image_permission_policy().user_has_permission(user, "change"):
        raise PermissionDenied


def index(request: HttpRequest) -> HttpResponse:
    _require_change_permission(request.user)
    page = Paginator(to_review(request.user), PAGE_SIZE).get_page(request.GET.get("p"))
    rows = []
    for image in page:
        record = getattr(image, "alttext", None)
        if image.description and record is not None:
            reason = f"written by {record.model_id}, not reviewed yet"
        elif record is not None and record.error:
            reason = f"no description: {record.error}"
        else:
            reason = "no description"
        rows.append({"image": image, "reason": reason, "unreviewed": bool(image.description)})
    return TemplateResponse(request, "alttext_wagtail/index.html", {"page": page, "rows": rows})


@require_POST  # type: ignore[untyped-decorator]  # django is untyped here
def act(request: HttpRequest, image_id: int) -> HttpResponse:
    """accept / edit / regenerate one image; back to the list with one message."""
    _require_change_permission(request.user)
    image = get_object_or_404(get_image_model(), pk=image_id)
    if not image_permission_policy().user_has_permission_for_instance(request.user, "change", image):
        raise PermissionDenied
    action = request.POST.get("action")
    if action not in ACTIONS:
        messages.error(request, f"unknown action {action!r}")
        return redirect("alttext_wagtail:index")
    try:
        message = {"accept": _accept, "edit": _edit, "regenerate": _regenerate}[action](request, image)
    except DescribeFailed as exc:
        messages.error(request, f"{image.title}: {exc}")
    else:
        messages.success(request, message)
    return redirect("alttext_wagtail:index")


def _record(image: Any) -> Any:
    """The image's GeneratedDescription (made for an image alttext has not described), with its sha256."""
    record, _ = GeneratedDescription.objects.get_or_create(image=image)
    if not record.sha256:
        from alttext_tools.images.resolve import content_hash

        record.sha256 = content_hash(read_image(image))
    return record


def _accept(request: HttpRequest, image: Any) -> str:
    record = getattr(image, "alttext", None)
    if record is None or record.state != GENERATED or not image.description or image.description != record.alt:
        raise DescribeFailed("nothing to accept: write the description, or regenerate it")
    get_describer().accept(record.sha256, record.alt)
    record.state = REVIEWED
    record.save(update_fields=["state", "updated"])
    return f"Accepted the description of {image.title}"


def _edit(request: HttpRequest, image: Any) -> str:
    text = normalize_alt(request.POST.get("alt", ""))
    if not text:
        raise DescribeFailed("the description is empty: write one")
    record = _record(image)
    get_describer().edit(record.sha256, record.alt or image.description, text)
    image.description = text
    image.save(update_fields=["description"])
    record.alt, record.state, record.error = text, EDITED, ""
    record.save()
    return f"Saved the description of {image.title}"


def _regenerate(request: HttpRequest, image: Any) -> str:
    record = _record(image)
    result, note = get_describer().regenerate(image, record.sha256)
    image.description = result.alt
    image.save(update_fields=["description"])
    record.alt, record.decorative, record.model_id = result.alt, result.decorative, result.model_id
    record.language, record.state, record.error = result.language or "", GENERATED, ""
    record.save()
    return f"Regenerated the description of {image.title} with {result.model_id}" + (f" ({note})" if note else "")
