"""Row: a normalised conversation plus its derived fields (pure functions, arrays in, arrays out)."""
from __future__ import annotations

import hashlib
import os
import re

import orjson

from core.formats import Conv
from core.tokcount import count_tokens, default_tokenizer  # noqa: F401 - part of this module's API

# columns of the rows table, in order, with DuckDB types (store.py creates the table from this)
TURN_TYPE = "STRUCT(role VARCHAR, content VARCHAR)[]"
ROW_COLUMNS = {
    "id": "BIGINT", "dataset": "VARCHAR", "format": "VARCHAR", "file": "VARCHAR", "line": "INTEGER",
    "system": "VARCHAR", "turns": TURN_TYPE, "rejected": TURN_TYPE,
    "instruction": "VARCHAR", "response": "VARCHAR", "n_turns": "INTEGER", "n_messages": "INTEGER",
    "roles": "VARCHAR", "instruction_chars": "INTEGER", "response_chars": "INTEGER", "total_chars": "INTEGER",
    "n_tokens": "INTEGER", "language": "VARCHAR", "hash": "VARCHAR", "is_duplicate": "BOOLEAN",
    "dup_count": "INTEGER", "extra": "VARCHAR", "raw": "VARCHAR",
}
# what users may filter on, with a kind used for value parsing and operators
COLUMN_KINDS = {
    "id": "int", "dataset": "text", "format": "text", "file": "text", "line": "int", "system": "text",
    "instruction": "text", "response": "text", "n_turns": "int", "n_messages": "int", "roles": "text",
    "instruction_chars": "int", "response_chars": "int", "total_chars": "int", "n_tokens": "int",
    "language": "text", "hash": "text", "is_duplicate": "bool", "dup_count": "int",
}
# columns written by Steps (map coordinates, clusters), added to the rows table after import
STEP_COLUMNS = {"x": "FLOAT", "y": "FLOAT", "cluster": "INTEGER", "cluster_label": "VARCHAR",
                "dup_group": "BIGINT", "dup_keep": "BOOLEAN", "contaminated": "VARCHAR"}
COLUMN_KINDS.update({"x": "float", "y": "float", "cluster": "int", "cluster_label": "text",
                     "dup_group": "int", "dup_keep": "bool", "contaminated": "text"})
# effective tags, materialised by the Store's tags part (normalised + manual edits), the raw tags, and their count
TAG_COLUMNS = {"tags": "VARCHAR[]", "raw_tags": "VARCHAR[]", "n_tags": "INTEGER"}
COLUMN_KINDS.update({"tags": "list", "raw_tags": "list", "n_tags": "int"})


def content_hash(system: str, turns: list, rejected: list | None) -> str:
    """sha256 of the normalised conversation (system, turns, rejected), canonical JSON."""
    payload = orjson.dumps([system, [list(t) for t in turns], [list(t) for t in rejected] if rejected else None])
    return hashlib.sha256(payload).hexdigest()


def conv_row(conv: Conv) -> dict:
    """Derived columns of one conversation (everything but ids, provenance, tokens and language)."""
    turns = conv.turns
    instruction = next((c for r, c in turns if r == "user"), "")
    response = ""
    seen_user = False
    for r, c in turns:
        if r == "user":
            seen_user = True
        elif r == "assistant" and seen_user:
            response = c
            break
    roles = sorted({r for r, _ in turns} | ({"system"} if conv.system else set()))
    return {
        "system": conv.system,
        "turns": [{"role": r, "content": c} for r, c in turns],
        "rejected": [{"role": r, "content": c} for r, c in conv.rejected] if conv.rejected else None,
        "instruction": instruction,
        "response": response,
        "n_turns": sum(1 for r, _ in turns if r == "user"),
        "n_messages": len(turns),
        "roles": ",".join(roles),
        "instruction_chars": len(instruction),
        "response_chars": len(response),
        "total_chars": len(conv.system) + sum(len(c) for _, c in turns),
        "hash": content_hash(conv.system, turns, conv.rejected),
        "extra": orjson.dumps(conv.extra, option=orjson.OPT_NON_STR_KEYS).decode() if conv.extra else None,
    }


def conversation_text(system: str, turns) -> str:
    """All the text of a conversation, as counted for tokens."""
    parts = [system] if system else []
    parts.extend(t["content"] if isinstance(t, dict) else t[1] for t in turns)
    return "\n".join(parts)


# ------------------------------------------------------------------ derived fields (Step "derive")
# token counts: core.tokcount.count_tokens (exact, as the default embedder's tokenizer counts)

_LETTER = re.compile(r"[^\W\d_]")
LANG_CHARS = 300  # language is identified on the first characters of instruction + response


def detect_languages(texts: list[str]) -> list[str]:
    """ISO 639-1 codes by py3langid (batched, same answers) on the first LANG_CHARS characters;
    '' for texts without letters."""
    from core.fastlang import classify_many
    cut = [t[:LANG_CHARS] for t in texts]
    has = [i for i, t in enumerate(cut) if _LETTER.search(t)]
    out = [""] * len(texts)
    for i, lang in zip(has, classify_many([cut[i] for i in has])):
        out[i] = lang
    return out


def workers() -> int:
    return max(1, min(os.cpu_count() or 1, int(os.environ.get("SIFT_WORKERS", "8"))))
