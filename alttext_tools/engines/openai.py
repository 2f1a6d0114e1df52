"""`OpenAIEngine`: generation through an OpenAI-compatible server (`--backend openai --base-url URL`),
with retries, one-line errors and response_format fallbacks; see docs/engines.md."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from alttext_tools.config import Config
from alttext_tools.engines.base import Generation, build_messages, build_text_messages, strict_json
from alttext_tools.errors import GenerationError, ModelUnusableError
from alttext_tools.images.errors import ImageDecodeError
from alttext_tools.models.slots import ModelPathError, Slots
from alttext_tools.models.spec import HANDLERS, SLOTS, VisionModel
from alttext_tools.text import one_line

if TYPE_CHECKING:
    from alttext_tools.engines.transport import Reply

log = logging.getLogger(__name__)

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 120.0
DEFAULT_RETRIES = 3
DEFAULT_SERVER_HANDLER = "mtmd"
USER_AGENT = "alttext-tools"

# response_format forms, most standard first (see docs/engines.md).
JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
FORMATS: tuple[str | None, ...] = (JSON_SCHEMA, JSON_OBJECT, None)

_MAX_MESSAGE = 240  # characters of a server's error text kept in our messages
_MAX_BODY = 16 * 1024 * 1024  # a chat completion is a few KB; more is not an answer

_CONTEXT_PATTERNS = re.compile(
    r"n_ctx|context (length|window|size)|maximum context|exceeds? (the )?(available )?context|"
    r"context_length_exceeded|too many tokens|prompt is too long|max_model_len|exceed_context|"
    # llama-cpp-python's server: numpy overflowing its n_ctx-sized token buffer (see engines/llama.py)
    r"could not broadcast input array",
    re.IGNORECASE,
)
# A model without vision, in the words of llama.cpp's server ("image input is not supported"),
# llama-cpp-python ("...not configured with a mmproj module"), vLLM ("is not a multimodal model"),
# LM Studio ("does not support images") and OpenAI ("image_url is only supported by certain
# models"). Deliberately narrow: a server failing on one image must not condemn the model.
_VISION_PATTERNS = re.compile(
    r"(image|vision|multi-?modal)[^.;]{0,40}(not supported|unsupported|not enabled|only supported|not available)|"
    r"(not|n't) (support|accept|handle)[^.;]{0,20}(image|vision|multi-?modal)|"
    r"not an? (multi-?modal|vision)|mmproj|clip model|projector",
    re.IGNORECASE,
)
_MODEL_NOT_FOUND = re.compile(
    r"model\b.*\b(not found|does not exist|not exist|no such|not available|not loaded)|"
    r"(unknown|invalid|no such) model|model_not_found|not found.*model",
    re.IGNORECASE,
)
_FORMAT_PATTERNS = re.compile(r"response_format|json_schema|json_object|schema|grammar", re.IGNORECASE)
_DATA_URI = re.compile(r"data:[\w/+.\-]*;base64,[A-Za-z0-9+/=]{16,}")


class ServerModelError(ModelUnusableError):
    """The server cannot serve this model at all (unknown model, no vision, API key refused), so
    generation marks the slot unusable for the rest of the run instead of failing image after
    image the same way."""


@dataclass(frozen=True)
class ServerSettings:
    """How to reach the server and how hard to try."""

    base_url: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight
    timeout: float = DEFAULT_TIMEOUT  # seconds for one request (connect, and waiting for the answer)
    retries: int = DEFAULT_RETRIES  # extra attempts on 429 / 5xx / refused / reset
    max_tokens: int = 120
    temperature: float = 0.0
    seed: int | None = 0
    backoff: float = 0.5  # first retry delay, doubled each time, +-50 % jitter
    max_backoff: float = 8.0
    # The Qwen2.5-VL resize preset's tokens per image (OpenAIEngine.image_max_tokens).
    image_max_tokens: int | None = 1024


@dataclass(frozen=True)
class ServerModel:
    """A model slot served by the server (a `models.spec.VisionModel`): `name` is the server's model id.

    `handler` only decides the prompt layout and image size (see models.spec.HANDLERS); the
    server does its own chat templating.
    """

    name: str
    handler: str = DEFAULT_SERVER_HANDLER

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise ValueError("a server model needs a name (the server's model id)")
        if self.handler not in HANDLERS:
            raise ValueError(f"unknown handler {self.handler!r}; expected one of {', '.join(HANDLERS)}")

    @property
    def model_id(self) -> str:
        """Stable id for reports and cache keys; never equal to a local model's id."""
        return f"openai:{self.name}:{self.handler}"


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; ValueError (one line) when it cannot be used."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--base-url {url!r}: expected http(s)://HOST[:PORT]/v1")
    if parts.query or parts.fragment:
        raise ValueError(f"--base-url {url!r}: no query or fragment, just http(s)://HOST[:PORT]/PATH")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"--base-url {url!r}: invalid port") from None
    return url.strip().rstrip("/")


