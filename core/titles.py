"""Optional LLM titles for clusters, through the same OpenAI-compatible client as tagging (core.llm).

For each cluster (noise excluded) the model reads the cluster's c-TF-IDF keywords and a few representative
instructions and answers a short title. A title becomes the cluster's name, so it is shown everywhere the name is,
is kept across re-runs like a name given by hand, and can be edited on the Clusters page. Clusters already named
by hand are left alone unless ``overwrite`` is set.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

PROMPT_VERSION = "titles-v1"
MAX_TITLE_CHARS = 60
MAX_EXAMPLE_CHARS = 300
SYSTEM = ("You name groups of requests that users sent to an AI assistant. Given a group's keywords and example "
          "requests, answer with a short English title (2 to 6 words) naming what the requests have in common, "
          'as JSON: {"title": "..."}. No other text.')


def build_messages(keywords: list[str], examples: list[str]) -> list[dict]:
    ex = "\n".join(f"{i + 1}. {' '.join(str(e).split())[:MAX_EXAMPLE_CHARS]}" for i, e in enumerate(examples))
    user = f"Keywords: {', '.join(keywords) or '(none)'}\nExample requests:\n{ex or '(none)'}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_title(reply: str) -> str | None:
    """The title in a reply: JSON {"title": ...} (fenced or with prose around it), else a single short line.
    None when there is nothing usable."""
    text = (reply or "").strip()
    m = re.search(r"\{.*\}", text, re.DOTALL)
    if m:
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("title"), (str, int, float)):
            text = str(obj["title"])
        elif isinstance(obj, dict):
            return None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("```")]
    if len(lines) != 1:
        return None
    title = " ".join(lines[0].strip().strip("\"'`*#").split())
    title = re.sub(r"^(title)\s*:\s*", "", title, flags=re.IGNORECASE).strip("\"' ")
    return title[:MAX_TITLE_CHARS] or None


def suggest_titles(store, client, overwrite: bool = False, concurrency: int = 4, progress=None) -> dict:
    """Ask the model for a title per cluster and set it as the cluster's name. Returns
    {"titled", "failed", "skipped", "titles": {cluster: title}, "prompt_tokens", "completion_tokens"}."""
    todo = [c for c in store.clusters() if c["cluster"] >= 0 and (overwrite or not c["name"])]
    skipped = len([c for c in store.clusters() if c["cluster"] >= 0]) - len(todo)

    def one(c):
        examples = [r["instruction"] for r in (store.row(i) for i in c["reps"][:5]) if r]
        try:
            rep = client.chat(build_messages(c["keywords"], examples), max_tokens=64)
        except Exception as e:  # one cluster's failure does not stop the others
            return c["cluster"], None, 0, 0, f"{type(e).__name__}: {e}"
        return c["cluster"], parse_title(rep.text), rep.prompt_tokens, rep.completion_tokens, rep.text

    out = {"titled": 0, "failed": 0, "skipped": skipped, "titles": {}, "errors": {},
           "prompt_tokens": 0, "completion_tokens": 0, "prompt": PROMPT_VERSION}
    with ThreadPoolExecutor(max(1, int(concurrency))) as pool:
        for i, (cl, title, pt, ct, raw) in enumerate(pool.map(one, todo)):
            out["prompt_tokens"] += pt
            out["completion_tokens"] += ct
            if title:
                store.rename_cluster(cl, title)
                out["titles"][cl] = title
                out["titled"] += 1
            else:
                out["failed"] += 1
                out["errors"][cl] = str(raw)[:300]
            if progress:
                progress("titles", i + 1, len(todo), {})
    return out
