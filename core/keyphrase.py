"""Open-set keyphrase tagger (no LLM, no parser): InsTag-like tags extracted from the instruction itself.

Candidates come from light heuristics over the first `max_chars` of each text:
- noun phrases: maximal runs of content words between stop words, punctuation, numbers and instruction verbs,
  as their 1-3 word n-grams (and the whole run up to 4 words);
- verb-object phrases: an instruction verb from a compact lexicon (write, sort, summarize, translate, ...) in verb
  position (clause start or after "please", "to", "and", "you", ...) and the head noun of the run after it:
  "Write a poem about the sea" -> "poem writing" (and "sea" as a noun phrase); a task verb alone gives its task
  name ("summarization", "translation"); "translate/convert ... into X" gives "x translation";
- code-ish tokens from a lexicon of languages and tools ("python", "sql", "c++"), alone and with the text's verbs
  ("python sorting").
They are ranked KeyBERT-style: cosine of the candidate's embedding to the whole text's, then Maximal Marginal
Relevance picks top_k (score = (1 - diversity) * sim_to_text - diversity * max sim to the phrases already picked).
The confidence of a tag is its cosine to the text clipped to [0, 1]: a relevance score, not a probability.

Efficiency: each distinct candidate phrase is embedded once per batch (and kept in a bounded cache across calls),
texts in large length-sorted batches (core.embed.encode_unique); precomputed text vectors can be passed in.

Languages: the embedder (all-MiniLM-L6-v2) and the stop words are English. Texts mostly in CJK scripts get
candidates from runs of CJK characters cut at common Chinese function words/characters (core.labels), numerals
and prompt boilerplate, kept when 2-4 characters long (no segmenter: fragments still occur, and MiniLM ranks
Chinese mostly by shared characters, so expect lower quality). Other non-English texts (another script, or
Latin-script text with few English function words that py3langid does not call English) get [] rather than
garbage: their stop-word boundaries would be wrong.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from core.embed import encode_unique
from core.labels import _CJK as _CJK_CHARS
from core.labels import _ZH_CUT

# _CJK_CHARS (CJK character ranges) and _ZH_CUT (Chinese function words/characters) are the cluster keywords' own

_STOP = frozenset("""
a about above after again against all almost along already also although always am among an and another any anyone
anything are around as at be because been before being below between both but by can cannot could did do does doing
done down during each either else enough etc even ever every few for from further had has have having he her here
hers herself him himself his how however i if in into is it its itself just least less let like may me might mine
more most much must my myself neither no nor not now of off often on once only onto or other others otherwise our
ours ourselves out over own per perhaps please quite rather really same several shall she should since so some such
than that the their theirs them themselves then there these they this those though through thus to too toward towards
under until up upon us very via was we well were what whatever when where whether which while who whom whose why will
with within without would yet you your yours yourself yourselves
following given below above provided based using use used kindly e.g i.e ie eg example examples way ways thing things
something anything everything someone somebody lot lots sure actually basically simply certain various different
new good best many make makes made get gets got include includes including input output response instruction task
request zero one two three four five six seven eight nine ten eleven twelve twenty hundred thousand first second
third last next sentence's
""".split())

# instruction verb -> nominal form; None: a light verb (a boundary that makes no verb-object phrase)
_VERBS: dict[str, str | None] = {
    "write": "writing", "compose": "composition", "draft": "drafting", "summarize": "summarization",
    "summarise": "summarization", "translate": "translation", "explain": "explanation", "describe": "description",
    "classify": "classification", "categorize": "categorization", "categorise": "categorization",
    "generate": "generation", "create": "creation", "rewrite": "rewriting", "paraphrase": "paraphrasing",
    "rephrase": "rephrasing", "edit": "editing", "correct": "correction", "fix": "fixing", "debug": "debugging",
    "refactor": "refactoring", "optimize": "optimization", "optimise": "optimization", "implement": "implementation",
    "program": "programming", "calculate": "calculation", "compute": "computation", "solve": "solving",
    "convert": "conversion", "compare": "comparison", "contrast": "contrast", "analyze": "analysis",
    "analyse": "analysis", "evaluate": "evaluation", "identify": "identification", "detect": "detection",
    "extract": "extraction", "sort": "sorting", "reverse": "reversal", "suggest": "suggestion",
    "recommend": "recommendation", "brainstorm": "brainstorming", "design": "design", "plan": "planning",
    "outline": "outlining", "predict": "prediction", "estimate": "estimation", "proofread": "proofreading",
    "simplify": "simplification", "expand": "expansion", "shorten": "shortening", "format": "formatting",
    "parse": "parsing", "answer": "answering", "construct": "construction", "build": "building",
    "develop": "development", "draw": "drawing", "define": "definition", "interpret": "interpretation",
    "rank": "ranking", "rate": "rating", "review": "review", "critique": "critique", "discuss": "discussion",
    "count": "counting", "search": "search", "filter": "filtering", "merge": "merging", "split": "splitting",
    "remove": "removal", "replace": "replacement", "insert": "insertion", "delete": "deletion",
    "validate": "validation", "test": "testing", "check": "checking", "verify": "verification", "prove": "proof",
    "derive": "derivation", "differentiate": "differentiation", "integrate": "integration",
    "multiply": "multiplication", "divide": "division", "encrypt": "encryption", "decrypt": "decryption",
    "visualize": "visualization", "plot": "plotting", "train": "training", "conjugate": "conjugation",
    "transcribe": "transcription", "diagnose": "diagnosis", "persuade": "persuasion", "pretend": "role-play",
    "roleplay": "role-play", "imagine": None, "give": None, "provide": None, "find": None, "list": None,
    "name": None, "tell": None, "show": None, "help": None, "produce": None, "come": None, "think": None,
    "let": None, "offer": None, "share": None, "choose": None, "select": None, "add": None, "take": None,
    "want": None, "need": None, "act": None, "respond": None, "reply": None, "return": None, "output": None,
}
# nominals too vague to stand alone as a tag (they still form "poem writing")
_GENERIC = frozenset("writing creation generation description identification building development design "
                     "construction drawing checking search counting answering composition drafting".split())
_VERB_PREV = frozenset("please to and or then you kindly also now first me us that which who".split())
_DETS = frozenset("a an the this that these those some any my your their our its his her all each every".split())
_SKIP = _STOP - frozenset("about for on in into to with from of by as at".split())  # skipped before an object
_CONTAINERS = frozenset("list set series number couple variety collection sequence pair group piece kind type "
                        "bunch range few handful".split())
_CODE = frozenset("""python java javascript typescript c++ c# f# golang rust ruby php swift kotlin scala matlab bash
shell powershell perl haskell lua dart julia sql mysql postgresql sqlite html css json xml yaml regex react angular
vue django flask pandas numpy tensorflow pytorch excel latex docker kubernetes git linux node.js jquery""".split())

_CJK = re.compile(f"[{_CJK_CHARS}]")
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
# numerals and instruction boilerplate of Chinese prompts ("回答以下问题", "列出至少两个"), cut like function words
_ZH_META = re.compile("回答|问题|答案|下列|给定|提供|列出|写出|编写|至少|每个|多少|哪个|根据|使用|分为|提出|"
                      "[二三四五六七八九十两几百千万]")
_LETTER = re.compile(r"[^\W\d_]")
_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:[+#]+|(?:[.'\-][a-z0-9]+)*)|\d[\d.,]*|[^\sa-z0-9]")


def _lemma(w: str) -> str | None:
    """The lexicon verb a word form belongs to ("sorting", "writes", "translated" -> base), else None."""
    for base in (w, w[:-3], w[:-3] + "e", w[:-4], w[:-1], w[:-2], w[:-1] if w.endswith("d") else ""):
        if base and base in _VERBS:
            return base
    return None


def _singular(w: str) -> str:
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is", "ics", "ws", "as")) and len(w) > 3:
        return w[:-1]
    return w


def language_path(text: str) -> str:
    """'cjk' (mostly CJK letters), 'en' (treated as English) or 'skip' (another language: no candidates).
    Latin-script text with under 10% English function words or instruction verbs is checked with py3langid."""
    letters = _LETTER.findall(text[:2000])
    if not letters:
        return "en"
    cjk = sum(1 for c in letters if _CJK.match(c))
    if cjk / len(letters) > 0.3:
        return "cjk"
    if sum(1 for c in letters if c.isascii()) / len(letters) < 0.7:
        return "skip"
    words = _WORDS.findall(text[:2000].lower())
    if len(words) >= 3 and sum(w in _STOP or _lemma(w) is not None for w in words) / len(words) < 0.1:
        from core.fastlang import (
            classify_many,  # few English function words: ask the language identifier
        )
        return "en" if classify_many([text[:2000]])[0] == "en" else "skip"
    return "en"


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, token): 'w' content word, 'v' lexicon verb in verb position, 'b' boundary (stop word, number, punct)."""
    out: list[tuple[str, str]] = []
    for t in _TOKEN.findall(text.lower()):
        t = t.removesuffix("'s")
        prev = out[-1][1] if out else "."
        if not t[0].isalpha() or t in _STOP or "'" in t or (len(t) < 2 and t not in _CODE):
            kind = "b"
        elif (base := _lemma(t)) is not None and (not prev[0].isalpha() or prev in _VERB_PREV):
            kind, t = "v", base
        else:
            kind = "w"
        out.append((kind, t))
    for i in range(1, len(out) - 1):  # a participle taking an object ends a noun run: "adjectives describing a"
        t = out[i][1]
        if out[i][0] == out[i - 1][0] == "w" and t.endswith(("ing", "ed")) and len(t) > 4 and out[i + 1][1] in _DETS:
            out[i] = ("b", t)
    return out


