"""The review page's state: the images to review, the cache entry each shows, and the actions on them.

What the page lists and what each action stores: docs/review.md.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alttext_tools.cache.file import HUMAN, Entry
from alttext_tools.cache.key import norm_language
from alttext_tools.cache.store import AltCache
from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.check.unreviewed import unreviewed
from alttext_tools.config import Config
from alttext_tools.core import Decision, ImageRef, Syntax, image_key, image_role, is_functional
from alttext_tools.errors import AltTextError, CacheError
from alttext_tools.images.errors import ImageError
from alttext_tools.rewrite.edits import is_satisfied
from alttext_tools.rewrite.fix import ScannedFile, needs_alt, scan_for_fix
from alttext_tools.text import language_tag, normalize_alt

if TYPE_CHECKING:
    from alttext_tools.generate.provider import ModelProvider
    from alttext_tools.generate.records import ImageRecord
    from alttext_tools.models.slots import Slots

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_CONTEXT = 400  # characters of a paragraph shown on the page

NEEDS_ALT, UNREVIEWED = "needs-alt", "unreviewed"
MISSING = "missing"  # state of an item without any proposal
FILTERS = ("all", "todo", "done")


class ActionError(AltTextError):
    """A request the session refuses; `status` is the HTTP status, the message one line for the page."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------------------------
# Items
# ----------------------------------------------------------------------------------------------


@dataclass
class Item:
    id: int
    file: Path  # the source file (absolute)
    image: ImageRef
    reason: str  # NEEDS_ALT | UNREVIEWED
    findings: tuple[str, ...]
    digest: str | None  # sha256 of the image bytes; None when they cannot be read
    language: str | None  # the cache key's language: --language, else the page's (lower case)
    role: str  # core.image_role
    image_file: Path | None = None  # a local image inside the project root
    image_data: bytes | None = field(default=None, repr=False)  # a data: URI's bytes
    image_error: str | None = None
    pinned: str | None = None  # cache key of the entry this item shows

    @property
    def group(self) -> tuple[str | None, str, str]:
        return (self.digest, self.language or "", self.role)


class _ImageReader:
    """Hashes each src with images.reader (each file read once); keeps where the bytes came from for serving."""

    def __init__(self, config: Config) -> None:
        from alttext_tools.images.reader import ImageReader

        self._reader = ImageReader(config.root.resolve(), config.site_root_path(), config.allow_remote)

    def read(self, image: ImageRef) -> tuple[str | None, Path | None, bytes | None, str | None]:
        """(sha256, local file, data: bytes, error)."""
        if not image.src or not image.src.strip():
            return None, None, None, "the image has no src"
        try:
            found = self._reader.read(image.src, Path(image.path))
        except ImageError as exc:
            return None, None, None, exc.reason
        source = found.source
        if source.kind == "file":
            return found.sha256, source.path, None, None
        if source.kind == "data":
            return found.sha256, None, source.data, None
        return found.sha256, None, None, "remote image: not shown here"


def _sniff(data: bytes) -> str:
    from alttext_tools.images.svg import looks_like_svg

    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    if data.startswith(b"\x00\x00\x01\x00"):
        return "image/x-icon"
    if looks_like_svg(data):
        return "image/svg+xml"
    return "application/octet-stream"


# ----------------------------------------------------------------------------------------------
# Regenerating with a model
# ----------------------------------------------------------------------------------------------


