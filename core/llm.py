"""A small OpenAI-compatible chat client (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio) on httpx.

- Base URL: give it as the OpenAI SDK takes it, ending in /v1 (``http://127.0.0.1:8000/v1``,
  ``https://api.openai.com/v1``, ``http://localhost:11434/v1``); requests go to ``<base>/chat/completions``.
  A full ``.../chat/completions`` URL is used as it is. A base without /v1 is tried as given first; if that
  answers 404, the client switches to ``<base>/v1/chat/completions`` for the rest of its life.
- API key: read from the environment variable named by ``LLMConfig.api_key_env`` at every request and sent as
  ``Authorization: Bearer``; never stored on the config or client, and scrubbed from every error message.
  No variable (or an empty one) sends no Authorization header (local servers rarely want one).
- JSON mode: ``response_format={"type": "json_object"}`` is sent when ``json_mode`` is "on" or "auto"; in
  "auto", a 400/422 that mentions response_format / JSON / "unsupported" makes the client retry without it
  and remember that for later calls. "off" never sends it.
- Retries: 429, 408, 5xx, timeouts and connection errors are retried up to ``max_retries`` times with
  exponential backoff and full jitter (``uniform(0, min(backoff_cap, backoff_base * 2**n))``); a
  ``Retry-After`` header (seconds or an HTTP date) is waited for exactly, up to ``retry_after_cap`` seconds;
  a longer one fails at once (a quota that resets in an hour is not worth hammering). Other 4xx raise
  ``LLMError`` at once; 401/403/404 are marked ``fatal`` (key, URL or model wrong: no other row will succeed).
- Usage: ``Reply.prompt_tokens`` / ``completion_tokens`` from the response's ``usage``; when the server sends
  none they are estimated at ~4 characters a token and ``Reply.estimated`` is True.
The client is thread-safe (one httpx.Client with a connection pool); use it from many threads at once.
"""
from __future__ import annotations

import email.utils
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Self

import httpx

JSON_MODES = ("auto", "on", "off")
_RETRY_STATUS = {408, 429}
_FATAL_STATUS = {401, 403, 404}
_JSON_HINTS = ("response_format", "json_object", "json mode", "json_mode", "unsupported", "not supported")


class LLMError(RuntimeError):
    """A request that failed for good; str(e) is one line with the status and the server's message (no key)."""

    def __init__(self, msg: str, *, status: int | None = None, fatal: bool = False, attempts: int = 0):
        super().__init__(msg)
        self.status = status
        self.fatal = fatal
        self.attempts = attempts


class LLMCancelled(LLMError):
    """The cancel event was set while the request waited to retry; no reply."""