def _runs(tokens: list[tuple[str, str]]) -> list[tuple[int, list[str]]]:
    """(start index, words) of each maximal run of content words."""
    runs, cur, start = [], [], 0
    for i, (kind, t) in enumerate(tokens):
        if kind == "w":
            if not cur:
                start = i
            cur.append(t)
        elif cur:
            runs.append((start, cur))
            cur = []
    if cur:
        runs.append((start, cur))
    return runs


def _object(tokens, runs_at: dict[int, list[str]], i: int) -> list[str] | None:
    """The run that is the object of the verb at tokens[i] (skipping determiners/numbers; through "list of")."""
    j = i + 1
    while j < len(tokens) and tokens[j][0] == "b" and (tokens[j][1] in _SKIP or tokens[j][1][0].isdigit()):
        j += 1
    run = runs_at.get(j)
    if run and run[-1] in _CONTAINERS and j + len(run) < len(tokens) and tokens[j + len(run)][1] == "of":
        k = j + len(run) + 1
        while k < len(tokens) and tokens[k][0] == "b" and (tokens[k][1] in _SKIP or tokens[k][1][0].isdigit()):
            k += 1
        run = runs_at.get(k) or run
    return run


def english_candidates(text: str, max_candidates: int = 24) -> list[str]:
    """Candidate tags of an English text, most specific kinds first (verb-object, code, tasks, noun phrases)."""
    tokens = _tokens(text)
    runs = _runs(tokens)
    runs_at = dict(runs)
    first: list[str] = []
    noms: list[str] = []
    for i, (kind, t) in enumerate(tokens):
        if kind != "v" or _VERBS[t] is None:
            continue
        nom = _VERBS[t]
        noms.append(nom)
        obj = _object(tokens, runs_at, i)
        if obj:
            head = _singular(obj[-1])
            first.append(f"{head} {nom}")
            if len(obj) >= 2:
                first.append(f"{obj[-2]} {head} {nom}")
        if t in ("translate", "convert"):  # "... into French" -> "french translation"
            for j in range(i + 1, min(len(tokens) - 1, i + 12)):
                if tokens[j][1] in ("into", "to") and tokens[j + 1][0] == "w":
                    first.append(f"{tokens[j + 1][1]} {nom}")
                    break
    code = [t for kind, t in tokens if kind == "w" and t in _CODE]
    for lang in dict.fromkeys(code):
        first.append(lang)
        first.extend(f"{lang} {nom}" for nom in dict.fromkeys(noms) if nom not in _GENERIC)
    first.extend(nom for nom in noms if nom not in _GENERIC)
    grams: list[list[str]] = [[], [], [], []]
    for _, run in runs:
        if 2 <= len(run) <= 4:
            grams[0].append(" ".join(run))
        for n in (3, 2):
            grams[4 - n].extend(" ".join(run[k:k + n]) for k in range(len(run) - n + 1))
        grams[3].extend(w for w in run if len(w) >= 3 and w not in _CONTAINERS)
    out = dict.fromkeys(first + grams[0] + grams[1] + grams[2] + grams[3])
    return list(out)[:max_candidates]