class Regenerator:
    """Runs the generation pipeline for one image at a time, forcing a model slot.

    One engine for the server's life (a local model loads on its first regenerate, once; or a
    server's client), held by `models`; every request gets a fresh ModelProvider around that
    engine, so per-run state (deduplication, records) never hides a new answer. Requests are
    serialised: llama.cpp runs one at a time anyway.
    """

    def __init__(self, config: Config, models: ModelProvider, log: Callable[[str], None]) -> None:
        self.config = config
        self.models = models  # the slots and the engine every regeneration shares; never runs itself
        self.log = log
        self.lock = threading.Lock()

    @classmethod
    def for_config(cls, config: Config, threads: int | None, log: Callable[[str], None]) -> Regenerator:
        """The models `fix` would use with the same options (local llama.cpp, or a server).
        Raises ModelSetupError (NoModelError when no model is available), one line."""
        from alttext_tools.engines.base import engine_settings
        from alttext_tools.generate.provider import ModelProvider, models_for

        slots, engine = models_for(config)
        settings = engine_settings(config, threads)
        return cls(config, ModelProvider.from_config(config, slots, engine=engine, engine_settings=settings), log)

    @property
    def slots(self) -> Slots:
        return self.models.slots

    def label(self, model_id: str) -> str:
        """A model id as people read it: "moondream2 (fast model)"."""
        if model_id == HUMAN:
            return "a person"
        for slot, spec in self.slots.available.items():
            if spec.model_id == model_id:
                return f"{spec.name} ({slot} model)"
        return model_id

    def target(self, entry: Entry | None) -> tuple[str, str | None]:
        """(router mode to force, note): the slot whose model did not write `entry`."""
        available = self.slots.available
        if entry is None or entry.model_id == HUMAN:
            return "auto", None
        others = [slot for slot, spec in available.items() if spec.model_id != entry.model_id]
        if others:
            return others[0], None
        only = next(iter(available))
        return only, f"only one model is configured ({available[only].name}), so it ran again"

    def run(self, image: ImageRef, mode: str) -> ImageRecord:
        """The ImageRecord of one generation (status "failed" with `error` on failure)."""
        from alttext_tools.generate.provider import ModelProvider

        with self.lock:
            # The shared engine: the models stay loaded between requests.
            provider = ModelProvider.from_config(
                self.config, self.slots, router_mode=mode, engine=self.models.engine, log=self.log
            )
            provider.decide([image])
            return provider.records[-1]

    def describe(self, image: ImageRef, data: bytes, mode: str) -> ImageRecord:
        """`run` for an image given as bytes, with no page to resolve it from (a CMS upload)."""
        from alttext_tools.generate.provider import ModelProvider
        from alttext_tools.generate.records import DescribeError

        with self.lock:
            provider = ModelProvider.from_config(
                self.config, self.slots, router_mode=mode, engine=self.models.engine, log=self.log
            )
            try:
                record, _ = provider.describe(image, data)
            except DescribeError as err:
                return err.record
            return record

    def regenerated_entry(self, record: ImageRecord, digest: str, language: str | None, role: str) -> Entry:
        """The cache entry of a successful regeneration (`record`) for an image in a context."""
        from alttext_tools.cache.file import Entry as CacheEntry
        from alttext_tools.generate.prompts import PROMPT_VERSION

        return CacheEntry.generated(
            digest,
            record.model_id or "",
            f"{PROMPT_VERSION}/max{self.config.max_length}",
            language,
            role,
            alt=record.alt or "",
            decorative=record.decorative,
            handler=self.handler_of(record.model_id or ""),
        )

    def handler_of(self, model_id: str) -> str:
        for spec in self.slots.available.values():
            if spec.model_id == model_id:
                return str(spec.handler)
        return ""

    def close(self) -> None:
        self.models.close()


# ----------------------------------------------------------------------------------------------
# The session: items, decisions, apply
# ----------------------------------------------------------------------------------------------


