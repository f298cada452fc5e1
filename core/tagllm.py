"""InsTag-style tagging by an LLM: the prompt, a forgiving reply parser and a bounded concurrent runner.

Pure logic: no Store, no UI. ``run_tagging`` calls ``on_result`` once per row in the CALLER's thread, right
after that row's reply, so the caller can write each row to its database (cache by model + PROMPT_VERSION +
content hash, resume after a kill) without locks.

Prompt input caps: each user turn is cut to at most MAX_TURN_CHARS characters (fewer when there are many turns,
so that all turns together stay near MAX_TOTAL_CHARS, but never under MIN_TURN_CHARS), keeping its head (3/4)
and its tail (1/4) around a "[... N characters cut ...]" marker; at most MAX_TURNS turns are shown (the first
ones), with a note saying how many were left out.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from core.llm import LLMCancelled, LLMClient, LLMError

PROMPT_VERSION = "instag-v1"
MAX_TURN_CHARS = 4000
MIN_TURN_CHARS = 300
MAX_TOTAL_CHARS = 12000
MAX_TURNS = 40
MAX_TAG_CHARS = 80
MAX_EXPLANATION_CHARS = 300
MAX_TAGS = 20
STATUSES = ("ok", "failed")
STOP_REASONS = ("done", "max_rows", "max_tokens", "cancelled", "error")

SYSTEM_PROMPT = """You annotate requests sent to an AI assistant with the intentions behind them.
Read the user's request (one or more numbered user turns of one conversation, taken together) and name every
fine-grained intention it expresses: its domain or subject, the task to perform, the skills or knowledge an
answer needs, its constraints (length, tone, audience, style, things to include or avoid) and the output format
asked for.

Rules:
- A tag is a short English noun phrase of one to four words, lowercase, and specific rather than generic
  ("python sorting", not "programming"; "haiku writing", not "creativity"). Use English even when the request
  is in another language.
- One tag per distinct intention; do not name the same intention twice in other words. Usually 2 to 8 tags,
  never more than 15.
- Tag what the user asks for, not what a good answer would contain. Do not answer or judge the request.
- explanation: one short English sentence pointing at the part of the request that shows the intention.

Answer with JSON only, in exactly this shape:
{"tags": [{"tag": "...", "explanation": "..."}]}

Example request: "Write a limerick about a cat who loves lasagna, in under 50 words."
Example answer: {"tags": [{"tag": "limerick writing", "explanation": "Asks for a limerick."},
{"tag": "humor", "explanation": "A limerick about a lasagna-loving cat is meant to be funny."},
{"tag": "animals", "explanation": "The subject is a cat."},
{"tag": "word limit", "explanation": "It must stay under 50 words."}]}"""


class TagParseError(ValueError):
    """A reply with no usable tags; str(e) says why (one line)."""


def _cut(text: str, cap: int) -> str:
    text = text.strip()
    if len(text) <= cap:
        return text
    head = cap * 3 // 4
    tail = cap - head
    return f"{text[:head]}\n[... {len(text) - cap} characters cut ...]\n{text[-tail:]}"


def build_messages(user_turns: list[str]) -> list[dict]:
    """The chat messages asking for the InsTag tags of one sample's user turns (see the module's caps)."""
    turns = [str(t) for t in user_turns if t is not None and str(t).strip()]
    if not turns:
        raise ValueError("a sample needs at least one non-empty user turn")
    shown = turns[:MAX_TURNS]
    cap = max(MIN_TURN_CHARS, min(MAX_TURN_CHARS, MAX_TOTAL_CHARS // len(shown)))
    if len(turns) == 1:
        body = "Request:\n" + _cut(turns[0], cap)
    else:
        parts = [f"Turn {i}:\n{_cut(t, cap)}" for i, t in enumerate(shown, 1)]
        if len(turns) > len(shown):
            parts.append(f"({len(turns) - len(shown)} more user turns not shown)")
        body = f"A conversation with {len(turns)} user turns.\n\n" + "\n\n".join(parts)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": body}]


# ---------------------------------------------------------------------------------------------- parsing

_DECODER = json.JSONDecoder()
_TAG_KEYS = ("tag", "label", "intention")
_EXPL_KEYS = ("explanation", "reason", "description")
_WRAPPER_OPEN = re.compile(r'\{\s*"[^"\\]{1,40}"\s*:\s*\[')
_MAX_CANDIDATES = 64


def _clean(value, limit: int) -> str | None:
    """A tag/explanation value as a one-line string, or None (null, empty, bool, dict, list)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    s = " ".join(value.split())
    return s[:limit].rstrip() or None


