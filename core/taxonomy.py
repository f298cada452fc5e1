"""Zero-shot taxonomy tagger: the project's intention taxonomy (core/taxonomy.json, editable) assigned by embedding
similarity, with a calibrated confidence in [0, 1] per tag.

Each taxonomy entry {"tag", "group", "description"} becomes one prototype vector: the normalised mean of the
embeddings of its name and of its description (measured a little better than embedding "tag: description" as one
text on MT-Bench / Vicuna-bench categories; bench/taxonomy_eval.py). A text's raw score for a tag is the cosine of
its vector to the prototype.

Calibration: raw cosine is not a probability, and its level moves with the text (long, multi-topic texts are less
similar to every tag). The confidence is a logistic function of the tag's MARGIN over the text's median cosine to
all tags: conf = sigmoid(slope * (cos - median_row(cos)) + offset). slope/offset were fitted by
bench/taxonomy_eval.py --fit (logistic regression of "this top-10 tag is an acceptable match for the row's label")
on Vicuna-bench categories and IFEval instruction ids, and checked on MT-Bench (held out); the margin beat raw
cosine and per-tag z-scores against a background of the other tags' prototypes on held-out Brier score / AUC.
The labels are coarse and partial, so read a confidence as "about this share of such tags are a sensible match",
not as an exact probability; pass slope/offset to recalibrate for another embedder or taxonomy.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.embed import encode_unique

DEFAULT_PATH = Path(__file__).with_name("taxonomy.json")
GROUPS = ("domain", "task", "skill", "constraint", "format")
# fitted by `python bench/taxonomy_eval.py --fit` with all-MiniLM-L6-v2 on the default taxonomy (see module doc)
SLOPE, OFFSET = 11.63, -4.33
# held-out MT-Bench: 64% of rows get a tag, 57% of emitted tags acceptable (0.5: 36% / 62%); bench/taxonomy_eval.py
DEFAULT_THRESHOLD = 0.35


class TaxonomyError(ValueError):
    """A malformed taxonomy; str(e) names the file and the entry."""


def validate_taxonomy(entries, source: str = "<taxonomy>") -> list[dict]:
    """Check a list of {"tag", "group", "description"} entries; returns clean copies (tag lower-cased, whitespace
    collapsed). Raises TaxonomyError naming `source` and the entry on the first problem."""
    if not isinstance(entries, list) or not entries:
        raise TaxonomyError(f"{source}: 'tags' must be a non-empty list of entries")
    out, seen = [], {}
    for i, e in enumerate(entries):
        where = f"{source}: entry {i}"
        if not isinstance(e, dict):
            raise TaxonomyError(f"{where}: expected an object with tag, group, description, got {type(e).__name__}")
        tag = e.get("tag")
        if not isinstance(tag, str) or not tag.strip():
            raise TaxonomyError(f"{where}: 'tag' must be a non-empty string, got {tag!r}")
        tag = " ".join(tag.lower().split())
        where = f"{where} ({tag!r})"
        if e.get("group") not in GROUPS:
            raise TaxonomyError(f"{where}: 'group' must be one of {', '.join(GROUPS)}, got {e.get('group')!r}")
        desc = e.get("description")
        if not isinstance(desc, str) or not desc.strip():
            raise TaxonomyError(f"{where}: 'description' must be a non-empty one-line string")
        if tag in seen:
            raise TaxonomyError(f"{where}: duplicate tag (first at entry {seen[tag]})")
        unknown = set(e) - {"tag", "group", "description"}
        if unknown:
            raise TaxonomyError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        seen[tag] = i
        out.append({"tag": tag, "group": e["group"], "description": " ".join(desc.split())})
    return out


def load_taxonomy(path: str | Path | None = None) -> list[dict]:
    """The taxonomy in `path` (default: the shipped core/taxonomy.json): {"version": 1, "tags": [...]} or a bare
    list of entries. Raises TaxonomyError with the file name (and line, for bad JSON, or entry) on bad input."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise TaxonomyError(f"{p}: cannot read the taxonomy ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise TaxonomyError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if isinstance(data, dict):
        if data.get("version", 1) != 1:
            raise TaxonomyError(f"{p}: unsupported taxonomy version {data.get('version')!r} (expected 1)")
        data = data.get("tags")
    return validate_taxonomy(data, str(p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def row_margins(sims: np.ndarray) -> np.ndarray:
    """Each cosine minus its row's median cosine over all tags (the calibration feature)."""
    sims = np.asarray(sims, np.float32)
    return sims - np.median(sims, axis=1, keepdims=True)


def fit_calibration(margins: np.ndarray, hits: np.ndarray) -> tuple[float, float]:
    """(slope, offset) of the logistic regression hits ~ sigmoid(slope * margin + offset) (nearly unregularised)."""
    from sklearn.linear_model import LogisticRegression
    m = LogisticRegression(C=100.0).fit(np.asarray(margins, np.float64).reshape(-1, 1), np.asarray(hits, bool))
    return float(m.coef_[0, 0]), float(m.intercept_[0])


class TaxonomyTagger:
    """tag(texts) -> per text up to top_k [(tag, confidence)], confidence >= threshold, best first."""

    def __init__(self, embedder, taxonomy: list[dict] | str | Path | None = None, top_k: int = 3,
                 threshold: float | None = None, slope: float = SLOPE, offset: float = OFFSET,
                 max_chars: int = 2000, chunk: int = 4096):
        if taxonomy is None or isinstance(taxonomy, (str, Path)):
            taxonomy = load_taxonomy(taxonomy)
        else:
            taxonomy = validate_taxonomy(taxonomy)
        self.embedder, self.taxonomy, self.top_k = embedder, taxonomy, int(top_k)
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self.slope, self.offset, self.max_chars, self.chunk = float(slope), float(offset), int(max_chars), int(chunk)
        self.tags = [e["tag"] for e in taxonomy]
        self.groups = {e["tag"]: e["group"] for e in taxonomy}
        names = np.asarray(embedder.encode(self.tags), np.float32)
        descs = np.asarray(embedder.encode([e["description"] for e in taxonomy]), np.float32)
        proto = names + descs
        self.prototypes = proto / np.maximum(np.linalg.norm(proto, axis=1, keepdims=True), 1e-12)

    def similarities(self, vecs: np.ndarray) -> np.ndarray:
        """Cosine of each (normalised) text vector to each tag prototype: (n_texts, n_tags) float32."""
        return np.asarray(vecs, np.float32) @ self.prototypes.T

    def confidence(self, sims: np.ndarray) -> np.ndarray:
        """Calibrated confidence in [0, 1] for a (n_texts, n_tags) similarity matrix."""
        return _sigmoid(self.slope * row_margins(sims) + self.offset).astype(np.float32)

    def tag(self, texts: list[str], progress: Callable[[int, int], None] | None = None,
            vecs: np.ndarray | None = None) -> list[list[tuple[str, float]]]:
        """Tags of each text. vecs: the texts' vectors from the same embedder when already computed.
        progress(done, total) counts embedded texts (when embedding here), then tagged rows."""
        texts = ["" if t is None else str(t) for t in texts]
        n = len(texts)
        empty = np.array([not t.strip() for t in texts], bool)
        if vecs is None:
            keep = np.flatnonzero(~empty)
            vecs = np.zeros((n, self.prototypes.shape[1]), np.float32)
            cb = None if progress is None else (lambda d, t: progress(d * len(keep) // max(1, t), len(keep) + n))
            if len(keep):
                vecs[keep] = encode_unique(self.embedder, [texts[i][: self.max_chars] for i in keep], cb)
            base, total = len(keep), len(keep) + n
        else:
            vecs = np.asarray(vecs, np.float32)
            if vecs.shape != (n, self.prototypes.shape[1]):
                raise ValueError(f"vecs has shape {vecs.shape}, expected {(n, self.prototypes.shape[1])}")
            base, total = 0, n
        out: list[list[tuple[str, float]]] = []
        k = max(0, min(self.top_k, len(self.tags)))
        for s in range(0, n, self.chunk):
            conf = self.confidence(self.similarities(vecs[s:s + self.chunk]))
            top = np.argsort(-conf, axis=1, kind="stable")[:, :k]
            for r in range(conf.shape[0]):
                row = [] if empty[s + r] else [(self.tags[j], float(conf[r, j])) for j in top[r]
                                               if conf[r, j] >= self.threshold]
                out.append(row)
            if progress is not None:
                progress(base + min(n, s + self.chunk), total)
        return out
