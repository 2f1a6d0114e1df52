"""`manage.py alttext_backfill`: describe the images that have no description yet, with progress."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alttext_tools.integrations.wagtail.worker import FAILED, FILLED, FROM_CACHE, fill
from alttext_tools.text import one_line


class Command(BaseCommand):  # type: ignore[misc]  # django is untyped here
    help = (
        "Write a description for every image that has none (with --overwrite: for every image), with the "
        "models of settings.ALTTEXT. Idempotent; images whose bytes were described before come from the "
        "alt-text cache. Exit status 1 when some images could not be described."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--collection", metavar="NAME|ID", help="Only images in this collection (and its children)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List the images that would be described; write nothing."
        )
        parser.add_argument("--limit", type=int, metavar="N", help="Describe at most N images.")
        parser.add_argument("--overwrite", action="store_true", help="Also replace existing descriptions.")

    def handle(self, *args: Any, **options: Any) -> None:
        from wagtail.images import get_image_model

        images = get_image_model().objects.all()
        if options["collection"]:
            images = images.filter(collection__in=_collections(options["collection"]))
        if not options["overwrite"]:
            images = images.filter(description="")
        ids = list(images.order_by("pk").values_list("pk", "title"))
        if options["limit"] is not None:
            if options["limit"] < 0:
                raise CommandError("--limit must be 0 or more")
            ids = ids[: options["limit"]]
        total = len(ids)
        if not total:
            self.stdout.write("No images to describe.")
            return
        counts = {FILLED: 0, FROM_CACHE: 0, FAILED: 0}
        for number, (pk, title) in enumerate(ids, 1):
            where = f"[{number}/{total}] image {pk} ({one_line(title)})"
            if options["dry_run"]:
                self.stdout.write(f"{where}: would be described")
                continue
            done = fill(pk, overwrite=options["overwrite"])
            counts[done.status] = counts.get(done.status, 0) + 1
            line = f"{where}: {done.status}: {done.text}" if done.text else f"{where}: {done.status}"
            self.stdout.write(line)
        if options["dry_run"]:
            self.stdout.write(
                f"{total} image{'' if total == 1 else 's'} would be described (dry run: nothing written)."
            )
            return
        described = counts[FILLED] + counts[FROM_CACHE]
        self.stdout.write(
            f"{described} described ({counts[FILLED]} generated, {counts[FROM_CACHE]} from the cache), "
            f"{counts[FAILED]} failed, {total - described - counts[FAILED]} skipped."
        )
        if counts[FAILED]:
            raise CommandError(f"{counts[FAILED]} image{'' if counts[FAILED] == 1 else 's'} could not be described")


def _collections(name_or_id: str) -> Any:
    from wagtail.models import Collection

    found = Collection.objects.filter(pk=int(name_or_id)) if name_or_id.isdigit() else Collection.objects.none()
    if not found.exists():
        found = Collection.objects.filter(name=name_or_id)
    collection = found.first()
    if collection is None:
        raise CommandError(f"no collection named or numbered {name_or_id!r}")
    return Collection.objects.descendant_of(collection, inclusive=True)