def cjk_candidates(text: str, max_candidates: int = 24) -> list[str]:
    """Candidates of a CJK text: pieces of 2-4 characters of CJK runs cut at Chinese function words/characters,
    numerals and instruction boilerplate (no segmenter: longer pieces usually span several words and are dropped),
    plus code tokens written in Latin letters."""
    out: list[str] = [t for t in _TOKEN.findall(text.lower()) if t in _CODE]
    for run in _CJK_RUN.findall(text):
        for part in _ZH_CUT.split(run):
            out.extend(p for p in _ZH_META.split(part) if 2 <= len(p) <= 4)
    return list(dict.fromkeys(out))[:max_candidates]


def candidates(text: str, max_chars: int = 1000, max_candidates: int = 24) -> list[str]:
    """Candidate phrases of one text by its language path (see language_path); [] for a skipped language."""
    text = (text or "")[:max_chars]
    path = language_path(text)
    if path == "cjk":
        return cjk_candidates(text, max_candidates)
    return english_candidates(text, max_candidates) if path == "en" else []


def mmr(doc: np.ndarray, cands: np.ndarray, top_k: int, diversity: float, min_score: float,
        words: list[frozenset] | None = None) -> list[int]:
    """Maximal Marginal Relevance over normalised vectors: indices of up to top_k candidates with cosine to
    `doc` >= min_score, each maximising (1 - diversity) * sim(doc) - diversity * max sim to those already picked.
    words: each candidate's word set; a candidate whose words all occur in one picked phrase is passed over
    ("colors" once "primary colors" is picked)."""
    sim = cands @ doc
    rest = [int(i) for i in np.flatnonzero(sim >= min_score)]
    picked: list[int] = []
    while rest and len(picked) < top_k:
        if picked:
            score = (1.0 - diversity) * sim[rest] - diversity * (cands[rest] @ cands[picked].T).max(axis=1)
        else:
            score = sim[rest]
        best = rest.pop(int(np.argmax(score)))
        picked.append(best)
        if words is not None:
            rest = [i for i in rest if not words[i] <= words[best]]
    return picked