class ReviewSession:
    """Everything the page works on; thread-safe (the HTTP server runs one thread per request)."""

    def __init__(
        self,
        config: Config,
        settings: RuleSettings,
        files: Sequence[tuple[Path, str]],
        cache: AltCache,
        *,
        regenerator: Regenerator | None = None,
        no_model_reason: str | None = None,
        diff_root: Path | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.files = list(files)
        self.cache = cache
        self.regenerator = regenerator
        self.no_model_reason = no_model_reason if regenerator is None else None
        self.diff_root = diff_root
        self.file_errors: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._items: dict[int, Item] = {}
        self._order: list[Item] = []
        self._chosen: dict[tuple[str | None, str, str], str] = {}  # image+context -> entry last acted on
        self.build()

    # -- building the list -----------------------------------------------------------------

    def build(self) -> None:
        """(Re)scan the files and list the images to review."""
        scanned, errors = scan_for_fix(self.files, self.settings, dialect=self.config.dialect)
        reader = _ImageReader(self.config)
        order: list[Item] = []
        for scanned_file in scanned:
            order.extend(self._items_of(scanned_file, reader))
        with self._lock:
            self.file_errors = [f"{e.path}: {e.message}" for e in errors]
            self._order = order
            self._items = {item.id: item for item in order}

    def _items_of(self, scanned: ScannedFile, reader: _ImageReader) -> Iterable[Item]:
        images = scanned.images
        fixable = {image_key(image) for image in needs_alt(scanned.findings, overwrite=False)}
        hashes: dict[tuple[str, str], tuple[str | None, Path | None, bytes | None, str | None]] = {}

        def read(image: ImageRef) -> tuple[str | None, Path | None, bytes | None, str | None]:
            ref = (image.path, image.src or "")
            if ref not in hashes:
                hashes[ref] = reader.read(image)
            return hashes[ref]

        generated = {
            image_key(image): entry for image, entry in unreviewed(images, self.cache, lambda image: read(image)[0])
        }
        messages: dict[tuple[str, int, int], list[str]] = {}
        for finding in scanned.findings:
            messages.setdefault(image_key(finding.image), []).append(finding.message)
        path = Path(os.path.abspath(scanned.path))
        for image in images:
            key = image_key(image)
            if key not in fixable and key not in generated:
                continue
            digest, image_file, data, error = read(image)
            language = norm_language(self.config.language or image.context.lang)
            item = Item(
                next(self._ids),
                path,
                image,
                NEEDS_ALT if key in fixable else UNREVIEWED,
                tuple(messages.get(key, ())),
                digest,
                language,
                image_role(image),
                image_file,
                data,
                error,
            )
            entry = self._initial_entry(item, generated.get(key))
            item.pinned = entry.key if entry is not None else None
            yield item

    def _initial_entry(self, item: Item, generated: Entry | None) -> Entry | None:
        if item.digest is None:
            return None
        chosen = self._chosen.get(item.group)
        if chosen is not None and (entry := self.cache.get(chosen)) is not None:
            return entry  # what this page last did for the image (a regenerated proposal, say)
        human = self.cache.human_entry(item.digest, item.language, item.role)
        if human is not None:
            return human
        if generated is not None:
            return generated
        return self._newest_in_context(item)

    def _newest_in_context(self, item: Item) -> Entry | None:
        if item.digest is None:
            return None
        same = [
            e
            for e in self.cache.for_image(item.digest)
            if (e.language or "") == (item.language or "") and e.role == item.role
        ]
        return max(same, key=lambda e: (e.updated, e.key)) if same else None

    def entry(self, item: Item) -> Entry | None:
        """The cache entry the item shows now."""
        if item.pinned is not None:
            found = self.cache.get(item.pinned)
            if found is not None:
                return found
        human = self.cache.human_entry(item.digest, item.language, item.role) if item.digest else None
        return human or self._newest_in_context(item)

    # -- reading ---------------------------------------------------------------------------

    def item(self, item_id: int) -> Item:
        with self._lock:
            found = self._items.get(item_id)
        if found is None:
            raise ActionError(
                "this image is no longer in the list (applied, or the list was rebuilt): reload the page", 404
            )
        return found

    def counts(self) -> dict[str, int]:
        counts = {"total": 0, "todo": 0, "reviewed": 0, "edited": 0, "decorative": 0, "needs_alt": 0, "unreviewed": 0}
        for item in self._order:
            entry = self.entry(item)
            counts["total"] += 1
            counts["needs_alt" if item.reason == NEEDS_ALT else "unreviewed"] += 1
            if entry is None or not entry.is_human:
                counts["todo"] += 1
            else:
                counts[entry.state] += 1
                counts["decorative"] += entry.decorative
        return counts

    def page(self, offset: int = 0, limit: int = DEFAULT_PAGE_SIZE, filter: str = "all") -> dict[str, Any]:
        if filter not in FILTERS:
            raise ActionError(f"unknown filter {filter!r}; expected one of {', '.join(FILTERS)}", 400)
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        with self._lock:
            order = self._order
            if filter != "all":
                todo = filter == "todo"
                order = [item for item in order if self._is_done(item) != todo]
            offset = max(0, min(offset, max(len(order) - 1, 0)))
            chosen = order[offset : offset + limit]
            return {
                "offset": offset,
                "limit": limit,
                "filter": filter,
                "matching": len(order),
                "counts": self.counts(),
                "items": [self.describe(item) for item in chosen],
                "regenerate": self.regenerate_info(),
                "max_length": self.config.max_length,
                "file_errors": self.file_errors[:20],
            }

    def _is_done(self, item: Item) -> bool:
        entry = self.entry(item)
        return entry is not None and entry.is_human

    def regenerate_info(self) -> dict[str, Any]:
        if self.regenerator is None:
            return {"available": False, "reason": self.no_model_reason or "regenerate is off"}
        return {
            "available": True,
            "models": {slot: spec.name for slot, spec in self.regenerator.slots.available.items()},
        }

    def model_label(self, model_id: str) -> str:
        if self.regenerator is not None:
            return self.regenerator.label(model_id)
        return "a person" if model_id == HUMAN else model_id

    def describe(self, item: Item) -> dict[str, Any]:
        """The item as the page gets it (JSON-ready)."""
        image = item.image
        ctx = image.context
        entry = self.entry(item)
        proposal = None
        if entry is not None:
            proposal = {
                "alt": entry.alt,
                "decorative": entry.decorative,
                "chars": len(entry.alt),
                "too_long": len(entry.alt) > self.config.max_length,
                "model": self.model_label(entry.model_id),
                "written_by": self.model_label(entry.written_by),
                "state": entry.state,
                "updated": entry.updated,
                "language": language_tag(entry.language),
            }
        paragraph = ctx.paragraph
        if paragraph and len(paragraph) > MAX_CONTEXT:
            paragraph = paragraph[: MAX_CONTEXT - 1] + "…"
        shown = item.image_file is not None or item.image_data is not None
        return {
            "id": item.id,
            "page": image.path,
            "line": image.line,
            "column": image.column,
            "src": image.src,
            "source": image.source,
            "current_alt": image.alt,
            "reason": item.reason,
            "findings": list(item.findings),
            "context": {
                "page_title": ctx.page_title,
                "heading": ctx.heading,
                "paragraph": paragraph,
                "caption": ctx.caption,
                "link_text": ctx.link_text,
                "link_href": ctx.link_href,
                "in_link": ctx.in_link,
                "in_button": ctx.in_button,
            },
            "language": language_tag(item.language),
            "state": MISSING if entry is None else entry.state,
            "proposal": proposal,
            "image_url": f"/api/image/{item.id}" if shown else None,
            "image_error": item.image_error,
            "can_decide": item.digest is not None,
        }

    def image_bytes(self, item_id: int) -> tuple[bytes, str]:
        """The image of one item: only files resolve_src proved to be inside the project root."""
        from alttext_tools.images.resolve import ImageSource, read_image_bytes

        item = self.item(item_id)
        if item.image_data is not None:
            return item.image_data, _sniff(item.image_data)
        if item.image_file is None:
            raise ActionError(item.image_error or "no image", 404)
        root = self.config.root.resolve()
        try:
            real = item.image_file.resolve()
            if not real.is_relative_to(root) or real != item.image_file:
                raise ActionError("image path is outside the project root", 403)
            data = read_image_bytes(ImageSource(kind="file", src=item.image.src or "", path=real))
        except (ImageError, OSError) as exc:
            raise ActionError(f"cannot read the image: {getattr(exc, 'reason', None) or exc}", 404) from None
        return data, _sniff(data)

    # -- decisions -------------------------------------------------------------------------

    def _decidable(self, item: Item) -> str:
        if item.digest is None:
            raise ActionError(
                f"cannot store a decision for this image: {item.image_error or 'its bytes cannot be read'} "
                "(the cache is keyed by the image's bytes)"
            )
        return item.digest

    def _commit(self, item: Item, old: Entry | None, new: Entry, verb: str) -> dict[str, Any]:
        """Point every item that showed `old` (or shares this image and context) at `new`; flush."""
        others = 0
        with self._lock:
            self._chosen[item.group] = new.key
            for other in self._order:
                if other is item or other.group == item.group or (old is not None and other.pinned == old.key):
                    if other is not item:
                        others += 1
                    other.pinned = new.key
        try:
            self.cache.flush()
        except CacheError as exc:
            raise ActionError(f"could not save the alt-text cache: {exc}", 500) from None
        message = f"{verb}: {_where(item)}"
        if others:
            message += f" (and {others} other use{'' if others == 1 else 's'} of this image)"
        return {"message": message, "item": self.describe(item)}

    def accept(self, item_id: int) -> dict[str, Any]:
        item = self.item(item_id)
        self._decidable(item)
        with self._lock:
            entry = self.entry(item)
            if entry is None:
                raise ActionError(
                    "nothing to accept: no proposal yet; write the alt text (e) or mark the image decorative (d)"
                )
            if entry.decorative:
                self._check_decorative(item)
            new = self.cache.set_review(entry)
        return self._commit(item, entry, new, "Accepted")

    def edit(self, item_id: int, alt: object) -> dict[str, Any]:
        if not isinstance(alt, str):
            raise ActionError("alt must be a string", 400)
        text = normalize_alt(alt)
        if not text:
            raise ActionError("the alt text is empty: write a description, or mark the image decorative (d)", 400)
        item = self.item(item_id)
        digest = self._decidable(item)
        with self._lock:
            entry = self.entry(item)
            if entry is not None:
                new = self.cache.edit(entry, text)
            else:
                new = self.cache.put_human(digest, item.language, item.role, text)
        result = self._commit(item, entry, new, "Saved")
        if len(text) > self.config.max_length:
            result["message"] += f"; note: {len(text)} characters, over the {self.config.max_length} limit"
        return result

    def decorative(self, item_id: int) -> dict[str, Any]:
        item = self.item(item_id)
        digest = self._decidable(item)
        self._check_decorative(item)
        with self._lock:
            entry = self.entry(item)
            if entry is not None:
                new = self.cache.edit(entry, "", decorative=True)
            else:
                new = self.cache.put_human(digest, item.language, item.role, "", decorative=True)
        return self._commit(item, entry, new, "Marked decorative")

    def _check_decorative(self, item: Item) -> None:
        image = item.image
        if image.syntax in (Syntax.HTML_INPUT_IMAGE, Syntax.HTML_AREA):
            raise ActionError(
                "an image button or image-map area cannot be decorative: it needs alt text naming what it does"
            )
        if is_functional(item.role) and not (image.context.link_text or "").strip():
            what = "button" if image.context.in_button else "link"
            raise ActionError(
                f"this image is the only content of a {what}: "
                f"it needs alt text naming where the {what} goes, not decorative"
            )

    def regenerate(self, item_id: int) -> dict[str, Any]:
        from alttext_tools.generate.records import FAILED, SVG_TITLE

        item = self.item(item_id)
        digest = self._decidable(item)
        if self.regenerator is None:
            raise ActionError(f"regenerate is off: {self.no_model_reason or 'no model'}")
        old = self.entry(item)
        mode, note = self.regenerator.target(old)
        record = self.regenerator.run(item.image, mode)
        if record.status == FAILED:
            raise ActionError(f"the model could not describe this image: {record.error}", 502)
        if record.status == SVG_TITLE or not record.model_id:
            raise ActionError(
                "this SVG's text alternative comes from its <title>/<desc>, not from a model: edit it instead"
            )
        new = self.regenerator.regenerated_entry(record, digest, item.language, item.role)
        with self._lock:
            stored = self.cache.put(new, force=True)
        result = self._commit(item, old, stored, f"Regenerated with {self.regenerator.label(record.model_id)}")
        if note:
            result["message"] += f" ({note})"
        return result

    # -- apply -----------------------------------------------------------------------------

    def apply(self) -> dict[str, Any]:
        """Write the reviewed/edited alt of the listed images into their sources; the diff."""
        from alttext_tools.rewrite.diff import diff_path, unified_diff
        from alttext_tools.rewrite.writeback import Status, WriteBack, fix_file
        from alttext_tools.scan.dialects import DialectResolver
        from alttext_tools.scan.dispatch import kind_of, scan_file

        resolve = DialectResolver(self.config.dialect)
        with self._lock:
            by_file: dict[Path, list[tuple[Item, Entry]]] = {}
            for item in self._order:
                entry = self.entry(item)
                if entry is not None and entry.is_human:
                    by_file.setdefault(item.file, []).append((item, entry))
            files: list[dict[str, Any]] = []
            diffs: list[str] = []
            written = already = 0
            for path, pairs in by_file.items():
                display = pairs[0][0].image.path
                record: dict[str, Any] = {
                    "path": display,
                    "status": "unchanged",
                    "images": 0,
                    "error": None,
                    "notes": [],
                }
                files.append(record)
                try:
                    before = path.read_bytes()
                except OSError as exc:
                    record.update(status="failed", error=exc.strerror or str(exc))
                    continue
                scan = scan_file(path, display, resolve(path) if kind_of(path) == "markdown" else None)
                if scan.source is None:
                    record.update(status="failed", error=scan.error.message if scan.error else "cannot read")
                    continue
                fresh = {image_key(image): image for image in scan.images}
                decisions: dict[tuple[str, int, int], Decision] = {}
                for item, entry in pairs:
                    image = fresh.get(image_key(item.image))
                    if image is None or image.src != item.image.src:
                        record["notes"].append(
                            f"{_where(item)}: the file changed since the list was built; reload and try again"
                        )
                        continue
                    decision = (
                        Decision.mark_decorative("review") if entry.decorative else Decision.text(entry.alt, "review")
                    )
                    if is_satisfied(image, decision):
                        already += 1  # accepted as it stands: nothing to write
                        continue
                    decisions[image_key(image)] = decision
                if not decisions:
                    continue
                outcome = fix_file(
                    path,
                    scan.source,
                    scan.images,
                    decisions,
                    WriteBack.WRITE,
                    findings=evaluate_all(scan.images, self.settings),
                    overwrite=True,
                    display=display,
                    root=self.diff_root,
                    dialect=scan.dialect,
                )
                record["notes"].extend(outcome.notes)
                record["status"] = outcome.status.value
                record["error"] = outcome.error
                if outcome.status is Status.CHANGED:
                    record["images"] = outcome.images
                    written += outcome.images
                    after = path.read_bytes()
                    diffs.append(
                        unified_diff(before, after, diff_path(path, self.diff_root)).decode("utf-8", "replace")
                    )
            self.build()
        changed = sum(f["status"] == "changed" for f in files)
        failed = sum(f["status"] == "failed" for f in files)
        if not by_file:
            message = "Nothing to apply: accept, edit or mark images decorative first"
        else:
            message = (
                f"Wrote {written} image{'' if written == 1 else 's'} in {changed} file{'' if changed == 1 else 's'}"
            )
            if already:
                message += f"; {already} accepted image{' was' if already == 1 else 's were'} already as decided"
            if failed:
                message += f"; {failed} file{'' if failed == 1 else 's'} could not be changed"
        return {"message": message, "diff": "".join(diffs), "files": files, "written": written, "already": already}


def _where(item: Item) -> str:
    return f"{item.image.path} line {item.image.line}"
