"""Alt text from a running `alttext serve` (POST /v1/alt): the Wagtail app's third way to generate, for
sites that keep the model in one service rather than in every worker process."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from typing import Any

from alttext_tools.errors import AltTextError
from alttext_tools.text import one_line

TOKEN_ENV = "ALTTEXT_SERVE_TOKEN"  # as `alttext serve` reads it


class ServeError(AltTextError):
    """`alttext serve` gave no alt text: one line with the server's reason."""


def describe_with_serve(
    url: str,
    data: bytes,
    *,
    page_title: str | None,
    text: str | None,
    language: str | None,
    timeout: float,
    token_env: str = TOKEN_ENV,
) -> dict[str, Any]:
    """The answer of `alttext serve` at `url` for image bytes and their context: a dict with alt,
    decorative, model, route and source (docs/serve.md). Raises ServeError."""
    context = {"page_title": page_title, "text": text, "language": language}
    body = json.dumps({"image_base64": base64.b64encode(data).decode("ascii"), "context": context}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    token = os.environ.get(token_env)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    endpoint = url.rstrip("/") + "/v1/alt"
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            detail = json.loads(err.read()).get("message") or err.reason  # {"error": CODE, "message": ...}
        except (ValueError, AttributeError):
            detail = err.reason
        raise ServeError(f"{endpoint}: HTTP {err.code}: {one_line(str(detail))}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ServeError(f"{endpoint}: no answer ({one_line(str(reason))}); is `alttext serve` running?") from None
    except ValueError:
        raise ServeError(f"{endpoint}: the answer is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("alt"), str):
        raise ServeError(f"{endpoint}: the answer has no alt text")
    return answer
