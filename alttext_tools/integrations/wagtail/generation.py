"""Alt text for Wagtail images: one `Describer` per worker process, holding the config, the alt-text
cache and one engine (a local model loads on the first image, once; or a server's client)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alttext_tools.core import INFORMATIVE
from alttext_tools.errors import AltTextError, CacheError
from alttext_tools.text import one_line

if TYPE_CHECKING:
    from alttext_tools.cache.file import Entry
    from alttext_tools.cache.store import AltCache
    from alttext_tools.config import Config
    from alttext_tools.core import ImageRef
    from alttext_tools.generate.records import ImageRecord
    from alttext_tools.review.session import Regenerator

logger = logging.getLogger("alttext")

ROLE = INFORMATIVE  # a library image is not inside a link or a button


class DescribeFailed(AltTextError):
    """An image got no description: one line saying why."""


@dataclass
class Described:
    """What generation wrote for one image."""

    sha256: str
    alt: str  # "" when decorative
    decorative: bool
    model_id: str
    language: str | None
    from_cache: bool


class Describer:
    """The generation pipeline of `alttext fix` for Wagtail images: same prompts, routing,
    post-processing and content-addressed cache, with the image's title and collection as context.
    Thread-safe: generations run one at a time (llama.cpp runs one request at a time anyway)."""

    def __init__(self, config: Config, serve_url: str | None = None) -> None:
        self.config = config
        self.serve_url = serve_url  # a running `alttext serve` writes the descriptions instead
        self.lock = threading.Lock()
        self.cache = _open_cache(config)
        self._regenerator: Regenerator | None = None

    @property
    def regenerator(self) -> Regenerator:
        """The models and the engine every generation shares, set up on first use."""
        if self._regenerator is None:
            from alttext_tools.models.slots import ModelSetupError
            from alttext_tools.review.session import Regenerator

            if self.config.backend != "openai":
                from alttext_tools.engines.llama import gpu_offload_note
                from alttext_tools.extras import MissingExtraError, require

                try:
                    require("local", "alttext's Wagtail integration with models in this process")
                except MissingExtraError as exc:
                    raise DescribeFailed(str(exc)) from None
                note = gpu_offload_note(self.config.gpu_layers)
                if note:
                    logger.warning("alttext: %s", note)
            try:
                self._regenerator = Regenerator.for_config(self.config, None, logger.info)
            except ModelSetupError as exc:
                raise DescribeFailed(str(exc)) from None
        return self._regenerator

    def image_ref(self, image: Any) -> ImageRef:
        """The image as the prompt builder sees it: its title as the heading, its collection (when
        not the root) as the page title, and the configured language."""
        from alttext_tools.generate.standalone import standalone_image

        collection = getattr(image, "collection", None)
        collection_name = None if collection is None or collection.is_root() else collection.name
        return standalone_image(
            f"image {image.pk} ({one_line(image.title)[:80]})",
            title=collection_name,
            heading=image.title,
            language=self.config.language,
        )

    def describe(self, image: Any) -> Described:
        """Alt text for a Wagtail image (its file's bytes): from the cache when these bytes were
        described before with the same model and language, else from the model. Raises DescribeFailed."""
        from alttext_tools.cache.providers import GenerationCacheAdapter
        from alttext_tools.generate.provider import ModelProvider
        from alttext_tools.generate.records import CACHED, DescribeError
        from alttext_tools.images.resolve import content_hash

        data = read_image(image)
        if self.serve_url is not None:
            return self._describe_with_serve(image, data)
        regenerator = self.regenerator
        adapter = GenerationCacheAdapter(self.cache, self.config.max_length) if self.cache is not None else None
        with self.lock:
            provider = ModelProvider.from_config(
                self.config, regenerator.slots, engine=regenerator.models.engine, cache=adapter, log=logger.info
            )
            try:
                record, decision = provider.describe(self.image_ref(image), data)
            except DescribeError as err:
                raise DescribeFailed(err.reason) from None
            self._flush()
        return Described(
            content_hash(data),
            "" if decision.decorative else decision.alt,
            decision.decorative,
            record.model_id or "",
            record.language,
            record.status == CACHED,
        )

    def _describe_with_serve(self, image: Any, data: bytes) -> Described:
        from alttext_tools.images.resolve import content_hash
        from alttext_tools.integrations.wagtail.serve_client import ServeError, describe_with_serve

        ref = self.image_ref(image)
        assert self.serve_url is not None
        try:
            answer = describe_with_serve(
                self.serve_url,
                data,
                page_title=ref.context.page_title,
                text=ref.context.heading,
                language=self.config.language,
                timeout=self.config.timeout,
            )
        except ServeError as exc:
            raise DescribeFailed(str(exc)) from None
        decorative = bool(answer.get("decorative"))
        return Described(
            content_hash(data),
            "" if decorative else str(answer["alt"]),
            decorative,
            str(answer.get("model") or ""),
            self.config.language,
            answer.get("source") == "cache",
        )

    def regenerate(self, image: Any, sha256: str) -> tuple[Described, str | None]:
        """A fresh answer from the other model slot than the one that wrote the current entry (the
        review page's regenerate), stored in the cache over the old one; (result, note). With
        `alttext serve`, the server is asked again."""
        from alttext_tools.generate.records import FAILED, SVG_TITLE

        if self.serve_url is not None:
            return self.describe(image), "alttext serve chooses the model itself"
        data = read_image(image)
        regenerator = self.regenerator
        mode, note = regenerator.target(self.entry(sha256, None))
        record: ImageRecord = regenerator.describe(self.image_ref(image), data, mode)
        if record.status == FAILED:
            raise DescribeFailed(record.error or "the model gave no answer")
        if record.status == SVG_TITLE or not record.model_id:
            raise DescribeFailed("this SVG's text alternative comes from its <title>/<desc>: edit it instead")
        if self.cache is not None:
            with self.lock:
                self.cache.put(regenerator.regenerated_entry(record, sha256, record.language, ROLE), force=True)
                self._flush()
        result = Described(sha256, record.alt or "", record.decorative, record.model_id, record.language, False)
        return result, note

    # -- review states, as on the review page ------------------------------------------------

    def entry(self, sha256: str, alt: str | None) -> Entry | None:
        """The cache entry for these bytes in this site's language: a person's, else the newest one
        (whose text is `alt`, when given)."""
        if self.cache is None or not sha256:
            return None
        from alttext_tools.cache.key import norm_language

        language = norm_language(self.config.language) or ""
        human = self.cache.human_entry(sha256, language, ROLE)
        if human is not None and (alt is None or human.alt == alt):
            return human
        same = [
            e
            for e in self.cache.for_image(sha256)
            if (e.language or "") == language and e.role == ROLE and (alt is None or e.alt == alt)
        ]
        return max(same, key=lambda e: (e.updated, e.key)) if same else None

    def accept(self, sha256: str, alt: str) -> None:
        """A person accepted the generated description: the cache entry becomes `reviewed`."""
        entry = self.entry(sha256, alt)
        if entry is not None and self.cache is not None:
            with self.lock:
                self.cache.set_review(entry)
                self._flush()

    def edit(self, sha256: str, old_alt: str, text: str) -> None:
        """A person wrote the description: an `edited` entry that wins over any model's."""
        if self.cache is None or not sha256:
            return
        entry = self.entry(sha256, old_alt)
        with self.lock:
            if entry is not None:
                self.cache.edit(entry, text)
            else:
                self.cache.put_human(sha256, self.config.language, ROLE, text)
            self._flush()

    def close(self) -> None:
        if self._regenerator is not None:
            self._regenerator.close()
            self._regenerator = None

    def _flush(self) -> None:
        if self.cache is None:
            return
        try:
            self.cache.flush()
        except (CacheError, OSError) as exc:
            logger.warning("alttext: %s: could not save the alt-text cache: %s", self.cache.path, one_line(str(exc)))


def read_image(image: Any) -> bytes:
    """The bytes of a Wagtail image's file (at most images.resolve.DEFAULT_MAX_BYTES). Raises DescribeFailed."""
    from alttext_tools.images.resolve import DEFAULT_MAX_BYTES

    try:
        with image.open_file() as handle:
            data: bytes = handle.read(DEFAULT_MAX_BYTES + 1)
    except OSError as exc:
        raise DescribeFailed(f"cannot read the image file: {exc.strerror or exc}") from None
    if len(data) > DEFAULT_MAX_BYTES:
        raise DescribeFailed(f"the image file is larger than {DEFAULT_MAX_BYTES} bytes")
    return data


def _open_cache(config: Config) -> AltCache | None:
    from alttext_tools.cache.store import AltCache, cache_path_for

    path = cache_path_for(config)
    if path is None:
        return None
    try:
        return AltCache.open(path)
    except CacheError as exc:
        logger.warning("alttext: %s; images are described without the cache", one_line(str(exc)))
        return None


_describer: Describer | None = None
_describer_lock = threading.Lock()


def get_describer() -> Describer:
    """This process's Describer for settings.ALTTEXT (ImproperlyConfigured when it is wrong)."""
    global _describer
    with _describer_lock:
        if _describer is None:
            from alttext_tools.integrations.wagtail.conf import project_config, serve_url

            _describer = Describer(project_config(), serve_url())
        return _describer


def forget_describer() -> None:
    """Close this process's Describer (its models); the next image makes a new one."""
    global _describer
    with _describer_lock:
        old, _describer = _describer, None
    if old is not None:
        old.close()
