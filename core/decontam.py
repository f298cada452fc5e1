"""Decontamination: flag rows that share long n-grams or near-duplicate embeddings with evaluation prompts
(pure functions over lists and arrays; ``load_eval_texts`` reads eval files with the importer's readers).

N-grams are over ``core.textnorm.word_tokens``: casefolded runs of letters and digits, so punctuation,
symbols and whitespace never matter ("Hello, world!" and "hello world" are the same two words), and each
CJK character is a word. N-grams are kept as tuples of token ids in a dict, so a hit is exact (no hash
collisions). An eval prompt of at least ``n`` words contributes all its n-grams; a shorter prompt of at
least ``min_words`` words matches a row containing the whole prompt as consecutive words; a prompt below
``min_words`` words matches only a row whose whole text is that prompt (so a two-word prompt like
"Write 'Test'" does not flag every row containing "write test").
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.textnorm import word_tokens


@dataclass(frozen=True)
class EvalPrompt:
    """One user turn of an eval record: its text, the file and 1-based line (record) it came from, and the
    turn's position among the record's user turns (0 = first)."""
    text: str
    source: str
    line: int
    turn: int = 0


@dataclass
class NgramIndex:
    """Eval prompts' n-grams (tuples of token ids) -> eval positions, plus the shorter prompts."""
    n: int
    min_words: int
    vocab: dict = field(default_factory=dict)
    grams: dict = field(default_factory=dict)  # n-gram -> [eval positions]
    short: dict = field(default_factory=dict)  # length L < n -> {L-gram -> [eval positions]}
    starts: dict = field(default_factory=dict)  # length L -> first token ids of the L-grams
    whole: dict = field(default_factory=dict)  # prompts below min_words: token tuple -> [eval positions]
    size: int = 0


def ngram_index(eval_texts: list[str], n: int = 13, min_words: int = 3) -> NgramIndex:
    """Index the eval prompts (strings, or EvalPrompt) for ``ngram_matches``."""
    if n < 1:
        raise ValueError("n must be at least 1")
    idx = NgramIndex(n=n, min_words=min_words, size=len(eval_texts))
    for pos, t in enumerate(eval_texts):
        toks = word_tokens(t.text if isinstance(t, EvalPrompt) else t)
        if not toks:
            continue
        ids = tuple(idx.vocab.setdefault(w, len(idx.vocab)) for w in toks)
        if len(ids) >= n:
            for i in range(len(ids) - n + 1):
                _add(idx.grams, ids[i:i + n], pos)
        elif len(ids) >= min_words:
            _add(idx.short.setdefault(len(ids), {}), ids, pos)
            idx.starts.setdefault(len(ids), set()).add(ids[0])
        else:
            _add(idx.whole, ids, pos)
    return idx


def _add(d: dict, key, pos: int) -> None:
    lst = d.setdefault(key, [])
    if not lst or lst[-1] != pos:
        lst.append(pos)


def ngram_matches(texts: list[str], index: NgramIndex, n: int | None = None) -> list[tuple[int, int, str]]:
    """(row position, eval position, matched words joined by spaces) for every (row, eval prompt) pair that
    shares an n-gram (or a whole short prompt, see the module docstring); one entry per pair, with the
    first matching n-gram of the row, in row order then eval order."""
    if n is not None and n != index.n:
        raise ValueError(f"the index was built with n={index.n}, not {n}")
    k, vocab, grams, short, starts, whole = index.n, index.vocab, index.grams, index.short, index.starts, index.whole
    out: list[tuple[int, int, str]] = []
    for row, text in enumerate(texts):
        toks = word_tokens(text or "")
        if not toks:
            continue
        ids = tuple(vocab.get(w, -1) for w in toks)
        found: dict[int, tuple[int, int]] = {}  # eval position -> (start, length) of the first hit
        if grams and len(ids) >= k:
            for i in range(len(ids) - k + 1):
                for e in grams.get(ids[i:i + k], ()):
                    found.setdefault(e, (i, k))
        for length, table in short.items():
            first = starts[length]
            for i in range(len(ids) - length + 1):
                if ids[i] in first:
                    for e in table.get(ids[i:i + length], ()):
                        found.setdefault(e, (i, length))
        for e in whole.get(ids, ()):
            found.setdefault(e, (0, len(ids)))
        for e in sorted(found):
            i, length = found[e]
            out.append((row, e, " ".join(toks[i:i + length])))
    return out


