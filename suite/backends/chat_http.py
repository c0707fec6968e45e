"""One OpenAI-compatible chat call over HTTP with retries and backoff (stdlib only).

Shared by the searchers' agent client (:mod:`suite.search.agents`) and the ``openai`` backend.
API keys are read from a named environment variable at call time and never appear in messages.
Redirects are never followed: urllib would resend the ``Authorization`` header to whatever host
a redirect names, so a redirect is a one-line error naming the address to configure instead.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suite.core.errors import BackendError

RETRY_STATUSES = frozenset({408, 409, 425, 429})
"""HTTP statuses worth retrying besides every 5xx."""


@dataclass(frozen=True)
class ChatReply:
    """The first choice of a chat completion and what it cost.

    Attributes:
        text: The reply's content.
        prompt_tokens: ``usage.prompt_tokens`` (estimated at 4 characters a token if absent).
        output_tokens: ``usage.completion_tokens`` (estimated likewise if absent).
        latency_s: Wall time of the successful attempt.
        attempts: Attempts made, the successful one included.
    """

    text: str
    prompt_tokens: int
    output_tokens: int
    latency_s: float
    attempts: int


def approx_tokens(text: str) -> int:
    """About four characters a token: the stand-in when a server reports no usage."""
    return max(1, len(text) // 4)


class RedirectRefused(urllib.error.URLError):
    """A server answered with a redirect, which the client does not follow."""

    def __init__(self, code: int, target: str):
        super().__init__(f"redirect {code} to {target}")
        self.code = code
        self.target = target


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect, so credentials never travel to another origin."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        raise RedirectRefused(code, newurl)


_OPENER = urllib.request.build_opener(_NoRedirect())


def _retry_after_s(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI-compatible ``/chat/completions`` endpoint serving one model.

    Args:
        model: The model name the server knows.
        base_url: Up to and including ``/v1``.
        api_key_env: Name of the environment variable holding the key (empty: no key).
        timeout_s: Per-attempt timeout.
        retries: Extra attempts after the first on 429, 5xx, timeouts and malformed replies.
        backoff_s: First wait between attempts; doubles each time, capped at ``max_backoff_s``.
        max_backoff_s: Longest wait between attempts.
        label: How errors name the caller, e.g. ``agent model`` or ``backend openai model``.
        hint: What an error tells the user to check.
    """

    model: str
    base_url: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 600.0
    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    label: str = "model"
    hint: str = "check the endpoint and that the server is up"

    @property
    def url(self) -> str:
        """The chat completions URL."""
        return self.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def chat(
        self,
        messages: Sequence[tuple[str, str]],
        max_tokens: int,
        temperature: float,
        extra: Mapping[str, Any] | None = None,
    ) -> ChatReply:
        """POST one chat and return its first choice, retrying transient failures.

        Args:
            messages: (role, content) pairs.
            max_tokens: Generation limit.
            temperature: Sampling temperature.
            extra: More request fields (``seed``, ``top_p``, ...).

        Raises:
            BackendError: after the last attempt, naming the model and the endpoint (never
                the key).
        """
        payload = {
            "model": self.model,
            "messages": [{"role": r, "content": c} for r, c in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            **(extra or {}),
        }
        body = json.dumps(payload).encode()
        last = "no attempt"
        for attempt in range(self.retries + 1):
            wait = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            started = time.perf_counter()
            try:
                data = self._post(body)
                text, n_prompt, n_out = _parse(data, messages)
                return ChatReply(text, n_prompt, n_out, time.perf_counter() - started, attempt + 1)
            except RedirectRefused as exc:
                raise BackendError(
                    f"{self.label} {self.model} at {self.url} answered with a redirect "
                    f"(HTTP {exc.code}) to {exc.target}; redirects are not followed, so the API "
                    "key never leaves the configured address: set base_url to the server's own "
                    "address"
                ) from None
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code not in RETRY_STATUSES and exc.code < 500:
                    break
                wait = min(self.max_backoff_s, max(wait, _retry_after_s(exc) or 0.0))
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", None)
                last = type(exc).__name__ + (f" ({reason})" if reason is not None else "")
            except http.client.HTTPException as exc:
                last = f"broken reply ({type(exc).__name__})"
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                last = f"malformed reply ({type(exc).__name__})"
            if attempt < self.retries:
                time.sleep(wait)
        raise BackendError(
            f"{self.label} {self.model} at {self.url} failed after {attempt + 1} attempts "
            f"({last}); {self.hint}"
        )

    def _post(self, body: bytes) -> Any:
        req = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
        with _OPENER.open(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())


def _parse(data: Any, messages: Sequence[tuple[str, str]]) -> tuple[str, int, int]:
    """Text and token counts of a chat completion body (raises on a malformed one)."""
    text = str(data["choices"][0]["message"]["content"] or "")
    usage = data.get("usage") or {}
    prompt = "".join(c for _, c in messages)
    n_prompt = int(usage.get("prompt_tokens", approx_tokens(prompt)))
    n_out = int(usage.get("completion_tokens", approx_tokens(text)))
    return text, n_prompt, n_out


def get_ok(url: str, timeout_s: float = 2.0) -> bool:
    """True when a GET of ``url`` answers 200 (used to poll a server's ``/health``)."""
    try:
        with _OPENER.open(url, timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException):
        return False