class KeyphraseTagger:
    """KeyBERT-style open-set tagger: tag(texts) -> per text [(phrase, confidence in [0, 1]), ...], best first."""

    def __init__(self, embedder, top_k: int = 5, diversity: float = 0.5, min_score: float = 0.35,
                 max_chars: int = 1000, max_candidates: int = 24, cache_size: int = 50_000):
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be in [0, 1], got {diversity}")
        self.embedder, self.top_k, self.diversity, self.min_score = embedder, int(top_k), float(diversity), min_score
        self.max_chars, self.max_candidates, self.cache_size = int(max_chars), int(max_candidates), int(cache_size)
        self._cache: dict[str, np.ndarray] = {}  # phrase -> vector, across calls (oldest half dropped when full)

    def _phrase_vectors(self, phrases: list[str], progress) -> np.ndarray:
        """Vectors of distinct phrases: cached ones looked up, the others embedded (once) and cached."""
        out = np.empty((len(phrases), self.embedder.dim), np.float32)
        missing = []
        for i, p in enumerate(phrases):
            v = self._cache.get(p)
            if v is None:
                missing.append(i)
            else:
                out[i] = v
        if missing:
            new = [phrases[i] for i in missing]
            out[missing] = encode_unique(self.embedder, new, progress)
            over = len(self._cache) + len(new) - self.cache_size
            if over > 0:  # drop the oldest entries (at least half, so that eviction is rare)
                for p in list(self._cache)[: max(over, len(self._cache) // 2)]:
                    del self._cache[p]
            if len(new) <= self.cache_size:
                self._cache.update(zip(new, out[missing]))
        return out

    def tag(self, texts: list[str], progress: Callable[[int, int], None] | None = None,
            vecs: np.ndarray | None = None) -> list[list[tuple[str, float]]]:
        """Tags of each text. vecs: the texts' vectors from the same embedder when already computed (else they are
        embedded here). progress(done, total) counts embedded texts then phrases, then ranked rows."""
        texts = ["" if t is None else str(t) for t in texts]
        cands = [candidates(t, self.max_chars, self.max_candidates) for t in texts]
        index: dict[str, int] = {}
        ids = [[index.setdefault(p, len(index)) for p in c] for c in cands]
        phrases = list(index)
        n_text = 0 if vecs is not None else len(texts)
        n_phr = sum(p not in self._cache for p in phrases)
        total = n_text + n_phr + len(texts)

        def step(offset):
            return None if progress is None else (lambda d, _t: progress(offset + d, total))
        if vecs is None:
            need = [t[: self.max_chars * 2] for t, c in zip(texts, cands) if c]
            doc = np.zeros((len(texts), self.embedder.dim), np.float32)
            if need:
                doc[[i for i, c in enumerate(cands) if c]] = encode_unique(self.embedder, need, step(0))
        else:
            doc = np.asarray(vecs, np.float32)
            if doc.shape != (len(texts), self.embedder.dim):
                raise ValueError(f"vecs has shape {doc.shape}, expected {(len(texts), self.embedder.dim)}")
        pv = self._phrase_vectors(phrases, step(n_text)) if phrases else np.zeros((0, self.embedder.dim))
        words = [frozenset(p.split()) for p in phrases]
        out: list[list[tuple[str, float]]] = []
        for r, row in enumerate(ids):
            c = pv[row]
            picked = mmr(doc[r], c, self.top_k, self.diversity, self.min_score, [words[j] for j in row])
            tags = [(phrases[row[j]], float(min(1.0, max(0.0, s)))) for j, s in zip(picked, c[picked] @ doc[r])]
            out.append(sorted(tags, key=lambda x: -x[1]))
            if progress is not None and (r + 1) % 1000 == 0:
                progress(n_text + n_phr + r + 1, total)
        if progress is not None:
            progress(total, total)
        return out
