"""Filling image descriptions: `fill` for one image, and the per-process background queue that runs it
for new uploads after their transaction commits, off the request path."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from alttext_tools.integrations.wagtail.generation import DescribeFailed, get_describer
from alttext_tools.text import one_line

logger = logging.getLogger("alttext")

FILLED, FROM_CACHE, SKIPPED, FAILED = "generated", "from cache", "skipped", "failed"


@dataclass
class Filled:
    """What `fill` did to one image: a status above, and the description or the error."""

    status: str
    text: str = ""


def fill(image_id: int, *, overwrite: bool = False) -> Filled:
    """Describe one image and save the description (never anything else about the image). An image
    that has a description keeps it unless `overwrite`; one whose description a person set while
    the model ran keeps theirs. A failure is logged in one line and the image stays as it was."""
    from django.core.exceptions import ImproperlyConfigured
    from wagtail.images import get_image_model

    from alttext_tools.integrations.wagtail.models import FAILED as STATE_FAILED
    from alttext_tools.integrations.wagtail.models import GENERATED, GeneratedDescription

    image_model = get_image_model()
    image = image_model.objects.filter(pk=image_id).select_related("collection").first()
    if image is None:
        return Filled(SKIPPED, "the image was deleted")
    before = image.description
    if before and not overwrite:
        return Filled(SKIPPED, "it has a description")
    try:
        result = get_describer().describe(image)
    except (DescribeFailed, ImproperlyConfigured) as exc:
        reason = one_line(str(exc))
        logger.warning("alttext: image %s (%s): no description written: %s", image.pk, one_line(image.title), reason)
        GeneratedDescription.objects.update_or_create(image=image, defaults={"state": STATE_FAILED, "error": reason})
        return Filled(FAILED, reason)
    # Only if the description is still what it was: a person's text typed meanwhile wins.
    written = image_model.objects.filter(pk=image.pk, description=before).update(description=result.alt)
    if not written:
        return Filled(SKIPPED, "a person wrote a description meanwhile")
    GeneratedDescription.objects.update_or_create(
        image=image,
        defaults={
            "sha256": result.sha256,
            "alt": result.alt,
            "decorative": result.decorative,
            "model_id": result.model_id,
            "language": result.language or "",
            "state": GENERATED,
            "error": "",
        },
    )
    return Filled(FROM_CACHE if result.from_cache else FILLED, result.alt)


# -- the background queue ----------------------------------------------------------------------

_queue: queue.Queue[int] = queue.Queue()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def enqueue(image_id: int) -> None:
    """Describe this image in this process's background thread (started on first use)."""
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="alttext-wagtail", daemon=True)
            _thread.start()
    _queue.put(image_id)


def wait_idle(timeout: float) -> bool:
    """Wait until every queued image is done (or `timeout` seconds); True when the queue is empty."""
    import time

    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _work() -> None:
    from django.db import close_old_connections

    while True:
        image_id = _queue.get()
        try:
            fill(image_id)
        except Exception:  # a bug must cost one image, not the worker
            logger.exception("alttext: image %s: internal error while describing it", image_id)
        finally:
            close_old_connections()
            _queue.task_done()


def on_image_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """post_save of the image model: a new image without a description is queued once its
    transaction commits, so the upload answers without waiting for the model."""
    from django.db import transaction

    from alttext_tools.integrations.wagtail.conf import on_upload

    if not created or raw or instance.description or not on_upload():
        return
    image_id = instance.pk
    transaction.on_commit(lambda: enqueue(image_id))
