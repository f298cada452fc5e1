"""Text normalisation shared by dedup and decontamination (pure functions, no I/O).

- ``normalise_text(s)``: the key of exact dedup. ``str.casefold()`` (lower case, also ß -> ss), every run of
  whitespace collapsed to one space, then punctuation (Unicode categories P*) and whitespace stripped from
  both ends only ("Hello,  World!" -> "hello, world"). Inner punctuation is kept: "let's eat, grandma" and
  "lets eat grandma" stay different.
- ``word_tokens(s)``: the tokens of ROUGE-L and n-gram decontamination: the casefolded text split into runs
  of letters and digits (``[^\\W_]+``: punctuation, symbols, ``_`` and whitespace separate words), except that
  every CJK ideograph or kana is a token of its own (Chinese and Japanese have no spaces between words).
- ``char_classes()``: the same classes as arrays over every code point, for the compiled MinHash
  tokenizer (core.dedup_nb): 0 separator, 1 word character, 2 a one-character token (CJK), plus a
  lower-case table (code point -> its one-character ``str.lower()``, itself when lowering changes the length).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import numpy as np

# kana, CJK ideographs (BMP blocks and the supplementary planes), compatibility ideographs
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_TOKEN = re.compile(rf"[{CJK}]|[^\W_{CJK}]+")
_CJK1 = re.compile(rf"[{CJK}]")
SEP, WORD, SINGLE = 0, 1, 2
N_CODEPOINTS = 0x110000


def _strippable(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def normalise_text(s: str) -> str:
    """Casefold, collapse whitespace runs to one space, strip punctuation and whitespace at both ends."""
    s = " ".join(s.casefold().split())
    i, j = 0, len(s)
    while i < j and _strippable(s[i]):
        i += 1
    while j > i and _strippable(s[j - 1]):
        j -= 1
    return s[i:j]


def text_key(s: str) -> str:
    """A 128-bit hex digest of ``normalise_text(s)``: the exact-dedup key of one text."""
    return hashlib.blake2b(normalise_text(s).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def word_tokens(s: str) -> list[str]:
    """Casefolded word tokens (runs of letters/digits; each CJK character alone)."""
    return _TOKEN.findall(s.casefold())


@lru_cache(maxsize=1)
def char_classes() -> tuple[np.ndarray, np.ndarray]:
    """(class uint8[0x110000], lower uint32[0x110000]) as described in the module docstring (built once per
    process from the Unicode database: about half a second)."""
    cls = np.zeros(N_CODEPOINTS, dtype=np.uint8)
    low = np.arange(N_CODEPOINTS, dtype=np.uint32)
    for cp in range(N_CODEPOINTS):
        ch = chr(cp)
        if ch.isalnum():  # what [^\W_] matches
            cls[cp] = WORD
            lo = ch.lower()
            if len(lo) == 1:
                low[cp] = ord(lo)
    for lo_cp, hi_cp in _cjk_ranges():
        cls[lo_cp:hi_cp + 1] = SINGLE
    return cls, low


def _cjk_ranges() -> list[tuple[int, int]]:
    return [(ord(m.group(1)), ord(m.group(2))) for m in re.finditer(r"(.)-(.)", CJK)]
