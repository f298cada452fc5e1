"""The demo dataset: a seeded generator of varied instruction rows, written in three formats.

``python -m core.demo --out data/demo`` regenerates the committed files byte for byte;
``python -m core demo --workspace WS`` (``build_demo_workspace``) imports them, one dataset per file, so the
dataset and format facets have something to show. The set holds ~14 task types, multi-turn conversations,
system prompts, tool calls, rows in Chinese, Spanish, French and German, a few exact duplicates (within a file
and across formats) and seven deliberately broken records that land in the quarantine.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from core import demo_prose as P
from core import demo_tasks as D
from core import demo_text as T
from core.demo_tasks import Sample

DEFAULT_ROWS = 3000
SEED = 20240611
FILES = ("demo_alpaca.jsonl", "demo_sharegpt.json", "demo_messages.jsonl")
SHARES = {"alpaca": 0.5, "sharegpt": 0.3}  # messages get the rest
GENERATORS = [(D.coding, 12), (D.math, 12), (P.summarization, 8), (P.translation, 7), (P.creative, 8),
              (P.classification, 8), (D.extraction, 7), (P.brainstorming, 7), (P.open_qa, 9), (P.rewriting, 7),
              (D.sql, 7), (D.data_formatting, 6), (D.tool_use, 4), (D.i18n, 7)]
FOLLOW_UPS = (P.open_qa, D.math, P.brainstorming, P.translation, P.rewriting)
CROSS_FORMAT_DUPLICATES = 3  # Alpaca rows repeated, as conversations, in the messages file

# records that must be quarantined: (raw JSONL line or record, why)
BAD_ALPACA = [
    '{"instruction": "Summarize the meeting notes below.", "input": "Attendees: Ana, Ben. Decisions: move the launch',
    {"instruction": "", "input": "", "output": "An answer without a question.", "category": "open_qa"},
    {"instruction": "How many legs does a spider have?", "input": "", "output": 8, "category": "open_qa"},
]
BAD_SHAREGPT = [
    {"conversations": [{"from": "narrator", "value": "Once upon a time..."},
                       {"from": "gpt", "value": "...there was a record with an unknown role."}], "category": "creative_writing"},
    {"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "I did not hear a question."}],
     "category": "open_qa"},
]
BAD_MESSAGES = [
    {"messages": [{"content": "Hello there!"}, {"role": "assistant", "content": "Hi! How can I help?"}],
     "category": "open_qa"},
    {"messages": "What is the capital of France?", "category": "open_qa"},
]


def demo_dir() -> Path:
    """The committed demo set: data/demo in the repository."""
    return Path(__file__).resolve().parent.parent / "data" / "demo"


def _user(instruction: str, inp: str) -> str:
    """The user turn as Alpaca normalises instruction + input, so every format hashes the same."""
    return f"{instruction}\n\n{inp}" if inp else instruction


def _fresh(rng: random.Random, fmt: str, seen: set) -> Sample:
    """A sample not generated before (up to 30 tries), with an occasional system prompt."""
    gens = [(g, w) for g, w in GENERATORS if not (fmt == "alpaca" and g is D.tool_use)]
    for _ in range(30):
        gen = rng.choices([g for g, _ in gens], [w for _, w in gens])[0]
        s = gen(rng)
        if s.lang == "en" and s.tool is None and rng.random() < 0.05:  # a longer chat on several topics
            for _ in range(rng.randint(1, 3)):
                s.exchanges = s.exchanges + rng.choice(FOLLOW_UPS)(rng).exchanges
        if not s.system and s.lang == "en" and rng.random() < 0.25:
            s.system = rng.choice(T.SYSTEM_GENERIC) if rng.random() < 0.5 else T.SYSTEM_TASK[s.category]
        key = (s.system, tuple(s.exchanges))
        if key not in seen:
            break
    seen.add(key)
    return s


def to_alpaca(s: Sample) -> dict:
    *hist, (instruction, inp, out) = s.exchanges
    rec = {"instruction": instruction, "input": inp, "output": out}
    if s.system:
        rec["system"] = s.system
    if hist:
        rec["history"] = [[_user(i, n), r] for i, n, r in hist]
    rec.update(category=s.category, difficulty=s.difficulty, **s.extra)
    return rec


def to_sharegpt(s: Sample, rng: random.Random) -> dict:
    conv, rec = [], {}
    system_turn = bool(s.system) and rng.random() < 0.5
    if system_turn:
        conv.append({"from": "system", "value": s.system})
    for k, (instruction, inp, out) in enumerate(s.exchanges):
        conv.append({"from": "human", "value": _user(instruction, inp)})
        if s.tool and k == len(s.exchanges) - 1:
            conv.append({"from": "function_call", "value": json.dumps(
                {"name": s.tool["name"], "arguments": s.tool["arguments"]}, ensure_ascii=False)})
            conv.append({"from": "observation", "value": json.dumps(s.tool["result"], ensure_ascii=False)})
        conv.append({"from": "gpt", "value": out})
    rec["conversations"] = conv
    if s.system and not system_turn:
        rec["system"] = s.system
    if s.tool:
        rec["tools"] = json.dumps([s.tool["schema"]], ensure_ascii=False)
    rec["category"] = s.category
    return rec


def to_messages(s: Sample, rng: random.Random) -> dict:
    msgs = [{"role": "system", "content": s.system}] if s.system else []
    for k, (instruction, inp, out) in enumerate(s.exchanges):
        msgs.append({"role": "user", "content": _user(instruction, inp)})
        if s.tool and k == len(s.exchanges) - 1:
            call = f"call_{rng.randrange(16 ** 8):08x}"
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": call, "type": "function", "function": {
                    "name": s.tool["name"], "arguments": json.dumps(s.tool["arguments"], ensure_ascii=False)}}]})
            msgs.append({"role": "tool", "tool_call_id": call, "content": json.dumps(s.tool["result"], ensure_ascii=False)})
        msgs.append({"role": "assistant", "content": out})
    return {"messages": msgs, "category": s.category, "quality": rng.choices([1, 2, 3, 4, 5], [1, 2, 4, 6, 4])[0]}


def _records(rng, fmt: str, n: int, seen: set, cross: list) -> tuple[list, list]:
    """n good records of one format (about 1% exact duplicates among them) and the samples behind them."""
    n_dup = max(1, n // 100)
    n_cross = min(CROSS_FORMAT_DUPLICATES, len(cross)) if fmt == "messages" else 0
    samples = [_fresh(rng, fmt, seen) for _ in range(max(0, n - n_dup - n_cross))] + cross[:n_cross]
    encode = {"alpaca": to_alpaca, "sharegpt": lambda s: to_sharegpt(s, rng),
              "messages": lambda s: to_messages(s, rng)}[fmt]
    records = [encode(s) for s in samples]
    rng.shuffle(records)
    for _ in range(n_dup):  # an earlier record again, somewhere after it
        j = rng.randrange(len(records))
        records.insert(rng.randint(j + 1, len(records)), dict(records[j]))
    if fmt == "sharegpt":  # ids in file order: a repeated conversation gets its own id, as in real dumps
        records = [{"id": f"sg-{k:05d}", **r} for k, r in enumerate(records, 1)]
    return records, samples


def _insert_bad(rng, records: list, bad: list) -> list:
    out = list(records)
    for b in bad:
        out.insert(rng.randint(1, len(out)), b)
    return out


def _jsonl(records: list) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records).encode()


def generate(rows: int = DEFAULT_ROWS, seed: int = SEED) -> dict[str, bytes]:
    """{file name: bytes} of the demo set; ``rows`` good records in all (bad ones come on top)."""
    if rows < 20:
        raise ValueError("the demo set needs at least 20 rows")
    rng, seen = random.Random(seed), set()
    n_alpaca = int(rows * SHARES["alpaca"])
    n_sharegpt = int(rows * SHARES["sharegpt"])
    alpaca, alpaca_samples = _records(rng, "alpaca", n_alpaca, seen, [])
    sharegpt, _ = _records(rng, "sharegpt", n_sharegpt, seen, [])
    cross = rng.sample(alpaca_samples, CROSS_FORMAT_DUPLICATES)
    messages, _ = _records(rng, "messages", rows - n_alpaca - n_sharegpt, seen, cross)
    return {
        FILES[0]: _jsonl(_insert_bad(rng, alpaca, BAD_ALPACA)),
        FILES[1]: (json.dumps(_insert_bad(rng, sharegpt, BAD_SHAREGPT), ensure_ascii=False, indent=1) + "\n").encode(),
        FILES[2]: _jsonl(_insert_bad(rng, messages, BAD_MESSAGES)),
    }


def write_demo(out: str | Path, rows: int = DEFAULT_ROWS, seed: int = SEED) -> list[Path]:
    """Write the demo files into ``out``; files whose bytes are unchanged are left alone."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate(rows, seed).items():
        p = folder / name
        if not (p.is_file() and p.read_bytes() == data):
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(p)
        paths.append(p)
    return paths


def build_demo_workspace(workspace: str | Path, rows: int = DEFAULT_ROWS) -> list:
    """Import the demo set into ``workspace`` as three datasets (demo_alpaca, demo_sharegpt, demo_messages).

    The default size uses the committed files in data/demo; another size is generated into
    WORKSPACE/demo_data/. Re-running is a no-op: files already imported (same content hash) are skipped.
    """
    from core.importer import import_paths
    from core.store import Store

    folder = demo_dir()
    if rows != DEFAULT_ROWS or not all((folder / f).is_file() for f in FILES):
        folder = Path(workspace) / "demo_data" / f"rows_{rows}"
        write_demo(folder, rows)
    store = Store(workspace)
    try:
        return [import_paths(store, [str(folder / f)], name=f.split(".")[0]) for f in FILES]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.demo", description="Write the Sift demo dataset files.")
    ap.add_argument("--out", default=str(demo_dir()), help="folder to write into (default: data/demo)")
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"good records in all (default {DEFAULT_ROWS})")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    try:
        paths = write_demo(args.out, args.rows, args.seed)
    except ValueError as e:
        ap.error(str(e))
    for p in paths:
        print(f"{p} ({p.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