def flag_rows(n_rows: int, matches) -> tuple[np.ndarray, np.ndarray]:
    """(contaminated bool per row, the first matching eval position per row or -1) from match tuples
    (row, eval, ...) of ngram_matches, or from embedding_matches' (rows, evals, cos) arrays."""
    flag = np.zeros(n_rows, bool)
    first = np.full(n_rows, -1, np.int64)
    if isinstance(matches, tuple) and len(matches) == 3 and isinstance(matches[0], np.ndarray):
        rows, evals = matches[0], matches[1]
    else:
        rows = np.array([m[0] for m in matches], dtype=np.int64)
        evals = np.array([m[1] for m in matches], dtype=np.int64)
    for r, e in zip(rows[::-1], evals[::-1]):  # reversed: the earliest match per row is written last
        first[r] = e
    flag[rows] = True
    return flag, first


def embedding_matches(vecs: np.ndarray, eval_vecs: np.ndarray, threshold: float = 0.9,
                      block: int = 8192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, eval positions, cosine): for every row whose most similar eval prompt has cosine >= threshold,
    that prompt (blockwise matmul over rows; vectors are L2-normalised here)."""
    x, ev = _unit(vecs), _unit(eval_vecs)
    rows, evals, cos = [], [], []
    if x.shape[0] and ev.shape[0]:
        for s in range(0, x.shape[0], block):
            sims = x[s:s + block] @ ev.T
            best = sims.argmax(axis=1)
            top = sims[np.arange(best.size), best]
            hit = np.flatnonzero(top >= threshold)
            rows.append(hit + s)
            evals.append(best[hit])
            cos.append(top[hit])
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    return (np.concatenate(rows).astype(np.int64), np.concatenate(evals).astype(np.int64),
            np.concatenate(cos).astype(np.float32))


def _unit(v) -> np.ndarray:
    x = np.asarray(v, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError("vectors must be a 2-D array")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def load_eval_texts(paths, turns: str = "all") -> list[EvalPrompt]:
    """Eval prompts from files or folders in any format the importer reads (format detected per file as the
    importer does: Alpaca, ShareGPT, messages, OASST, prompt/completion incl. MT-Bench ``turns``, ...): one
    EvalPrompt per user turn (``turns="all"``) or per record's first user turn (``turns="first"``). Records
    that cannot be read are skipped; a file with no readable prompt raises ValueError."""
    from core.chunks import _convs
    from core.formats import detect
    from core.readers import list_files, read_file
    if turns not in ("all", "first"):
        raise ValueError("turns must be 'all' or 'first'")
    out: list[EvalPrompt] = []
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        for f in list_files(path):
            items = read_file(f)
            head = list(itertools.islice(items, 200))
            fmt = detect([i.rec for i in head if i.error is None])
            before, seen = len(out), set()
            for item, convs, _ in _convs(itertools.chain(head, items), fmt, auto=True):
                if not isinstance(convs, list):
                    continue
                for conv in convs:
                    users = [c for r, c in conv.turns if r == "user"]
                    for t, text in enumerate(users[:1] if turns == "first" else users):
                        if (t, text) not in seen:  # OASST: every path of a tree repeats its prompt
                            seen.add((t, text))
                            out.append(EvalPrompt(text, str(f), item.line, t))
            if len(out) == before:
                raise ValueError(f"{f}: no eval prompt could be read")
    return out