# --- errors --------------------------------------------------------------------------------------


def _error_text(body: bytes) -> str:
    """The message inside an error body ({"error": {"message"}}, {"error": "..."}, {"detail"},
    {"message"}), else the body's start."""
    text = body[:4096].decode("utf-8", errors="replace")
    try:
        data = json.loads(body)
    except ValueError:
        return text
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message") is not None:
            return str(error["message"])
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if data.get(key) is not None:
                value = data[key]
                return value if isinstance(value, str) else json.dumps(value)
    return text


# --- engine --------------------------------------------------------------------------------------


class OpenAIEngine:
    """An `engines.base.Engine` over an OpenAI-compatible HTTP API (see docs/engines.md).

    Thread-safe: `concurrency` tells generation how many requests it may keep in flight.
    Nothing is loaded in process, so `load_counts` stays empty.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.base_url = check_base_url(settings.base_url)
        if settings.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if settings.timeout <= 0:
            raise ValueError("timeout must be positive")
        if settings.retries < 0:
            raise ValueError("retries cannot be negative")
        self.concurrency = settings.concurrency
        self.load_counts: dict[str, int] = {}
        from alttext_tools.engines.transport import HttpClient, shown_proxy  # httpx: only when a server is used

        self._http = HttpClient(self.base_url, settings.timeout, keepalive=settings.concurrency + 1, max_body=_MAX_BODY)
        # Where requests go, as messages name it: the base URL, and the proxy when there is one.
        self._where = self.base_url + (
            f" (through the proxy {shown_proxy(self._http.proxy)})" if self._http.proxy else ""
        )
        env = os.environ if environ is None else environ
        self.__key = env.get(settings.api_key_env) or None  # name-mangled: never in a repr or message
        self._sleep = sleep
        self._lock = threading.Lock()
        self._format: dict[str, int] = {}  # model name -> index into FORMATS that the server accepts
        self._checked: set[str] = set()  # model names the server's /models list confirmed
        self._unresponsive = False  # a request used all its retries on a dead server

    def __repr__(self) -> str:
        return f"OpenAIEngine({self.base_url!r}, concurrency={self.concurrency})"

    # context manager / lifecycle ---------------------------------------------------------------

    def __enter__(self) -> OpenAIEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()

    @property
    def loaded_models(self) -> list[str]:
        return []

    @property
    def image_max_tokens(self) -> int | None:
        return self.settings.image_max_tokens

    # helpers ---------------------------------------------------------------------------------

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        if self.__key:
            headers["Authorization"] = f"Bearer {self.__key}"
        return headers

    def _clean(self, text: str) -> str:
        """A server's text as it may appear in our messages: one line, short, no key, no image data."""
        if self.__key:
            text = text.replace(self.__key, "***")
        text = one_line(_DATA_URI.sub("data:...", text))
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        from alttext_tools.engines.transport import retry_after_seconds

        wait = retry_after_seconds(retry_after)  # delay-seconds or an HTTP-date
        if wait is not None:
            return min(wait, self.settings.max_backoff * 4)
        delay = min(self.settings.backoff * 2.0**attempt, self.settings.max_backoff)
        return delay * random.uniform(0.5, 1.5)

    # model check -----------------------------------------------------------------------------

    def prepare(self, model: VisionModel) -> None:
        """Ask the server's `/models` list once whether it serves `model.name`.

        Raises ServerModelError when the list is readable and the model is not on it; a server
        that cannot answer the question (no such endpoint, not running) is asked again later or
        left to the chat request's own error.
        """
        from alttext_tools.engines import transport

        name = model.name
        with self._lock:
            if name in self._checked:
                return
        try:
            reply = self._http.request(
                "GET", "/models", None, self._headers(), timeout=min(self.settings.timeout, 15.0)
            )
        except (transport.Refused, transport.Reset, transport.TimedOut, transport.Unreachable):
            return  # the chat request reports it, with retries
        if reply.status in (401, 403):
            raise self._auth_error(reply)
        served: list[str] | None = None
        if reply.status == 200:
            try:
                data = json.loads(reply.body)
                served = [str(item["id"]) for item in data["data"]]
            except (ValueError, KeyError, TypeError):
                served = None
        if served is not None and served and not _served(name, served):
            shown = ", ".join(served[:8]) + (", ..." if len(served) > 8 else "")
            raise ServerModelError(f"model {name!r} not found on the server at {self.base_url} (it serves: {shown})")
        if reply.status == 200 or reply.status in (404, 405):
            with self._lock:
                self._checked.add(name)

    def _auth_error(self, reply: Reply) -> ServerModelError:
        env = self.settings.api_key_env
        hint = (
            f"check the key in ${env}"
            if self.__key
            else f"set the API key in ${env} (or name another variable with --api-key-env)"
        )
        detail = self._clean(_error_text(reply.body))
        return ServerModelError(
            f"the server at {self.base_url} refused the request (HTTP {reply.status}: {detail}); {hint}"
        )

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
        Raises ServerModelError (a ModelFileError), ImageDecodeError or GenerationError, each one line."""
        started = time.perf_counter()
        if not image_png:
            raise ImageDecodeError(f"{model.model_id}: empty image data")
        self.prepare(model)
        messages = build_messages(image_png, system, user)
        while True:
            with self._lock:
                index = self._format.get(model.name, 0) if json_schema is not None else len(FORMATS) - 1
            mode = FORMATS[index]
            body: dict[str, Any] = {
                "model": model.name,
                "messages": messages,
                "max_tokens": min(max_tokens, self.settings.max_tokens) if max_tokens else self.settings.max_tokens,
                "temperature": self.settings.temperature,
                "stream": False,
            }
            if self.settings.seed is not None:
                body["seed"] = self.settings.seed
            if mode == JSON_SCHEMA and json_schema is not None:
                # strict false: OpenAI's strict mode refuses keywords such as maxLength; servers
                # with grammar-constrained decoding (llama.cpp, vLLM, Ollama) enforce it anyway.
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "alt_text",
                        "schema": {**json_schema, "additionalProperties": False},
                        "strict": False,
                    },
                }
            elif mode == JSON_OBJECT:
                body["response_format"] = {"type": "json_object", "schema": json_schema}
            request_started = time.perf_counter()
            try:
                data = self._post(model, json.dumps(body).encode("utf-8"), json_mode=mode is not None)
            except _FormatRejected as rejected:
                with self._lock:
                    if self._format.get(model.name, 0) == index:
                        self._format[model.name] = index + 1
                following = FORMATS[index + 1] or "plain text"
                log.info(
                    "%s: the server rejected response_format %s (%s); trying %s", model.name, mode, rejected, following
                )
                continue
            finished = time.perf_counter()
            return self._result(model, data, mode is not None, request_started, started, finished)

    def complete_text(self, model: VisionModel, system: str, user: str) -> Generation:
        """A text-only chat completion (no image part, no response_format), through the same
        request helper: retries and one-line errors as for `generate`."""
        started = time.perf_counter()
        self.prepare(model)
        body: dict[str, Any] = {
            "model": model.name,
            "messages": build_text_messages(system, user),
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "stream": False,
        }
        if self.settings.seed is not None:
            body["seed"] = self.settings.seed
        request_started = time.perf_counter()
        data = self._post(model, json.dumps(body).encode("utf-8"), json_mode=False)
        return self._result(model, data, False, request_started, started, time.perf_counter())

    def _post(self, model: VisionModel, payload: bytes, *, json_mode: bool) -> dict[str, Any]:
        """POST /chat/completions with retries; the parsed answer, or one of our errors."""
        from alttext_tools.engines import transport

        with self._lock:
            attempts = 1 if self._unresponsive else 1 + self.settings.retries
        where = self._where
        last = ""
        silent = False  # the last attempt got no HTTP answer at all (refused / reset)
        retry_after: str | None = None  # the previous answer's Retry-After header
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._backoff(attempt - 1, retry_after))
            retry_after = None
            try:
                reply = self._http.request("POST", "/chat/completions", payload, self._headers("application/json"))
            except transport.Refused:
                last, silent = f"no server at {where}: is it running? (connection refused)", True
                continue
            except transport.Reset as err:
                last, silent = (
                    f"the server at {where} dropped the connection ({self._clean(str(err))}): did it crash or restart?",
                    True,
                )
                continue
            except transport.TimedOut:
                raise GenerationError(
                    f"{model.name}: no answer from {where} within {self.settings.timeout:g} s (--timeout);"
                    " the server is overloaded or the model too slow for this timeout"
                ) from None
            except transport.Unreachable as err:
                raise GenerationError(f"cannot reach {where}: {self._clean(str(err))}") from None
            with self._lock:
                self._unresponsive = False
            if reply.status == 200:
                return self._parse(reply)
            message = self._clean(_error_text(reply.body))
            self._classify(model, reply.status, reply, message, json_mode)  # raises when it recognises the error
            if reply.status == 429 or reply.status >= 500:
                last, silent = f"the server at {where} answered HTTP {reply.status}: {message}", False
                retry_after = reply.headers.get("retry-after")
                continue
            raise GenerationError(f"{model.name}: the server at {where} answered HTTP {reply.status}: {message}")
        if silent:
            with self._lock:
                self._unresponsive = True  # later requests try once until one gets through
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise GenerationError(f"{last}{tries}")

    def _classify(self, model: VisionModel, status: int, reply: Reply, message: str, json_mode: bool) -> None:
        """Raise the error a non-200 answer stands for when it is recognisable; else return."""
        name, where = model.name, self.base_url
        if status in (401, 403):
            raise self._auth_error(reply)
        if _CONTEXT_PATTERNS.search(message):
            raise GenerationError(
                f"{name}: the image and prompt do not fit the model's context at {where} ({message});"
                " start the server with a larger context (n_ctx / --ctx-size / max_model_len) or send smaller images"
            )
        vision = bool(_VISION_PATTERNS.search(message))
        model_missing = bool(_MODEL_NOT_FOUND.search(message))
        if json_mode:
            about_format = bool(_FORMAT_PATTERNS.search(message))
            if (status in (400, 422) and (about_format or not (vision or model_missing))) or (
                status == 500 and about_format
            ):
                raise _FormatRejected(message)
        if model_missing:
            raise ServerModelError(f"model {name!r} not found on the server at {where} (HTTP {status}: {message})")
        if status == 404:
            raise ServerModelError(
                f"{where}/chat/completions: HTTP 404 ({message}); is --base-url the API root (often ending in /v1)?"
            )
        if vision and status != 429:
            raise ServerModelError(
                f"model {name!r} at {where} does not take images ({message});"
                " serve a vision model (with its mmproj / projector)"
            )

    def _parse(self, reply: Reply) -> dict[str, Any]:
        where = self.base_url
        if len(reply.body) > _MAX_BODY:
            raise GenerationError(f"the server at {where} sent more than {_MAX_BODY} bytes: not a chat completion")
        try:
            data = json.loads(reply.body)
        except ValueError:
            start = self._clean(reply.body[:200].decode("utf-8", "replace"))
            raise GenerationError(
                f"the server at {where} answered with something that is not JSON: {start!r}"
            ) from None
        problem = _completion_problem(data)
        if problem is None and isinstance(data, dict):
            return data
        start = self._clean(json.dumps(data)[:200])
        raise GenerationError(
            f"the server at {where} answered with JSON that is not a chat completion ({problem}): {start}"
        )

    def _result(
        self,
        model: VisionModel,
        data: dict[str, Any],
        json_mode: bool,
        request_started: float,
        started: float,
        finished: float,
    ) -> Generation:
        choice = data["choices"][0]
        text = _content_text(choice["message"].get("content")).strip()
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens", 0) if isinstance(usage, dict) else 0
        prompt_tokens = usage.get("prompt_tokens", 0) if isinstance(usage, dict) else 0
        return Generation(
            text=strict_json(text) if json_mode else text,
            model_id=model.model_id,
            handler=model.handler,
            json_mode=json_mode,
            load_s=0.0,
            encode_s=None,  # the server does not say how its time splits
            generate_s=finished - request_started,
            total_s=finished - started,
            tokens=int(tokens) if isinstance(tokens, (int, float)) else 0,
            finish_reason=str(choice.get("finish_reason") or "stop"),
            prompt_tokens=int(prompt_tokens) if isinstance(prompt_tokens, (int, float)) else 0,
        )


class _FormatRejected(Exception):
    """Internal: the server refused this response_format; try the next form."""


def _served(name: str, served: list[str]) -> bool:
    """Ollama lists "llava:latest" and accepts "llava"."""
    return name in served or f"{name}:latest" in served or any(s.split(":latest")[0] == name for s in served)


def _completion_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if "error" in data and "choices" not in data:
        return f"an error object: {_error_text(json.dumps(data).encode())}"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices"
    first = choices[0]
    if not isinstance(first, dict) or not isinstance(first.get("message"), dict):
        return "no message in the first choice"
    content = first["message"].get("content")
    if content is not None and not isinstance(content, (str, list)):
        return f"message content is a {type(content).__name__}"
    return None


def _content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list; None -> ""."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") in (None, "text")]
    return "".join(str(p) for p in parts)


# --- from configuration --------------------------------------------------------------------------


def _looks_like_file(name: str) -> bool:
    return name.lower().endswith(".gguf") or (Path(name).is_absolute() and Path(name).exists())


def server_slots(config: Config) -> Slots:
    """The slots of ServerModels that config names (`fast_model` / `text_model` are the server's
    model ids; `--model NAME` sets both). Raises models.slots.ModelPathError, one line."""
    models: dict[str, ServerModel | None] = {}
    for slot in SLOTS:
        name: str | None = getattr(config, f"{slot}_model")
        if getattr(config, f"{slot}_mmproj"):
            raise ModelPathError(
                f"--{slot}-mmproj is for the local backend: the server loads its model's projector itself"
            )
        if name is None:
            models[slot] = None
            continue
        if _looks_like_file(name):
            raise ModelPathError(
                f"--{slot}-model {name}: with --backend openai give the server's model id"
                " (see GET /v1/models), not a GGUF file"
            )
        try:
            models[slot] = ServerModel(name, getattr(config, f"{slot}_handler") or DEFAULT_SERVER_HANDLER)
        except ValueError as err:
            raise ModelPathError(str(err)) from None
    if models["fast"] is None and models["text"] is None:
        raise ModelPathError(
            "--backend openai needs --model NAME (the server's model id, as GET /v1/models lists it),"
            " or --fast-model NAME and/or --text-model NAME"
        )
    return Slots(fast=models["fast"], text=models["text"])


def server_engine(config: Config) -> OpenAIEngine:
    """An OpenAIEngine from config (base_url, api_key_env, concurrency, timeout, retries).
    Raises models.slots.ModelPathError for a missing or unusable base URL."""
    if not config.base_url:
        raise ModelPathError(
            "--backend openai needs --base-url URL, e.g. http://127.0.0.1:8080/v1 (llama.cpp server),"
            " http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1 (vLLM),"
            " http://127.0.0.1:1234/v1 (LM Studio)"
        )
    try:
        settings = ServerSettings(
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            concurrency=config.concurrency,
            timeout=float(config.timeout),
            retries=config.retries,
        )
        return OpenAIEngine(settings)
    except ValueError as err:
        raise ModelPathError(str(err)) from None
