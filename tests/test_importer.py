"""Importer behaviour across formats: files mixing formats, and the worker-process path."""
import collections
import json
import os
from pathlib import Path


from core.export import export_rows
from core.filters import Filter
from core.importer import import_paths
from core.store import Store
from tests.shared import SHARED, require_shared



def _hashes(store):
    return collections.Counter(h for b in store.iter_rows(columns=["hash"]) for h in (r["hash"] for r in b))


def test_auto_mode_reads_each_record_of_a_mixed_file_by_its_own_format(tmp_path):
    recs = [{"instruction": "a", "output": "b"},
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
            {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}]},
            {"prompt": "p", "chosen": "c", "rejected": "r"},
            {"instruction": "   ", "output": "broken alpaca stays quarantined"},
            {"instruction": "c", "output": "d"}]
    src = tmp_path / "mix.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    s = Store(tmp_path / "ws")
    res = import_paths(s, [str(src)])
    assert (res.rows, res.quarantined, res.format) == (5, 1, "alpaca")
    assert res.errors == [{"file": str(src), "line": 5, "field": "instruction", "reason": "is empty"}]
    assert dict(s.facet("format")) == {"alpaca": 2, "messages": 1, "sharegpt": 1, "preference": 1}
    # an explicit --format is obeyed: records of other layouts are quarantined (a preference pair is a flag on
    # the SFT layouts, as in LLaMA-Factory, so the prompt/chosen/rejected record still reads)
    s2 = Store(tmp_path / "ws2")
    assert import_paths(s2, [str(src)], fmt="alpaca").quarantined == 3


def test_original_export_of_a_mixed_dataset_reimports_whole(tmp_path):
    demos = SHARED / "llamafactory_demos"
    require_shared(demos)
    s = Store(tmp_path / "a")
    import_paths(s, [str(demos)])
    man = export_rows(s, Filter(), "all.jsonl", "original")
    s2 = Store(tmp_path / "b")
    res = import_paths(s2, [man["path"]])
    assert res.quarantined == 0
    assert _hashes(s2) == _hashes(s)


def test_worker_processes_give_the_same_rows_as_inline(tmp_path, monkeypatch):
    """Big files go through worker processes (spawned); the result must equal the inline path."""
    src = tmp_path / "big.jsonl"
    with open(src, "w") as f:
        for i in range(3000):
            f.write(json.dumps({"instruction": f"Question {i} about naïve café {'x' * (i % 50)}",
                                "output": f"答案 {i}" if i % 7 == 0 else f"Answer {i}", "n": i}) + "\n")
        f.write("{broken\n")
    import core.importer as imp
    monkeypatch.setattr(imp, "BATCH", 500)
    inline = Store(tmp_path / "inline")
    r1 = import_paths(inline, [str(src)])
    real_init = imp._Pool.__init__
    monkeypatch.setattr(imp._Pool, "__init__", lambda self, enabled: real_init(self, True))
    monkeypatch.setenv("SIFT_WORKERS", "2")
    pooled = Store(tmp_path / "pooled")
    r2 = import_paths(pooled, [str(src)])
    assert (r1.rows, r1.quarantined) == (r2.rows, r2.quarantined) == (3000, 1)
    cols = ["id", "hash", "n_tokens", "language", "line", "extra"]
    a = [r for b in inline.iter_rows(columns=cols) for r in b]
    b = [r for b in pooled.iter_rows(columns=cols) for r in b]
    assert a == b


def test_kill_minus_9_mid_import_leaves_no_half_file_and_reimport_finishes(tmp_path):
    """SIGKILL an import after some batches were committed: reopening removes them, a re-run completes."""
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "big.jsonl"
    with open(src, "w") as f:
        for i in range(150_000):
            f.write(json.dumps({"instruction": f"Task {i}: summarise item {i}", "output": f"Summary {i} " * 5}) + "\n")
    ws = tmp_path / "ws"
    s = Store(ws)
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"instruction": "kept", "output": "yes"}) + "\n")
    import_paths(s, [str(small)], name="keep")  # an earlier, finished import must survive
    before = s.count()
    s.close()
    env = dict(os.environ, SIFT_IMPORT_BATCH="1000", SIFT_WORKERS="1", SIFT_COMMIT_ROWS="5000")
    # the import reports its rows as it goes; it is killed once two commits (5,000 rows each) are behind it
    code = ("import sys; from core.store import Store; from core.importer import import_paths; "
            "import_paths(Store(sys.argv[1]), [sys.argv[2]], name='big', progress=lambda f, n: print(n, flush=True))")
    p = subprocess.Popen([sys.executable, "-c", code, str(ws), str(src)], env=env, cwd=Path(__file__).parent.parent,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = 0
    deadline = time.time() + 300
    for line in p.stdout:
        seen = int(line)
        if seen >= 10_000 or time.time() > deadline:
            break
    assert p.poll() is None and seen < 150_000, "the import finished before it could be killed: make the file bigger"
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    p.stdout.close()
    s = Store(ws)
    try:
        assert s.count() == before, "a half-imported file is visible after the crash"
        assert [d["dataset"] for d in s.datasets()] == ["keep"]
        assert s.recovered_rows > 0, "the kill landed before any batch was committed"
        res = import_paths(s, [str(src)], name="big")
        assert res.rows == 150_000 and not res.skipped_files
        assert s.count() == before + 150_000
    finally:
        s.close()


def test_reads_from_other_threads_run_during_an_import(tmp_path):
    """Several browser tabs share one Store: counts, facets and text filters keep answering while another
    tab imports (they never wait for the import's write lock)."""
    import threading
    import time

    src = tmp_path / "big.jsonl"
    with open(src, "w") as f:
        for i in range(60_000):
            f.write(json.dumps({"instruction": f"Question {i} about water", "output": f"Answer {i}"}) + "\n")
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"instruction": "water?", "output": "wet"}) + "\n")
    s = Store(tmp_path / "ws")
    import_paths(s, [str(first)], name="first")
    errors, answers = [], []
    done = threading.Event()

    def reader():
        while not done.is_set():
            t = time.time()
            try:
                answers.append((s.count(Filter((), "water")), s.facet("dataset"), time.time() - t))
            except Exception as e:  # noqa: BLE001 - any failure is the test's failure
                errors.append(repr(e))
            time.sleep(0.02)

    th = threading.Thread(target=reader)
    th.start()
    try:
        res = import_paths(s, [str(src)], name="big")
    finally:
        done.set()
        th.join(30)
    assert not errors, errors[:3]
    assert len(answers) >= 5, "reads were blocked during the import"
    assert max(a[2] for a in answers) < 5
    assert res.rows == 60_000 and s.count(Filter((), "water")) == 60_001
