"""A real local OpenAI-compatible chat server for tests and manual trials (127.0.0.1, stdlib http.server).

    with FakeLLM(latency=0.2) as srv:
        client = LLMClient(LLMConfig(srv.base_url, "fake"))
    python tests/fake_llm.py --port 8765 --latency 0.2        # for manual UI trials

POST /v1/chat/completions answers tags derived from the last user message: its first MAX_TAGS distinct content
words ("Sort a list in Python" -> "sort", "list", "python"), as {"tags": [...]} when the request asks for JSON
mode and as a plain JSON list otherwise, with an OpenAI `usage` (~4 characters a token). Any other path is 404.

Faults, injected two ways (a request takes the first that applies):
- `srv.faults`, a queue consumed by the next requests in arrival order: ``srv.faults.extend(["429", "500"])``;
- directives in the query text, ``FAULT:<kind>`` or ``FAULT:<kind>*<n>``, applied to the first n requests
  carrying that exact user message (default 1), in order; later ones are answered normally.
Kinds: 429 (with Retry-After: `srv.retry_after`, seconds or an HTTP date; None sends none), 500, 503,
400 (a plain bad request), timeout (sleeps `srv.hang` seconds, past the client's timeout, then answers), drop
(closes the connection without a reply), fence (```json fences), prose (text around the JSON), truncate (cut
inside the second object, finish_reason "length"), empty (""), garbage (prose only), nousage (no `usage`).
Server switches: `json_mode=False` answers 400 "response_format is not supported" to any request with one;
`api_key="..."` answers 401 (echoing the key it got, to test that clients scrub it) unless the Bearer matches.
Counters: `requests`, `per_query` (user message -> count), `count(substring)`, `max_in_flight`, `auth` (the
Authorization headers seen) and `bodies` (request JSON; both keep the last 2,000).
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

MAX_TAGS = 5
_FAULT = re.compile(r"FAULT:([a-z0-9]+)(?:\*(\d+))?")
_WORD = re.compile(r"[a-z][a-z0-9+#]*")
_STOP = frozenset(re.findall(r"\w+", """
a an the and or but if then than of to in on at by for with from into about as is are was were be been being
it its this that these those i you he she we they me my your our their his her them us do does did can could
would should will shall may might must have has had not no yes so such what which who whom whose how why
when where there here please some any all each every more most other also just very one two three using use
request turn turns conversation user users characters cut shown given following write give make tell
"""))


def tags_for(text: str) -> list[dict]:
    """The fake model's deterministic tags for a user message: its first distinct content words."""
    words = []
    for w in _WORD.findall(_FAULT.sub(" ", text).lower()):
        if len(w) > 2 and w not in _STOP and w not in words:
            words.append(w)
    words = words[:MAX_TAGS] or ["non english request"]
    return [{"tag": w, "explanation": f"The request mentions {w!r}."} for w in words]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # clients that gave up (timeouts) are expected
        pass


class FakeLLM:
    """The server; see the module docstring. Thread-safe counters; a context manager that starts/stops it."""

    def __init__(self, latency: float = 0.0, *, port: int = 0, json_mode: bool = True, api_key: str | None = None,
                 retry_after: str | None = "1", hang: float = 2.0):
        self.latency = latency
        self.json_mode = json_mode
        self.api_key = api_key
        self.retry_after = retry_after
        self.hang = hang
        self.faults: deque[str] = deque()
        self.requests = 0
        self.per_query: Counter = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth: deque = deque(maxlen=2000)
        self.bodies: deque = deque(maxlen=2000)
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, substring: str) -> int:
        """Requests whose user message contains substring."""
        with self._lock:
            return sum(n for q, n in self.per_query.items() if substring in q)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = self.max_in_flight = 0
            self.per_query.clear()
            self.auth.clear()
            self.bodies.clear()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _admit(self, body: dict, auth: str | None) -> tuple[str, str | None]:
        """Count a request; (its user message, the fault to apply or None)."""
        msgs = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
        query = str(msgs[-1].get("content", "")) if msgs else ""
        with self._lock:
            self.requests += 1
            index = self.per_query[query]
            self.per_query[query] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.auth.append(auth)
            self.bodies.append(body)
            fault = self.faults.popleft() if self.faults else None
        if fault is None:
            script = [k for k, n in _FAULT.findall(query) for _ in range(int(n or 1))]
            fault = script[index] if index < len(script) else None
        return query, fault

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _reply_text(query: str, want_json: bool, fault: str | None) -> tuple[str, str]:
    tags = tags_for(query)
    text = json.dumps({"tags": tags} if want_json else tags)
    if fault == "fence":
        return f"```json\n{text}\n```", "stop"
    if fault == "prose":
        return f"Sure! Here are the tags:\n{text}\nLet me know if you need anything else.", "stop"
    if fault == "truncate":
        return text[: text.index("}") + 12], "length"
    if fault == "empty":
        return "", "stop"
    if fault == "garbage":
        return "I'm sorry, but I cannot label this request.", "stop"
    return text, "stop"


def _handler(srv: FakeLLM):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True   # headers and body go in two writes: Nagle + delayed ACK cost 40 ms

        def log_message(self, *args):
            pass

        def _send(self, status: int, payload: dict, headers: dict | None = None):
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _error(self, status: int, message: str, headers: dict | None = None):
            self._send(status, {"error": {"message": message, "type": "fake", "code": status}}, headers)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._error(404, f"no route {self.path}")
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(400, "body is not JSON")
            auth = self.headers.get("Authorization")
            query, fault = srv._admit(body, auth)
            try:
                self._answer(body, auth, query, fault)
            finally:
                srv._done()

        def _answer(self, body: dict, auth: str | None, query: str, fault: str | None):
            time.sleep(srv.latency)
            want_json = (body.get("response_format") or {}).get("type") == "json_object"
            if srv.api_key is not None and auth != f"Bearer {srv.api_key}":
                got = (auth or "").removeprefix("Bearer ")
                return self._error(401, f"Incorrect API key provided: {got}.")
            if want_json and not srv.json_mode:
                return self._error(400, "response_format is not supported by this server")
            if fault == "429":
                hdr = {"Retry-After": srv.retry_after} if srv.retry_after is not None else {}
                return self._error(429, "Rate limit reached, slow down.", hdr)
            if fault in ("500", "503", "400"):
                return self._error(int(fault), f"fake fault {fault}")
            if fault == "drop":
                self.close_connection = True
                return None
            if fault == "timeout":
                time.sleep(srv.hang)
            text, finish = _reply_text(query, want_json, fault)
            chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []) if isinstance(m, dict))
            out = {"id": f"fake-{srv.requests}", "object": "chat.completion", "created": int(time.time()),
                   "model": body.get("model", "fake"),
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                "finish_reason": finish}]}
            if fault != "nousage":
                pt, ct = chars // 4 + 1, len(text) // 4 + 1
                out["usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
            return self._send(200, out)

    return Handler


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Fake OpenAI-compatible tagging server (see tests/fake_llm.py).")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--latency", type=float, default=0.2, help="seconds before each answer")
    ap.add_argument("--no-json-mode", action="store_true", help="refuse response_format with a 400")
    ap.add_argument("--api-key", default=None, help="require this Bearer key")
    a = ap.parse_args(argv)
    srv = FakeLLM(a.latency, port=a.port, json_mode=not a.no_json_mode, api_key=a.api_key)
    print(f"fake LLM on {srv.base_url} (latency {a.latency:g} s); Ctrl-C stops it", flush=True)
    try:
        srv._httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv._httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