@dataclass
class LLMConfig:
    """Where and how to call the model. Holds no secret: only the NAME of the key's environment variable."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_retries: int = 6
    json_mode: str = "auto"
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    retry_after_cap: float = 60.0

    def __post_init__(self):
        if self.json_mode not in JSON_MODES:
            raise ValueError(f"json_mode must be one of {JSON_MODES}, not {self.json_mode!r}")
        if not str(self.base_url).startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {self.base_url!r}")
        if not self.model:
            raise ValueError("model is required")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated cost in the price's currency for these token counts."""
        return (prompt_tokens * self.price_in_per_mtok + completion_tokens * self.price_out_per_mtok) / 1e6


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int
    estimated: bool = False
    finish_reason: str | None = None


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token), for servers that report no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds (integer or decimal) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def endpoint(base_url: str) -> str:
    """The chat-completions URL for a base URL (see the module docstring)."""
    base = base_url.strip().rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def _one_line(s: str, limit: int = 240) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _server_message(resp: httpx.Response) -> str:
    """The error message a server put in its body (OpenAI shape {"error": {"message"}} or plain text)."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err
        if err is not None:
            return str(err)
    return str(data)


def _content(data) -> tuple[str, str | None]:
    """(reply text, finish_reason) of a chat-completion body; content parts are joined."""
    choice = data["choices"][0]
    content = (choice.get("message") or {}).get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return (content or ""), choice.get("finish_reason")


class LLMClient:
    """Chat with an OpenAI-compatible server; see the module docstring for URLs, keys, JSON mode and retries."""

    def __init__(self, cfg: LLMConfig, *, max_connections: int = 64):
        self.cfg = cfg
        self._url = endpoint(cfg.base_url)
        self._v1_fallback = not cfg.base_url.strip().rstrip("/").endswith(("/v1", "/chat/completions"))
        self._json_ok: bool | None = None if cfg.json_mode == "auto" else cfg.json_mode == "on"
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.Client(timeout=httpx.Timeout(cfg.timeout, connect=min(cfg.timeout, 10.0)),
                                  limits=limits)

    def __repr__(self) -> str:
        return f"LLMClient(url={self._url!r}, model={self.cfg.model!r}, json_mode={self.cfg.json_mode!r})"

    @property
    def json_supported(self) -> bool | None:
        """None until known; False once the server refused response_format (auto mode) or json_mode is off."""
        return self._json_ok

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _headers(self) -> tuple[dict, str]:
        key = os.environ.get(self.cfg.api_key_env, "").strip() if self.cfg.api_key_env else ""
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers, key

    def _fail(self, msg: str, key: str, **kw) -> LLMError:
        if key:
            msg = msg.replace(key, "***")
        return LLMError(_one_line(msg), **kw)

    def chat(self, messages: list[dict], temperature: float = 0.0, max_tokens: int = 1024, *,
             want_json: bool = True, cancel: threading.Event | None = None) -> Reply:
        """Send one chat completion and return its Reply; raises LLMError (or LLMCancelled) when it fails."""
        body = {"model": self.cfg.model, "messages": messages, "temperature": temperature,
                "max_tokens": int(max_tokens)}
        retries = attempts = 0
        while True:
            use_json = want_json and self._json_ok is not False
            payload = dict(body, response_format={"type": "json_object"}) if use_json else body
            headers, key = self._headers()
            attempts += 1
            wait: float | None = None
            try:
                resp = self._http.post(self._url, json=payload, headers=headers)
            except httpx.TimeoutException:
                problem, status = f"timed out after {self.cfg.timeout:g} s", None
            except httpx.TransportError as e:
                problem, status = f"connection error ({type(e).__name__}: {e})", None
            else:
                status = resp.status_code
                if status == 200:
                    return self._reply(resp, messages, attempts, key)
                problem = f"HTTP {status} from {self._url}: {_server_message(resp)}"
                if status in (400, 422) and use_json and self.cfg.json_mode == "auto" and any(
                        h in resp.text.lower() for h in _JSON_HINTS):
                    self._json_ok = False
                    continue
                if status == 404 and self._v1_fallback:
                    self._v1_fallback = False
                    self._url = endpoint(self.cfg.base_url.strip().rstrip("/") + "/v1")
                    continue
                if status not in _RETRY_STATUS and status < 500:
                    raise self._fail(problem, key, status=status, fatal=status in _FATAL_STATUS,
                                     attempts=attempts)
                wait = parse_retry_after(resp.headers.get("retry-after"))
                if wait is not None and wait > self.cfg.retry_after_cap:
                    raise self._fail(f"{problem} (server asks to retry after {wait:.0f} s, over the "
                                     f"{self.cfg.retry_after_cap:g} s cap)", key, status=status, attempts=attempts)
            if retries >= self.cfg.max_retries:
                raise self._fail(f"{problem} (gave up after {attempts} attempts)", key, status=status,
                                 attempts=attempts)
            if wait is None:
                wait = random.uniform(0, min(self.cfg.backoff_cap, self.cfg.backoff_base * 2 ** retries))
            retries += 1
            if cancel is not None:
                if cancel.wait(wait):
                    raise LLMCancelled("cancelled while waiting to retry", status=status, attempts=attempts)
            else:
                time.sleep(wait)

    def _reply(self, resp: httpx.Response, messages: list[dict], attempts: int, key: str) -> Reply:
        try:
            data = resp.json()
            text, finish = _content(data)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise self._fail(f"HTTP 200 from {self._url} is not a chat completion: {resp.text[:200]}", key,
                             status=200, attempts=attempts) from None
        usage = data.get("usage") if isinstance(data, dict) else None
        pt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        ct = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(pt, int) and isinstance(ct, int):
            return Reply(text, pt, ct, attempts, False, finish)
        prompt_chars = "".join(str(m.get("content", "")) for m in messages)
        return Reply(text, estimate_tokens(prompt_chars) + 4 * len(messages), estimate_tokens(text), attempts,
                     True, finish)