def _field(obj: dict, keys: tuple[str, ...]):
    lower = {str(k).lower(): v for k, v in obj.items()}
    return next((lower[k] for k in keys if k in lower), None)


def _elements(value) -> list:
    """The tag elements a decoded JSON value holds: a list, a {"tags": [...]} wrapper or a single tag object."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return []
    lists = {str(k).lower(): v for k, v in value.items() if isinstance(v, list)}
    if "tags" in lists:
        return lists["tags"]
    if _field(value, _TAG_KEYS) is not None:
        return [value]
    return next(iter(lists.values()), []) if len(lists) == 1 else []


def _tags_of(elements: list) -> list[dict]:
    out, seen = [], set()
    for el in elements:
        if isinstance(el, dict):
            tag = _clean(_field(el, _TAG_KEYS), MAX_TAG_CHARS)
            expl = _clean(_field(el, _EXPL_KEYS), MAX_EXPLANATION_CHARS) or ""
        elif isinstance(el, str):
            tag, expl = _clean(el, MAX_TAG_CHARS), ""
        else:
            continue
        if tag is None or tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        out.append({"tag": tag, "explanation": expl})
        if len(out) >= MAX_TAGS:
            break
    return out


def _salvage_array(text: str, start: int) -> list:
    """The complete elements of the JSON array opening at text[start], up to where it breaks off."""
    out, j, n = [], start + 1, len(text)
    while True:
        while j < n and text[j] in " \t\r\n,":
            j += 1
        if j >= n or text[j] == "]":
            return out
        try:
            value, j = _DECODER.raw_decode(text, j)
        except ValueError:
            return out
        out.append(value)


def parse_tags(reply: str) -> list[dict]:
    """Tags [{"tag", "explanation"}] from a model's reply, or TagParseError when it holds none.

    Accepts a JSON list, {"tags": [...]}, one tag object, or lists of plain strings; anywhere in the text
    (markdown fences and prose around it are skipped); a truncated reply keeps its complete objects. Tags are
    whitespace-collapsed, cut to MAX_TAG_CHARS, numbers become strings, null/empty/object tags are dropped,
    duplicates (case-insensitive) keep the first, at most MAX_TAGS.
    """
    text = (reply or "").strip()
    if not text:
        raise TagParseError("empty reply")
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:_MAX_CANDIDATES]
    if not starts:
        raise TagParseError(f"no JSON in the reply: {' '.join(text.split())[:80]!r}")
    for i in starts:
        try:
            value, _ = _DECODER.raw_decode(text, i)
        except ValueError:
            if text[i] == "[":
                value = _salvage_array(text, i)
            else:
                m = _WRAPPER_OPEN.match(text, i)
                value = _salvage_array(text, m.end() - 1) if m else None
        tags = _tags_of(_elements(value))
        if tags:
            return tags
    raise TagParseError(f"no tags in the reply: {' '.join(text.split())[:80]!r}")


# ---------------------------------------------------------------------------------------------- runner

@dataclass
class RunSummary:
    rows_ok: int = 0
    rows_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    stopped_reason: str = "done"
    rows_abandoned: int = 0          # in flight when cancelled / halted: no reply, on_result NOT called
    error: str | None = None         # the fatal LLMError (bad key, URL or model) that stopped the run
    estimated_tokens: bool = False   # some token counts were estimated (server sent no usage)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


_END = object()


def _tag_one(client: LLMClient, turns: list[str], reply_tokens: int, halt: threading.Event):
    """(status, tags, raw, meta) for one sample, or None when abandoned; runs in a worker thread."""
    t0 = time.perf_counter()
    meta = {"prompt_tokens": 0, "completion_tokens": 0, "estimated": False, "attempts": 0, "error": None}
    try:
        messages = build_messages(turns)
    except ValueError as e:
        meta["error"] = str(e)
        return "failed", [], f"error: {e}", meta
    try:
        reply = client.chat(messages, temperature=0.0, max_tokens=reply_tokens, cancel=halt)
    except LLMCancelled:
        return None
    except LLMError as e:
        meta.update(error=str(e), attempts=e.attempts, fatal=e.fatal, seconds=time.perf_counter() - t0)
        return "failed", [], f"error: {e}", meta
    meta.update(prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                estimated=reply.estimated, attempts=reply.attempts, finish_reason=reply.finish_reason,
                seconds=time.perf_counter() - t0)
    try:
        return "ok", parse_tags(reply.text), reply.text, meta
    except TagParseError as e:
        meta["error"] = str(e)
        return "failed", [], reply.text, meta


def run_tagging(items: Iterable[tuple[object, list[str]]], client: LLMClient, *, concurrency: int = 8,
                max_rows: int | None = None, max_tokens: int | None = None,
                on_result: Callable[[object, str, list[dict], str, dict], None],
                progress: Callable[[str, int, int | None, dict], None] | None = None,
                cancel: threading.Event | None = None, reply_tokens: int = 1024) -> RunSummary:
    """Tag (key, user_turns) items with at most `concurrency` requests in flight; see the module docstring.

    on_result(key, status, tags, raw_reply, meta) — status "ok" or "failed" (unparseable reply: raw is the
    reply; request failed after retries: raw is "error: ..."); meta has prompt_tokens, completion_tokens,
    estimated, attempts, seconds, error. Items are pulled lazily (a window of `concurrency`), so a generator
    works and memory stays bounded. Submitting stops at `max_rows` submitted rows, at `max_tokens` total
    tokens (counting the in-flight rows at the mean tokens a row so far, so the cap is overshot by at most
    the last few rows' estimate error), when `cancel` is set, or after a fatal LLMError (401/403/404: the
    summary's `error`, stopped_reason "error"). In-flight requests finish; those waiting to retry when a
    cancel or fatal error comes are abandoned (no on_result; the next run redoes them).
    progress(stage, done, total, info): stage "tag" after each row and "done" at the end; total is
    min(len(items), max_rows) or None for a generator; info has rows_ok, rows_failed, in_flight, rows_per_s,
    eta_s, prompt_tokens, completion_tokens, tokens, cost, estimated_tokens.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    total = len(items) if hasattr(items, "__len__") else None
    if total is not None and max_rows is not None:
        total = min(total, max_rows)
    s = RunSummary()
    halt = threading.Event()
    t0 = time.perf_counter()
    submitted = 0

    def emit(stage: str):
        if progress is None:
            return
        done = s.rows_ok + s.rows_failed
        elapsed = max(time.perf_counter() - t0, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if total is not None and rate > 0 else None
        progress(stage, done, total, {
            "rows_ok": s.rows_ok, "rows_failed": s.rows_failed, "in_flight": len(pending), "rows_per_s": rate,
            "eta_s": eta, "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "tokens": s.tokens, "cost": s.cost, "estimated_tokens": s.estimated_tokens})

    def may_submit() -> bool:
        if halt.is_set() or (cancel is not None and cancel.is_set()):
            return False
        if max_rows is not None and submitted >= max_rows:
            return False
        if max_tokens is not None:
            done = s.rows_ok + s.rows_failed
            per_row = s.tokens / done if done else 0
            if s.tokens + per_row * len(pending) >= max_tokens:
                return False
        return True

    it = iter(items)
    nxt = next(it, _END)
    pending: dict = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sift-tag") as pool:
        try:
            emit("tag")
            while True:
                while nxt is not _END and len(pending) < concurrency and may_submit():
                    key, turns = nxt
                    pending[pool.submit(_tag_one, client, list(turns), reply_tokens, halt)] = key
                    submitted += 1
                    nxt = next(it, _END)
                if not pending:
                    break
                done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                if cancel is not None and cancel.is_set():
                    halt.set()
                for fut in done:
                    key = pending.pop(fut)
                    out = fut.result()
                    if out is None:
                        s.rows_abandoned += 1
                        continue
                    status, tags, raw, meta = out
                    if meta.pop("fatal", False):
                        s.rows_abandoned += 1
                        s.error = s.error or meta["error"]
                        halt.set()
                        continue
                    s.prompt_tokens += meta["prompt_tokens"]
                    s.completion_tokens += meta["completion_tokens"]
                    s.estimated_tokens |= meta["estimated"]
                    s.cost = client.cfg.cost(s.prompt_tokens, s.completion_tokens)
                    if status == "ok":
                        s.rows_ok += 1
                    else:
                        s.rows_failed += 1
                    on_result(key, status, tags, raw, meta)
                    emit("tag")
        except BaseException:
            halt.set()
            raise
    if s.error:
        s.stopped_reason = "error"
    elif nxt is _END:
        s.stopped_reason = "done"
    elif cancel is not None and cancel.is_set():
        s.stopped_reason = "cancelled"
    elif max_rows is not None and submitted >= max_rows:
        s.stopped_reason = "max_rows"
    else:
        s.stopped_reason = "max_tokens"
    s.seconds = time.perf_counter() - t0
    emit("done")
    return s
