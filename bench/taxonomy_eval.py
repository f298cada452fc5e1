"""How sensible are the taxonomy tagger's tags? Hit rates against labelled sets in ../shared/data.

    python bench/taxonomy_eval.py          # report (markdown) with core.taxonomy's shipped calibration
    python bench/taxonomy_eval.py --fit    # refit SLOPE/OFFSET (Vicuna-bench + IFEval), then report

The labels are coarser than the taxonomy, so each label gets a hand-made set of ACCEPTABLE taxonomy tags (below):
  mt_bench       `category` (8) of the 80 MT-Bench questions, first turn     held out (never used to fit)
  vicuna         `category` of Vicuna-bench (7 of 9: generic/knowledge have no clear tag), first turn   fit set
  ifeval         each id of `instruction_id_list` -> one constraint/format tag; ranked among the constraint and
                 format tags only (the prompts' main task, e.g. "write an essay", is not labelled)     fit set
  belle_eval_zh  `class` (10), Chinese prompts: the English MiniLM model is expected to do poorly
alpaca_eval's `dataset` names the source subset, not an intention, so it is not used.
Reported: top-1 / top-3 hit rate (some acceptable tag among the k best by similarity), and for the calibrated
output (threshold, top_k=3): share of rows with a tag, precision of emitted tags, Brier score of the confidences
of the top-3 tags against "acceptable", and a reliability table (mean confidence vs hit rate per bin).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core import taxonomy as tx  # noqa: E402

WRITING = {"creative writing", "essay writing", "blog post", "story writing", "short story", "children's story",
           "poem writing", "haiku", "sonnet", "limerick", "song lyrics", "email writing", "letter writing",
           "cover letter", "persuasive writing", "descriptive writing", "speech writing", "report writing",
           "academic writing", "review writing", "social media post", "advertising copy", "product description",
           "slogan writing", "news article", "screenplay writing", "dialogue writing", "jokes and humor",
           "essay format", "letter format", "rewriting", "text expansion", "style transfer", "persona style",
           "formal tone", "casual tone", "target audience", "title generation", "outline creation",
           "proofreading", "grammar correction", "paraphrasing"}
CODE_TASKS = {"code generation", "code explanation", "debugging", "refactoring", "code review", "code translation",
              "code optimization", "unit testing", "code documentation", "sql query writing", "command line usage",
              "algorithm design", "code block"}
MATH = {"arithmetic", "algebra", "geometry", "trigonometry", "calculus", "linear algebra", "probability",
        "number theory", "combinatorics", "discrete mathematics", "differential equations", "mathematics",
        "statistics", "math problem solving", "word problems", "calculation", "unit conversion", "proof writing",
        "mathematical reasoning", "estimation", "step-by-step format"}
REASONING = {"logical reasoning", "mathematical reasoning", "commonsense reasoning", "causal reasoning",
             "counterfactual reasoning", "spatial reasoning", "temporal reasoning", "analogical reasoning",
             "critical thinking", "multi-step reasoning", "riddles", "word problems", "math problem solving",
             "hypothetical scenarios"}
STEM = {"physics", "quantum physics", "chemistry", "biology", "genetics", "anatomy", "neuroscience", "astronomy",
        "space exploration", "earth science", "weather", "climate change", "environment", "ecology", "animals",
        "plants", "energy", "electronics", "electrical engineering", "mechanical engineering", "civil engineering",
        "materials science", "agriculture", "computer science", "machine learning", "deep learning",
        "artificial intelligence", "natural language processing", "computer vision", "mathematics", "statistics",
        "medicine", "pharmacology", "cryptography", "computer networking", "data science", "cybersecurity",
        "public health", "aviation", "telecommunications", "computer hardware"}
HUMANITIES = {"history", "ancient history", "modern history", "philosophy", "ethics", "religion", "mythology",
              "literature", "poetry", "linguistics", "grammar", "art", "music", "film and television", "theater",
              "architecture", "archaeology", "anthropology", "sociology", "psychology", "political science",
              "international relations", "geography", "culture", "education", "law", "economics", "business",
              "politics", "journalism", "books", "human rights", "marketing", "management", "text analysis",
              "ethical judgement", "critical thinking", "cultural awareness"}
ROLEPLAY = {"role-play", "persona style", "dialogue writing", "chit-chat", "dialogue format", "point of view"}
EXTRACTION = {"information extraction", "named entity recognition", "keyword extraction", "data formatting",
              "text to table", "json output", "csv output", "yaml output", "markdown table", "reading comprehension",
              "sorting and ordering", "data analysis"}
QA = {"question answering", "fact lookup", "definition", "explanation", "world knowledge"}


def coding(tags: list[dict]) -> set[str]:
    """Programming-language and software domains (the taxonomy's first block, up to 'software tools') + code tasks."""
    names = [t["tag"] for t in tags]
    return set(names[: names.index("software tools") + 1]) | CODE_TASKS


def mappings(tags: list[dict]) -> dict[str, dict[str, set[str]]]:
    code = coding(tags)
    return {
        "mt_bench": {"writing": WRITING, "roleplay": ROLEPLAY, "reasoning": REASONING, "math": MATH, "coding": code,
                     "extraction": EXTRACTION, "stem": STEM, "humanities": HUMANITIES},
        "vicuna": {"writing": WRITING, "roleplay": ROLEPLAY, "math": MATH, "coding": code,
                   "fermi": {"estimation", "calculation", "mathematical reasoning", "multi-step reasoning",
                             "math problem solving", "demographics"},
                   "counterfactual": {"hypothetical scenarios", "counterfactual reasoning", "history",
                                      "modern history", "ancient history"},
                   "common-sense": {"commonsense reasoning", "logical reasoning", "critical thinking", "etiquette",
                                    "culture", "psychology", "causal reasoning"}},
        "belle_eval_zh": {"open qa": QA, "closed\u00a0qa": QA | {"reading comprehension", "information extraction"},
                          "brainstorming": {"brainstorming", "list generation", "advice", "recommendation",
                                            "planning", "creativity"},
                          "rewrite": {"rewriting", "paraphrasing", "style transfer", "text simplification",
                                      "translation", "grammar correction", "proofreading", "text expansion"},
                          "generation": WRITING | {"creativity", "list generation", "name generation"},
                          "math": MATH, "classification": {"classification", "sentiment analysis",
                                                           "topic classification"},
                          "summarization": {"summarization"}, "code": code,
                          "extract": {"information extraction", "keyword extraction", "named entity recognition"}},
    }


IFEVAL = {"punctuation:no_comma": "no commas", "length_constraints:number_words": "word limit",
          "length_constraints:number_sentences": "sentence count", "keywords:forbidden_words": "forbidden words",
          "detectable_format:number_highlighted_sections": "highlighted sections",
          "keywords:frequency": "keyword frequency", "combination:repeat_prompt": "repeat the request",
          "startend:quotation": "quotation marks", "change_case:english_lowercase": "lowercase only",
          "keywords:existence": "include keywords", "detectable_format:title": "title in angle brackets",
          "keywords:letter_frequency": "letter frequency", "detectable_format:number_bullet_lists": "bullet list",
          "language:response_language": "response language",
          "detectable_content:number_placeholders": "placeholders",
          "length_constraints:number_paragraphs": "paragraph count", "startend:end_checker": "end with phrase",
          "detectable_content:postscript": "postscript", "change_case:english_capital": "all capital letters",
          "change_case:capital_word_frequency": "capitalized words frequency",
          "combination:two_responses": "two responses", "detectable_format:json_format": "json output",
          "detectable_format:multiple_sections": "numbered sections",
          "length_constraints:nth_paragraph_first_word": "paragraph count",
          "detectable_format:constrained_response": "fixed response options"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_sets(tags: list[dict]) -> dict[str, tuple[list[str], list[set[str] | None], str | None]]:
    """name -> (texts, acceptable tag set per row or None when the label has no mapping, group mask or None)."""
    maps = mappings(tags)
    mt = _jsonl(DATA / "mt_bench" / "mt_bench_question.jsonl")
    vi = _jsonl(DATA / "mt_bench" / "vicuna_bench_question.jsonl")
    be = _jsonl(DATA / "belle_eval_zh" / "eval_set.json")
    ie = _jsonl(DATA / "ifeval" / "input_data.jsonl")
    return {
        "mt_bench": ([r["turns"][0] for r in mt], [maps["mt_bench"].get(r["category"]) for r in mt], None),
        "vicuna": ([r["turns"][0] for r in vi], [maps["vicuna"].get(r["category"]) for r in vi], None),
        "ifeval": ([r["prompt"] for r in ie], [{IFEVAL[i] for i in r["instruction_id_list"]} for r in ie],
                   "constraint|format"),
        "belle_eval_zh": ([r["question"] for r in be], [maps["belle_eval_zh"].get(r["class"]) for r in be], None),
    }


def _conf_and_mask(tagger: tx.TaxonomyTagger, vecs: np.ndarray, groups: str | None):
    conf = tagger.confidence(tagger.similarities(vecs))
    mask = np.ones(len(tagger.tags), bool) if groups is None else \
        np.array([tagger.groups[t] in groups.split("|") for t in tagger.tags])
    return np.where(mask, conf, -1.0)


def evaluate_set(tagger, vecs, acceptable, groups, threshold, k_pairs=3) -> dict:
    conf = _conf_and_mask(tagger, vecs, groups)
    order = np.argsort(-conf, axis=1, kind="stable")
    rows = [i for i, a in enumerate(acceptable) if a]
    hit = np.array([[tagger.tags[j] in acceptable[i] for j in order[i, :10]] for i in rows])
    top_c = np.array([conf[i, order[i, :10]] for i in rows])
    emitted = (top_c[:, :3] >= threshold)
    p, y = top_c[:, :k_pairs].ravel(), hit[:, :k_pairs].ravel()
    bins = [(lo, hi) for lo, hi in ((0, .2), (.2, .4), (.4, .6), (.6, .8), (.8, 1.01))]
    rel = [(f"{lo:.1f}-{min(hi, 1):.1f}", int(((p >= lo) & (p < hi)).sum()),
            float(p[(p >= lo) & (p < hi)].mean()) if ((p >= lo) & (p < hi)).any() else float("nan"),
            float(y[(p >= lo) & (p < hi)].mean()) if ((p >= lo) & (p < hi)).any() else float("nan")) for lo, hi in bins]
    return {"rows": len(rows), "chance": float(np.mean([len(acceptable[i]) / (conf[0] >= 0).sum() for i in rows])),
            "top1": float(hit[:, 0].mean()), "top3": float(hit[:, :3].any(1).mean()),
            "tagged": float(emitted.any(1).mean()),
            "precision": float(hit[:, :3][emitted].mean()) if emitted.any() else float("nan"),
            "brier": float(((p - y) ** 2).mean()), "reliability": rel,
            "_margins": np.take_along_axis(tx.row_margins(tagger.similarities(vecs))[rows], order[rows, :10], 1),
            "_hits": hit}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", action="store_true", help="refit the calibration on vicuna + ifeval first")
    ap.add_argument("--threshold", type=float, default=tx.DEFAULT_THRESHOLD)
    a = ap.parse_args()
    from core.embed import encode_unique, get_embedder
    emb = get_embedder()
    tagger = tx.TaxonomyTagger(emb)
    sets = load_sets(tagger.taxonomy)
    vecs = {name: encode_unique(emb, texts) for name, (texts, _, _) in sets.items()}
    if a.fit:
        parts = [evaluate_set(tagger, vecs[n], sets[n][1], sets[n][2], a.threshold) for n in ("vicuna", "ifeval")]
        m = np.concatenate([p["_margins"].ravel() for p in parts])
        h = np.concatenate([p["_hits"].ravel() for p in parts])
        tagger.slope, tagger.offset = tx.fit_calibration(m, h)
        print(f"fitted on {len(m)} (row, top-10 tag) pairs: SLOPE, OFFSET = {tagger.slope:.2f}, {tagger.offset:.2f}\n")
    print(f"taxonomy: {len(tagger.tags)} tags; model {emb.model_id}; calibration slope {tagger.slope:.2f} "
          f"offset {tagger.offset:.2f}; threshold {a.threshold}\n")
    print("| set | rows | top-1 hit | (random tag) | top-3 hit | rows tagged | precision of emitted | Brier (top-3) |")
    print("|---|---|---|---|---|---|---|---|")
    results = {}
    for name, (_texts, acc, groups) in sets.items():
        r = results[name] = evaluate_set(tagger, vecs[name], acc, groups, a.threshold)
        label = f"{name} (constraint/format tags)" if groups else name
        print(f"| {label} | {r['rows']} | {r['top1']:.2f} | {r['chance']:.2f} | {r['top3']:.2f} |"
              f" {r['tagged']:.2f} | {r['precision']:.2f} | {r['brier']:.3f} |")
    print("\nreliability on mt_bench (held out), top-3 tags: | confidence bin | pairs | mean confidence | hit rate |")
    for b, cnt, mc, hr in results["mt_bench"]["reliability"]:
        print(f"| {b} | {cnt} | {mc:.2f} | {hr:.2f} |")


if __name__ == "__main__":
    main()
