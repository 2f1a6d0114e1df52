"""In-process vision-language inference through llama-cpp-python (pinned to 0.3.36): `LocalEngine`.

llama_cpp is imported by the functions that load and run a model, never when this module is
imported. How the engine works around llama-cpp-python's sharp edges: docs/engines.md.
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from alttext_tools.engines.base import (
    EngineSettings,
    Generation,
    build_messages,
    build_text_messages,
    strict_json,
    uses_extra_buffers,
)
from alttext_tools.errors import GenerationError, ModelFileError
from alttext_tools.images.errors import ImageDecodeError
from alttext_tools.models.gguf_check import check_model_pair
from alttext_tools.models.spec import ModelSpec, VisionModel
from alttext_tools.text import one_line

if TYPE_CHECKING:
    import llama_cpp
    from llama_cpp.llama_types import CreateChatCompletionResponse

log = logging.getLogger(__name__)
native_log = logging.getLogger("alttext_tools.llama_cpp")

# Handler name (models.spec.HANDLERS) -> class in llama_cpp.llama_chat_format.
HANDLER_CLASSES: dict[str, str] = {
    "moondream": "MoondreamChatHandler",
    "qwen2.5-vl": "Qwen25VLChatHandler",
    "llava": "Llava15ChatHandler",
    "mtmd": "MTMDChatHandler",
}

# Tokens allowed past max_tokens while llama-cpp-python waits for a UTF-8 character to complete
# (at most 3 continuation bytes); beyond that the model is looping on partial characters.
UTF8_GRACE_TOKENS = 8


# --- native logging ------------------------------------------------------------------------------

_recent_native_errors: deque[str] = deque(maxlen=8)
_log_callback: object = None  # the ctypes callback must outlive every native call that may log
_log_lock = threading.Lock()


def _forward_native_log(level: int, text: bytes | None, user_data: ctypes.c_void_p) -> None:
    # Runs inside native code: must never raise.
    message = (text or b"").decode("utf-8", errors="replace").rstrip()
    if level in (2, 3) and message:  # GGML_LOG_LEVEL_WARN, _ERROR: kept for error messages
        _recent_native_errors.append(message)
    if message and native_log.isEnabledFor(logging.DEBUG):
        native_log.debug("%s", message)


def silence_native_logs() -> None:
    """Route llama.cpp, ggml, clip/mtmd and mtmd-helper logs to logging (DEBUG), process-wide."""
    global _log_callback
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd_cpp

    with _log_lock:
        if _log_callback is not None:
            return
        callback = llama_cpp.llama_log_callback(_forward_native_log)
        _log_callback = callback
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        mtmd_cpp.mtmd_log_set(callback, ctypes.c_void_p(0))
        mtmd_cpp.mtmd_helper_log_set(callback, ctypes.c_void_p(0))


def native_detail() -> str:
    """The last warning/error llama.cpp logged, to make our one-line errors specific."""
    return f" ({_recent_native_errors[-1]})" if _recent_native_errors else ""


# --- GPU -----------------------------------------------------------------------------------------

GPU_BUILD_HINT = (
    'for a GPU build: CMAKE_ARGS="-DGGML_CUDA=on" (or -DGGML_METAL=on, -DGGML_VULKAN=on)'
    " pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36"
)


def gpu_offload_note(gpu_layers: int | None) -> str | None:
    """One line when `gpu_layers` (a setting the user gave; None: not given) asks for GPU layers
    but the installed llama-cpp-python has no GPU backend, so the model runs on the CPU."""
    if not gpu_layers:
        return None
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        return None
    return f"gpu_layers: this llama-cpp-python has no GPU backend, so the models run on the CPU; {GPU_BUILD_HINT}"


# --- loading -------------------------------------------------------------------------------------


class _MtmdParams:
    """Stand-in for a handler's `_mtmd_cpp` module that tweaks the mtmd context parameters.

    The handlers build `mtmd_context_params` themselves with no hook for image token limits;
    this proxy is consulted only for `mtmd_context_params_default` and forwards everything else.
    """

    def __init__(self, module: Any, image_max_tokens: int | None) -> None:
        self._module = module
        self._image_max_tokens = image_max_tokens
        # Called before the handler evaluates an image chunk (a _PrefixReuse's pending clear).
        self.before_chunk: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def mtmd_context_params_default(self) -> Any:
        params = self._module.mtmd_context_params_default()
        if self._image_max_tokens is not None and hasattr(params, "image_max_tokens"):
            params.image_max_tokens = self._image_max_tokens
        return params

    def mtmd_helper_eval_chunk_single(self, *args: Any) -> Any:
        if self.before_chunk is not None:
            self.before_chunk()
        return self._module.mtmd_helper_eval_chunk_single(*args)


class _GenerationGuard:
    """Per-Llama instrumentation: marks where generation starts and caps runaway token loops.

    Installed as instance attributes, so it affects only the Llama this engine created.
    """

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self.llm = llm
        self.cap = 0
        self.capped = False
        self.generate_started: float | None = None
        self._create_completion = llm.create_completion
        self._generate = llm.generate
        vars(llm)["create_completion"] = self._timed_create_completion
        vars(llm)["generate"] = self._capped_generate

    def arm(self, max_tokens: int) -> None:
        self.cap = max_tokens + UTF8_GRACE_TOKENS
        self.capped = False
        self.generate_started = None

    def _timed_create_completion(self, *args: Any, **kwargs: Any) -> Any:
        self.generate_started = time.perf_counter()  # handlers call this after the prompt is in
        return self._create_completion(*args, **kwargs)

    def _capped_generate(self, *args: Any, **kwargs: Any) -> Iterator[int]:
        tokens = self._generate(*args, **kwargs)
        try:
            for count, token in enumerate(tokens):
                if count >= self.cap:
                    self.capped = True
                    return
                yield token
        finally:
            tokens.close()

    def remove(self) -> None:
        for name in ("create_completion", "generate"):
            vars(self.llm).pop(name, None)  # breaks the llm <-> guard reference cycle


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


class _PrefixReuse:
    """Keeps the KV cache of a prompt's first text chunk across requests (docs/engines.md).

    llama-cpp-python 0.3.36's vision handlers clear the whole KV cache at the start of every
    request (`llama.reset()`, `kv_cache_clear()`), then evaluate the prompt chunk by chunk: text
    with `Llama.eval`, images with `mtmd_helper_eval_chunk_single`. When the chat template puts
    the instructions before the image (Qwen2.5-VL's system message), that first text chunk is the
    same for every image. This hook defers the clear; the first `eval` of a request then keeps the
    cache positions its tokens share with the previous request's first chunk, drops the rest and
    evaluates only the new tokens. Anything else that comes first (an image chunk, a request that
    evaluates nothing) gets the full clear. The cached positions hold what a fresh evaluation
    would compute: the same tokens, evaluated in the same batches, at the same positions.
    """

    def __init__(self, llm: llama_cpp.Llama, mtmd_params: _MtmdParams | None) -> None:
        self.llm = llm
        self.ctx = llm._ctx
        self.prefix: list[int] = []  # the tokens at cache positions 0..len-1
        self.pending = False  # a clear was asked for and not yet done
        self.reused = 0  # tokens the last request did not evaluate again
        self._clear: Callable[[], None] = self.ctx.kv_cache_clear
        self._eval = llm.eval
        self._mtmd_params = mtmd_params
        vars(self.ctx)["kv_cache_clear"] = self._deferred_clear
        vars(llm)["eval"] = self._eval_reusing
        if mtmd_params is not None:
            mtmd_params.before_chunk = self.settle

    def _deferred_clear(self) -> None:
        self.pending = True

    def settle(self) -> None:
        """Do a clear that is still pending: nothing of the cache is reused."""
        if self.pending:
            self.pending = False
            self.prefix = []
            self._clear()

    def start(self) -> None:
        self.reused = 0

    def _eval_reusing(self, tokens: Sequence[int]) -> None:
        if not self.pending:
            self._eval(tokens)
            return
        self.pending = False
        tokens = list(tokens)
        keep = common_prefix(self.prefix, tokens)
        self.prefix = tokens[:keep]
        self.ctx.kv_cache_seq_rm(-1, keep, -1)
        self.llm.n_tokens = keep
        self.llm.input_ids[:keep] = tokens[:keep]
        if keep < len(tokens):
            self._eval(tokens[keep:])
        else:
            self.llm._requires_eval = False  # as after a fresh eval of these tokens
        self.prefix = tokens
        self.reused = keep

    def remove(self) -> None:
        vars(self.ctx).pop("kv_cache_clear", None)
        vars(self.llm).pop("eval", None)
        if self._mtmd_params is not None:
            self._mtmd_params.before_chunk = None


@dataclass
class _Loaded:
    spec: ModelSpec
    llm: llama_cpp.Llama
    chat_handler: Any  # a llama_chat_format handler: untyped classes without a common base
    guard: _GenerationGuard
    reuse: _PrefixReuse | None = None


def _make_chat_handler(spec: ModelSpec, settings: EngineSettings) -> Any:
    from llama_cpp import llama_chat_format

    handler_class = getattr(llama_chat_format, HANDLER_CLASSES[spec.handler])
    try:
        handler = handler_class(clip_model_path=str(spec.mmproj_path), verbose=settings.verbose)
    except ValueError as err:  # "Clip model path does not exist"
        raise ModelFileError(spec.mmproj_path, str(err)) from None
    if hasattr(handler, "_mtmd_cpp"):
        handler._mtmd_cpp = _MtmdParams(handler._mtmd_cpp, settings.image_max_tokens)
    return handler


_model_defaults_lock = threading.Lock()


@contextmanager
def native_model_params(settings: EngineSettings) -> Iterator[None]:
    """Construct a `llama_cpp.Llama` inside this to apply the `settings` that its constructor
    takes no argument for (`extra_buffers`: llama_model_params.use_extra_bufts). Llama starts from
    `llama_model_default_params()`; while inside, that function returns the defaults so changed."""
    import llama_cpp.llama_cpp as native

    fields = {} if uses_extra_buffers(settings) else {"use_extra_bufts": False}
    if not fields:
        yield
        return
    defaults = native.llama_model_default_params

    def changed() -> Any:
        params = defaults()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    with _model_defaults_lock:
        native.llama_model_default_params = changed
        try:
            yield
        finally:
            native.llama_model_default_params = defaults


def _new_llama(spec: ModelSpec, chat_handler: Any, settings: EngineSettings, flash_attn: bool) -> llama_cpp.Llama:
    import llama_cpp

    with native_model_params(settings):
        return llama_cpp.Llama(
            model_path=str(spec.text_path),
            chat_handler=chat_handler,
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            n_ubatch=settings.n_ubatch,
            use_mmap=settings.use_mmap,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads,
            n_gpu_layers=settings.n_gpu_layers,
            flash_attn=flash_attn,
            seed=settings.seed,
            verbose=settings.verbose,
        )


def _load_llama(spec: ModelSpec, chat_handler: Any, settings: EngineSettings) -> llama_cpp.Llama:
    _recent_native_errors.clear()
    try:
        return _new_llama(spec, chat_handler, settings, settings.flash_attn)
    except ValueError as err:
        if settings.flash_attn and "context" in str(err):  # a backend without flash attention
            log.info("llama.cpp context creation failed with flash attention; retrying without")
            try:
                return _new_llama(spec, chat_handler, settings, False)
            except ValueError as retry_err:
                err = retry_err
        raise ModelFileError(spec.text_path, f"llama.cpp could not load the model{native_detail()}") from err


def _init_vision(chat_handler: Any, llm: llama_cpp.Llama, spec: ModelSpec) -> None:
    """Create the mtmd context now rather than on the first image (private hook, both handler bases)."""
    init = getattr(chat_handler, "_init_mtmd_context", None)
    if init is None:
        return
    _recent_native_errors.clear()
    try:
        init(llm)
    except ValueError as err:  # "Failed to load mtmd context", "Vision is not supported"
        detail = native_detail() or f" ({one_line(str(err))})"
        raise ModelFileError(spec.mmproj_path, f"llama.cpp could not load the mmproj{detail}") from err


_schema_ok: dict[str, bool] = {}


def llama_accepts_grammar(llm: llama_cpp.Llama, gbnf: str) -> bool:
    """Whether llama.cpp parses `gbnf`. A grammar it rejects becomes a NULL sampler that
    llama-cpp-python adds to the sampler chain unchecked, which crashes on the first token."""
    import llama_cpp

    model = getattr(llm, "_model", None)
    if model is None:
        return True  # cannot check on this version; trust the converter
    sampler = llama_cpp.llama_sampler_init_grammar(model.vocab, gbnf.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def schema_supported(json_schema: dict[str, Any], llm: llama_cpp.Llama) -> bool:
    """Whether the schema becomes a grammar that llama.cpp accepts (cached per schema).

    The handlers silently fall back to "any JSON" when conversion fails, so we check first and
    report json_mode=False instead of pretending the schema was enforced.
    """
    from llama_cpp.llama_grammar import LlamaGrammar

    key = json.dumps(json_schema)  # what the handler converts, so the same grammar is checked
    if key not in _schema_ok:
        try:
            gbnf = LlamaGrammar.from_json_schema(key, verbose=False)._grammar
            _schema_ok[key] = llama_accepts_grammar(llm, gbnf)
            reason = "llama.cpp rejected the grammar"
        except Exception as err:  # the converter raises bare AssertionError/ValueError
            _schema_ok[key] = False
            reason = one_line(str(err))
        if not _schema_ok[key]:
            log.warning("JSON schema unusable as a llama.cpp grammar, generating plain text: %s", reason)
    return _schema_ok[key]


_IMAGE_ERRORS = ("Failed to create bitmap",)
# The last one is numpy's, from Llama.eval() writing past its n_ctx-sized token buffer: with
# M-RoPE models (Qwen) the handler counts image positions, not tokens, and misses the overflow.
_PROMPT_TOO_LONG = ("Prompt exceeds n_ctx", "exceed context window", "could not broadcast input array")
_DECODE_FAILED = ("llama_decode returned", "Failed to evaluate chunk")


def _classify(err: Exception, spec: ModelSpec, n_ctx: int) -> Exception | None:
    """Map llama-cpp-python's exceptions (plain ValueError/RuntimeError) to ours; None if unknown."""
    message = one_line(str(err))
    where = spec.model_id
    if message.startswith(_IMAGE_ERRORS):
        return ImageDecodeError(f"{where}: could not decode the image bytes (not a PNG/JPEG/GIF/BMP image, or corrupt)")
    if any(text in message for text in _PROMPT_TOO_LONG):
        return GenerationError(
            f"{where}: prompt and image do not fit the context ({message}); raise n_ctx or lower image_max_tokens"
        )
    if any(text in message for text in _DECODE_FAILED):
        return GenerationError(
            f"{where}: ran out of context or failed to decode with n_ctx {n_ctx}: {message}{native_detail()}"
        )
    if message.startswith("Failed to tokenize input"):
        return GenerationError(f"{where}: mtmd could not tokenize the prompt and image ({message})")
    return None


# --- engine --------------------------------------------------------------------------------------


class LocalEngine:
    """An `engines.base.Engine` for local GGUF files (`ModelSpec`): at most one loaded model per
    ModelSpec, loaded on first use, freed by close().

    Safe to share between threads: calls are serialised by a lock, because a llama.cpp context
    runs one request at a time anyway.
    """

    concurrency = 1

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.load_counts: dict[str, int] = {}
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.RLock()
        self._closed = False
        if not self.settings.verbose:
            silence_native_logs()

    # context manager -------------------------------------------------------------------------

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # lifecycle -------------------------------------------------------------------------------

    @property
    def image_max_tokens(self) -> int | None:
        return self.settings.image_max_tokens

    @property
    def loaded_models(self) -> list[str]:
        return list(self._loaded)

    def prepare(self, model: VisionModel) -> None:
        self.load(local_spec(model))

    def load(self, spec: ModelSpec) -> float:
        """Load `spec` now (validating its files first); seconds spent, 0.0 if already loaded."""
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalEngine is closed")
            check_model_pair(spec.text_path, spec.mmproj_path, spec.handler)
            if spec.model_id in self._loaded:
                return 0.0
            started = time.perf_counter()
            self._loaded[spec.model_id] = self._load(spec)
            self.load_counts[spec.model_id] = self.load_counts.get(spec.model_id, 0) + 1
            return time.perf_counter() - started

    def _load(self, spec: ModelSpec) -> _Loaded:
        chat_handler = _make_chat_handler(spec, self.settings)
        llm = _load_llama(spec, chat_handler, self.settings)
        try:
            _init_vision(chat_handler, llm, spec)
        except BaseException:
            llm.close()
            raise
        reuse = None
        if self.settings.prefix_cache and not (llm._is_recurrent or llm._is_hybrid):
            params = getattr(chat_handler, "_mtmd_cpp", None)
            reuse = _PrefixReuse(llm, params if isinstance(params, _MtmdParams) else None)
        return _Loaded(spec, llm, chat_handler, _GenerationGuard(llm), reuse)

    def close(self) -> None:
        """Free every model (Llama.close() also frees the handler's mtmd context). Idempotent."""
        with self._lock:
            self._closed = True
            while self._loaded:
                _, loaded = self._loaded.popitem()
                _close_loaded(loaded)

    # inference -------------------------------------------------------------------------------

    def generate(
        self,
        model: VisionModel,
        image_png: bytes,
        system: str,
        user: str,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Generation:
        """Describe one image in at most `max_tokens` answer tokens (None: the settings' cap).
        Raises ModelFileError, ImageDecodeError or GenerationError."""
        started = time.perf_counter()
        spec = local_spec(model)
        if not image_png:
            raise ImageDecodeError(f"{spec.model_id}: empty image data")
        with self._lock:
            load_s = self.load(spec)
            loaded = self._loaded[spec.model_id]
            messages = build_messages(image_png, system, user)
            json_mode = json_schema is not None and schema_supported(json_schema, loaded.llm)
            request_started = time.perf_counter()
            try:
                response = self._complete(loaded, messages, json_schema if json_mode else None, max_tokens)
            except _GrammarPathFailed as failure:
                log.warning("%s: JSON mode failed (%s); retrying as plain text", spec.model_id, failure)
                json_mode = False
                request_started = time.perf_counter()
                response = self._complete(loaded, messages, None, max_tokens)
            finished = time.perf_counter()
            # Inside the lock: the guard's timing mark belongs to this request.
            return self._result(loaded, response, json_mode, load_s, request_started, started, finished)

    def complete_text(self, model: VisionModel, system: str, user: str) -> Generation:
        """A text-only chat completion through the same handler and context (the handler renders
        the template and evaluates text chunks only: no image, no vision encode). Plain text out.
        Raises ModelFileError or GenerationError."""
        started = time.perf_counter()
        spec = local_spec(model)
        with self._lock:
            load_s = self.load(spec)
            loaded = self._loaded[spec.model_id]
            request_started = time.perf_counter()
            response = self._complete(loaded, build_text_messages(system, user), None)
            finished = time.perf_counter()
            return self._result(loaded, response, False, load_s, request_started, started, finished)

    def _complete(
        self,
        loaded: _Loaded,
        messages: list[dict[str, Any]],
        json_schema: dict[str, Any] | None,
        max_tokens: int | None = None,
    ) -> CreateChatCompletionResponse:
        settings = self.settings
        limit = min(max_tokens, settings.max_tokens) if max_tokens else settings.max_tokens
        kwargs: dict[str, Any] = {
            "messages": messages,
            "temperature": settings.temperature,
            "max_tokens": limit,
            "seed": settings.seed,
        }
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        loaded.guard.arm(limit)
        if loaded.reuse is not None:
            loaded.reuse.start()
        _recent_native_errors.clear()  # details in our messages must come from this request
        try:
            response = loaded.llm.create_chat_completion(**kwargs)
        except Exception as err:  # per-image contract: nothing from one image may escape untyped
            mapped = _classify(err, loaded.spec, settings.n_ctx)
            if mapped is not None:
                raise mapped from err
            if json_schema is not None:
                raise _GrammarPathFailed(one_line(str(err))) from err
            detail = f"{type(err).__name__}: {one_line(str(err))}{native_detail()}"
            raise GenerationError(f"{loaded.spec.model_id}: {detail}") from err
        finally:
            if loaded.reuse is not None:
                loaded.reuse.settle()  # a request that evaluated nothing still clears the cache
        if loaded.guard.capped:
            raise GenerationError(
                f"{loaded.spec.model_id}: stopped after {loaded.guard.cap} tokens of incomplete UTF-8 output"
                " (the model keeps emitting partial characters)"
            )
        if not isinstance(response, dict):  # a stream, which is never asked for
            raise GenerationError(f"{loaded.spec.model_id}: llama-cpp-python answered with a stream")
        return response

    def _result(
        self,
        loaded: _Loaded,
        response: CreateChatCompletionResponse,
        json_mode: bool,
        load_s: float,
        request_started: float,
        started: float,
        finished: float,
    ) -> Generation:
        choice = response["choices"][0]
        generate_started = loaded.guard.generate_started
        encode_s = None if generate_started is None else generate_started - request_started
        text = (choice["message"]["content"] or "").strip()
        return Generation(
            text=strict_json(text) if json_mode else text,
            model_id=loaded.spec.model_id,
            handler=loaded.spec.handler,
            json_mode=json_mode,
            load_s=load_s,
            encode_s=encode_s,
            generate_s=finished - (generate_started or request_started),
            total_s=finished - started,
            tokens=int(response.get("usage", {}).get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(response.get("usage", {}).get("prompt_tokens", 0)),
        )


def local_spec(model: VisionModel) -> ModelSpec:
    """`model` as the local GGUF files LocalEngine runs; TypeError for any other kind of model."""
    if not isinstance(model, ModelSpec):
        raise TypeError(f"LocalEngine runs local GGUF files (a ModelSpec), not {model.model_id}")
    return model


class _GrammarPathFailed(Exception):
    """Internal: the JSON-grammar request failed for a reason other than the image or context."""


def _close_loaded(loaded: _Loaded) -> None:
    loaded.guard.remove()
    if loaded.reuse is not None:
        loaded.reuse.remove()
    loaded.llm.close()  # runs the handler's registered mtmd_free as well
    # Belt and braces for handler versions that do not register mtmd_free on the Llama.
    ctx = getattr(loaded.chat_handler, "mtmd_ctx", None)
    if ctx is not None:
        import llama_cpp.mtmd_cpp as mtmd_cpp

        mtmd_cpp.mtmd_free(ctx)
        loaded.chat_handler.mtmd_ctx = None
