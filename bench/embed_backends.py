"""Embedding backend benchmark: rows/s and cosine to torch fp32 on Alpaca instructions.

    HF_HUB_OFFLINE=1 python bench/embed_backends.py                 # 3,000 instructions, 2 rounds
    HF_HUB_OFFLINE=1 python bench/embed_backends.py --rows 500 --rounds 1   # a quick try

Backends: SentenceTransformer.encode in torch fp32 (all threads and 1 thread) and bf16 (model.to(bfloat16); timed
on the first --slow-rows texts only, it is slow on CPUs without bf16 units); Sift's ONNX backend (core.embed:
the transformer exported offline with torch.onnx, run by onnxruntime, fp32, idle threads not spinning; all
threads, 1 thread, and with onnxruntime's default thread spinning); ONNX int8
dynamic quantisation (onnxruntime.quantization.quantize_dynamic: default settings, per-channel weights, and
per-channel on the attention projections only); and sentence-transformers' own backend="onnx" /
export_dynamic_quantized_onnx_model, which need optimum (reported as unavailable when it is missing).
Every backend encodes the same sample (batch 64, the same length sorting) in each round, in a rotating order;
the table shows the best round (the machine may be shared), rows per CPU-second of this process (less
sensitive to other load) and the cosine of each row to torch fp32.
Gate for offering a backend: faster than torch fp32 and min cosine >= 0.99. Adopted (core/embed.py): onnx fp32
as the CPU default; the int8 variants are not offered (per-channel/default fail the cosine gate, and the one
that passes, attention projections only, is within noise of onnx fp32 while costing accuracy).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE = ROOT.parent / "shared" / "data" / "alpaca_52k" / "alpaca_data_reconstructed.json"

import numpy as np
import torch

from core import embed


class Unavailable(Exception):
    pass


def load_texts(n: int, seed: int) -> tuple[list[str], dict]:
    rows = json.loads(SOURCE.read_text())
    instr = [r["instruction"] for r in rows]
    stats = {"alpaca_rows": len(rows), "unique_instructions": len(set(instr)),
             "unique_instruction_input": len({(r["instruction"], r["input"]) for r in rows})}
    random.Random(seed).shuffle(instr)
    return instr[:n], stats


def st_model(dtype=None):
    from sentence_transformers import SentenceTransformer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = SentenceTransformer(embed.resolve_model(None), device="cpu")
    if dtype is not None:
        m.to(dtype)
    return m


def torch_encoder(m, threads: int | None, batch: int):
    def enc(texts):
        old = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            out = m.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False,
                           convert_to_tensor=True)
            return embed._l2(out.float().cpu().numpy())
        finally:
            torch.set_num_threads(old)
    return enc


def ort_variant(runner, file: Path, threads: int | None, batch: int, spin: bool = False):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    r = copy.copy(runner)
    r.sess = ort.InferenceSession(str(file), so, providers=["CPUExecutionProvider"])
    return lambda texts: r.encode(texts, batch)


def quantized(src: Path, dst: Path, **kw) -> Path:
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise Unavailable(f"needs onnx + onnxruntime ({e})")
    if kw.pop("attention_only", False):
        g = onnx.load(str(src), load_external_data=False).graph
        inits = {i.name for i in g.initializer}
        kw["nodes_to_quantize"] = [n.name for n in g.node if n.op_type == "MatMul" and "/attention/" in n.name
                                   and any(x in inits for x in n.input)]
    import logging
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, **kw)
    return dst


def st_onnx(batch: int, quantize: bool):
    try:
        import optimum.onnxruntime  # noqa: F401
    except Exception as e:  # noqa: BLE001
        import transformers
        raise Unavailable(f"needs optimum-onnx, not installed ({type(e).__name__}); optimum-onnx 0.1.0 pins "
                          f"transformers<4.58 (this venv has {transformers.__version__}), so it is not installed")
    from sentence_transformers import (
        SentenceTransformer,
        export_dynamic_quantized_onnx_model,
    )
    m = SentenceTransformer(embed.resolve_model(None), device="cpu", backend="onnx")
    if quantize:
        d = Path(tempfile.mkdtemp())
        m.save_pretrained(str(d))
        export_dynamic_quantized_onnx_model(m, "avx2", str(d))
        m = SentenceTransformer(str(d), backend="onnx", model_kwargs={"file_name": "onnx/model_qint8_avx2.onnx"})
    return lambda texts: embed._l2(m.encode(texts, batch_size=batch, show_progress_bar=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--slow-rows", type=int, default=300, help="texts for the slow bf16 run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()

    texts, stats = load_texts(a.rows, a.seed)
    slow = texts[: a.slow_rows]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), load avg {os.getloadavg()[0]:.1f}", flush=True)
    print(f"# alpaca: {stats['alpaca_rows']} rows, {stats['unique_instructions']} distinct instructions, "
          f"{stats['unique_instruction_input']} distinct instruction+input; sample {len(texts)} instructions, "
          f"mean {np.mean([len(t) for t in texts]):.0f} chars", flush=True)

    cache = Path(tempfile.mkdtemp(prefix="sift-onnx-"))
    os.environ["SIFT_CACHE"] = str(cache)
    fp32 = st_model()
    cands: dict[str, tuple] = {}  # label -> (encode fn or Unavailable, texts, note)

    def add(label, make, sample=texts, note=""):
        t = time.perf_counter()
        try:
            fn = make()
            fn(sample[:64])  # warm-up
            cands[label] = (fn, sample, (note + f" setup {time.perf_counter() - t:.1f}s").strip())
        except Unavailable as e:
            cands[label] = (None, sample, str(e))
        except Exception as e:  # noqa: BLE001
            cands[label] = (None, sample, f"failed: {embed._one_line(e, 160)}")
        print(f"  set up {label}: {cands[label][2]}", flush=True)

    add("torch fp32", lambda: torch_encoder(fp32, None, a.batch))
    add("torch fp32, 1 thread", lambda: torch_encoder(fp32, 1, a.batch))
    add("torch bf16", lambda: torch_encoder(st_model(torch.bfloat16), None, a.batch), slow,
        f"first {len(slow)} texts;")
    t0 = time.perf_counter()
    e = embed.SentenceEmbedder(backend="onnx", batch_size=a.batch)  # exports into the temp SIFT_CACHE
    onnx_file = e._onnx.file
    add("onnx fp32 (sift)", lambda: e.encode,
        note=f"[{e.model_id}] first load with ONNX export {time.perf_counter() - t0:.1f}s;")
    add("onnx fp32, 1 thread", lambda: ort_variant(e._onnx, onnx_file, 1, a.batch))
    add("onnx fp32, thread spinning on (ORT default)",
        lambda: ort_variant(e._onnx, onnx_file, None, a.batch, spin=True))
    add("onnx int8 dynamic (defaults)",
        lambda: ort_variant(e._onnx, quantized(onnx_file, cache / "q_default.onnx"), None, a.batch))
    add("onnx int8 dynamic per-channel",
        lambda: ort_variant(e._onnx, quantized(onnx_file, cache / "q_pc.onnx", per_channel=True), None, a.batch))
    add("onnx int8 per-channel, attention only",
        lambda: ort_variant(e._onnx, quantized(onnx_file, cache / "q_att.onnx", per_channel=True,
                                               attention_only=True), None, a.batch))
    add("sentence-transformers backend=onnx", lambda: st_onnx(a.batch, False))
    add("sentence-transformers onnx qint8 (export_dynamic_quantized_onnx_model)", lambda: st_onnx(a.batch, True))

    live = [k for k, v in cands.items() if v[0] is not None]
    speeds: dict[str, list[float]] = {k: [] for k in live}
    cpu: dict[str, list[float]] = {k: [] for k in live}  # rows per CPU-second of this process
    vecs: dict[str, np.ndarray] = {}
    for r in range(a.rounds):
        order = live[r % len(live):] + live[: r % len(live)]
        for k in order:
            fn, sample, _ = cands[k]
            t, c = time.perf_counter(), time.process_time()
            v = fn(sample)
            speeds[k].append(len(sample) / (time.perf_counter() - t))
            cpu[k].append(len(sample) / max(time.process_time() - c, 1e-9))
            vecs.setdefault(k, v)
        print(f"  round {r + 1}: " + ", ".join(f"{k} {speeds[k][-1]:.0f}" for k in live), flush=True)

    ref = vecs["torch fp32"]
    base = max(speeds["torch fp32"])
    onnx_cpu = max(cpu.get("onnx fp32 (sift)", [float("nan")]))
    rows = []
    print("\n| backend | rows | rows/s (best) | rows/s per round | x torch fp32 | rows/CPU-s | CPU-s x onnx fp32 "
          "| mean cos | min cos | gate (faster than torch fp32, min cos >= 0.99) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k, (fn, sample, note) in cands.items():
        if fn is None:
            print(f"| {k} | - | - | - | - | - | - | - | - | unavailable: {note} |")
            rows.append({"backend": k, "note": note})
            continue
        cos = (vecs[k] * ref[: len(sample)]).sum(1)
        best, ratio = max(speeds[k]), max(speeds[k]) / base
        ok = cos.min() >= 0.99
        verdict = ("reference" if k == "torch fp32" else
                   "passes" if ok and ratio > 1.1 else
                   "fails: min cosine < 0.99" if not ok else "fails: not faster")
        print(f"| {k} | {len(sample)} | {best:.0f} | {' / '.join(f'{s:.0f}' for s in speeds[k])} | {ratio:.2f} | "
              f"{max(cpu[k]):.0f} | {max(cpu[k]) / onnx_cpu:.2f} | {cos.mean():.5f} | {cos.min():.5f} | {verdict} |")
        rows.append({"backend": k, "rows": len(sample), "rows_per_s": speeds[k], "rows_per_cpu_s": cpu[k],
                     "ratio": ratio,
                     "cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "verdict": verdict, "note": note})
    print(f"\n# load avg at end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(cache, ignore_errors=True)  # the exported and quantised ONNX files of this run
    if a.json:
        a.json.write_text(json.dumps({"stats": stats, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
