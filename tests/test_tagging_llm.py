"""LLM tagging against the Store, through a real local OpenAI-compatible server (tests/fake_llm.py):
caching (a second run sends zero requests), failed replies kept and retried, the concurrency bound, and a
tagging subprocess killed with SIGKILL that resumes with no row lost and none tagged twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from core import tagging
from core.importer import import_paths
from core.llm import LLMConfig
from core.store import Store
from tests.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["python sorting", "poem ocean", "french translation", "sql joins", "budget travel", "chess opening"]


def _workspace(tmp_path, n: int, extra: dict | None = None) -> Path:
    f = tmp_path / "d.jsonl"
    recs = [{"instruction": f"Explain {TOPICS[i % len(TOPICS)]} variant{i}", "input": "", "output": "ok"}
            for i in range(n)]
    recs += [{"instruction": f"Explain {TOPICS[0]} variant0", "input": "", "output": "ok"}]  # a duplicate sample
    for i, text in (extra or {}).items():
        recs[i]["instruction"] = text
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    ws = tmp_path / "ws"
    s = Store(ws)
    import_paths(s, [str(f)])
    s.close()
    return ws


def _cfg(srv, **kw) -> LLMConfig:
    return LLMConfig(srv.base_url, "fake-model", timeout=2.0, backoff_base=0.01, backoff_cap=0.05, **kw)


def test_cache_failures_retry_and_concurrency_bound(tmp_path):
    ws = _workspace(tmp_path, 40, extra={3: "Explain FAULT:garbage*1 things", 5: "Explain FAULT:500*2 things"})
    s = Store(ws)
    with FakeLLM(latency=0.05) as srv:
        res = tagging.tag_llm(s, _cfg(srv), concurrency=4)
        assert srv.max_in_flight <= 4 and srv.max_in_flight > 1
        assert res["rows_ok"] == 39 and res["rows_failed"] == 1  # 41 rows, 40 samples; one unparseable reply
        assert srv.requests == 40 + 2  # the 500s were retried within the run
        fails = s.tag_failures("llm:fake-model", "instag-v1")
        assert len(fails) == 1 and fails["raw"].iloc[0]  # the raw reply is kept
        rows = s.rows(columns=["id", "instruction", "tags"], limit=100)
        first = rows.set_index("id")["tags"]
        assert list(first[1]) == sorted(["explain", "python", "sorting", "variant0"])
        assert list(first[41]) == list(first[1])  # the duplicate sample shares the result
        assert not hasattr(first[4], "__len__")  # the failed row is not tagged (NULL), never with garbage
        before = srv.requests  # (counters are not reset: a FAULT directive counts the requests it has seen)
        res2 = tagging.tag_llm(s, _cfg(srv), concurrency=4)
        assert srv.requests == before + 1 and res2["rows_ok"] == 1  # only the failed row is asked again
        tagging.tag_llm(s, _cfg(srv), concurrency=4)
        assert srv.requests == before + 1  # everything cached: no request at all
    st = tagging.stats(s)
    assert st["rows_tagged"] == 41 and st["complexity"] > 2
    src = s.tag_sources()
    assert int(src["done"].iloc[0]) == 40 and int(src["prompt_tokens"].iloc[0]) > 0
    s.close()


def test_row_and_token_caps(tmp_path):
    ws = _workspace(tmp_path, 30)
    s = Store(ws)
    with FakeLLM(latency=0.01) as srv:
        res = tagging.tag_llm(s, _cfg(srv), concurrency=2, limit=7)
        assert res["rows_ok"] == 7 and srv.requests == 7
        assert s.tag_pending("llm:fake-model", "instag-v1")[0] == 23
    s.close()


def test_killed_tagging_subprocess_resumes_without_loss_or_repeats(tmp_path):
    n = 160
    ws = _workspace(tmp_path, n)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "core", "tag", "--workspace", str(ws), "--method", "llm", "--model", "fake-model",
           "--concurrency", "4", "--json"]
    with FakeLLM(latency=0.05) as srv:
        p = subprocess.Popen(cmd + ["--base-url", srv.base_url], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.time()
        while srv.requests < 60 and time.time() - t0 < 60 and p.poll() is None:
            time.sleep(0.02)
        assert p.poll() is None, p.stderr.read().decode()
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        first = dict(srv.per_query)
        r = subprocess.run(cmd + ["--base-url", srv.base_url], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        asked_twice = [q for q, c in srv.per_query.items() if c > 1]
    assert len(first) >= 50
    assert len(asked_twice) <= 4  # at most the requests in flight at the kill are asked again
    assert len(srv.per_query) == n  # every sample asked, none missed
    s = Store(ws)
    done = s._q("SELECT hash, count(*) FROM tag_done GROUP BY hash HAVING count(*) > 1")
    assert done == []  # no sample recorded twice
    assert s.count() == n + 1 and tagging.stats(s)["rows_tagged"] == n + 1  # every row's tags on the rows table
    s.close()
