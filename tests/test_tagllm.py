"""LLM tagging: the client (retries, Retry-After, JSON-mode fallback, key handling), parse_tags on hand-written
replies, and run_tagging (concurrency bound, caps, cancel) against the real local fake server."""
import itertools
import json
import threading
import time

import pytest

from core.llm import LLMClient, LLMConfig, LLMError, endpoint, parse_retry_after
from core.tagllm import (
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TURN_CHARS,
    MAX_TURNS,
    PROMPT_VERSION,
    TagParseError,
    build_messages,
    parse_tags,
    run_tagging,
)
from tests.fake_llm import FakeLLM, tags_for

KEY_ENV = "SIFT_TEST_LLM_KEY"


@pytest.fixture
def srv():
    with FakeLLM(latency=0.0) as s:
        yield s


def make_client(srv, **kw) -> LLMClient:
    cfg = {"base_url": srv.base_url, "model": "fake", "api_key_env": KEY_ENV, "timeout": 2.0, "max_retries": 3,
           "backoff_base": 0.01, "backoff_cap": 0.05}
    return LLMClient(LLMConfig(**(cfg | kw)))


def tag_names(tags):
    return [t["tag"] for t in tags]


# ------------------------------------------------------------------------------------------- parse_tags

OBJ = [{"tag": "python", "explanation": "code"}, {"tag": "sorting", "explanation": "sort a list"}]
WANT = ["python", "sorting"]


@pytest.mark.parametrize("reply", [
    json.dumps(OBJ),
    json.dumps({"tags": OBJ}),
    "```json\n" + json.dumps({"tags": OBJ}, indent=2) + "\n```",
    "Sure, here you go:\n" + json.dumps(OBJ) + "\nHope this helps! [end]",
    "Notes [1]: the tags are {\"tags\": " + json.dumps(OBJ) + "} as requested.",
    json.dumps({"Tags": OBJ, "comment": "x"}),
    json.dumps(["python", "sorting"]),
    json.dumps({"result": OBJ}),
])
def test_parse_shapes(reply):
    assert tag_names(parse_tags(reply)) == WANT


def test_parse_single_object_and_explanations():
    assert parse_tags('{"tag": "poem writing", "explanation": "asks for a poem"}') == [
        {"tag": "poem writing", "explanation": "asks for a poem"}]
    assert parse_tags('[{"tag": "x"}]') == [{"tag": "x", "explanation": ""}]


def test_parse_truncated_salvages_complete_objects():
    full = json.dumps([{"tag": f"t{i}", "explanation": "e" * 10} for i in range(4)])
    cut = full[: full.index('"t3"') + 2]
    assert tag_names(parse_tags(cut)) == ["t0", "t1", "t2"]
    wrapped = json.dumps({"tags": [{"tag": "a", "explanation": "x"}, {"tag": "b", "explanation": "y"}]})
    assert tag_names(parse_tags("```json\n" + wrapped[:-12])) == ["a"]
    assert tag_names(parse_tags('[{"tag": "a"}, {"tag": "b"},')) == ["a", "b"]


def test_parse_cleans_values():
    reply = json.dumps([
        {"tag": 42, "explanation": 7}, {"tag": None}, {"tag": "  "}, {"tag": {"x": 1}}, {"tag": True},
        {"tag": ["l"]}, {"explanation": "no tag"}, 3, None,
        {"tag": "  Data \n  Analysis "}, {"tag": "data analysis", "explanation": "dup"}, {"tag": "x" * 200},
    ])
    tags = parse_tags(reply)
    assert tag_names(tags) == ["42", "Data Analysis", "x" * MAX_TAG_CHARS]
    assert tags[0]["explanation"] == "7"
    many = json.dumps([{"tag": f"tag {i}"} for i in range(50)])
    assert len(parse_tags(many)) == MAX_TAGS


@pytest.mark.parametrize("reply", [
    "", "   ", None, "I'm sorry, I cannot label this request.", "{}", '{"tags": []}', "[]", "[1, 2, 3]",
    '{"error": "overloaded"}', '[{"tag": null}, {"tag": ""}]', '{"tags": [{"ta', "Tags: [python, sorting]",
])
def test_parse_nothing_usable_raises(reply):
    with pytest.raises(TagParseError):
        parse_tags(reply)


# ------------------------------------------------------------------------------------------- prompt

def test_build_messages_single_and_multi_turn():
    msgs = build_messages(["Écris un poème sur la mer"])
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "English" in msgs[0]["content"] and '{"tags"' in msgs[0]["content"]
    assert "Écris un poème sur la mer" in msgs[1]["content"] and "Turn" not in msgs[1]["content"]
    multi = build_messages(["first question", "", "second question"])[1]["content"]
    assert "2 user turns" in multi
    assert multi.index("Turn 1:\nfirst question") < multi.index("Turn 2:\nsecond question")
    assert PROMPT_VERSION == "instag-v1"
    with pytest.raises(ValueError):
        build_messages(["", "  "])


def test_build_messages_caps_long_and_many_turns():
    long = "HEAD " + "word " * 5000 + " TAIL"
    body = build_messages([long])[1]["content"]
    assert len(body) < MAX_TURN_CHARS + 100
    assert "HEAD" in body and "TAIL" in body and "characters cut" in body
    many = build_messages([f"question {i} " + "x" * 1000 for i in range(MAX_TURNS + 5)])[1]["content"]
    assert f"Turn {MAX_TURNS}:" in many and f"Turn {MAX_TURNS + 1}:" not in many
    assert "5 more user turns not shown" in many and len(many) < 20000


# ------------------------------------------------------------------------------------------- client

def test_key_sent_as_bearer_from_env_and_never_shown(srv, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-secret-123")
    with make_client(srv) as c:
        reply = c.chat(build_messages(["Sort a list in Python"]))
        assert srv.auth[-1] == "Bearer sk-secret-123"
        assert tag_names(parse_tags(reply.text)) == ["sort", "list", "python"]
        assert reply.attempts == 1 and not reply.estimated and reply.prompt_tokens > 100
        assert "sk-secret" not in repr(c) + repr(c.cfg) + str(vars(c.cfg))
    monkeypatch.delenv(KEY_ENV)
    with make_client(srv) as c:
        c.chat(build_messages(["no key here"]))
    assert srv.auth[-1] is None


def test_wrong_key_is_fatal_and_scrubbed(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-456")
    with FakeLLM(api_key="sk-right") as s, make_client(s) as c, pytest.raises(LLMError) as ei:
        c.chat(build_messages(["hello there"]))
    assert ei.value.status == 401 and ei.value.fatal and s.requests == 1
    assert "401" in str(ei.value) and "sk-wrong-456" not in str(ei.value) and "***" in str(ei.value)


def test_429_honours_retry_after(srv):
    srv.retry_after = "1"
    with make_client(srv) as c:
        t0 = time.perf_counter()
        reply = c.chat(build_messages(["rate limited FAULT:429"]))
        elapsed = time.perf_counter() - t0
    assert reply.attempts == 2 and srv.count("rate limited") == 2
    assert 1.0 <= elapsed < 2.0


def test_retry_after_over_cap_fails_at_once(srv):
    srv.retry_after = "3600"
    with make_client(srv, retry_after_cap=5) as c, pytest.raises(LLMError, match="3600"):
        c.chat(build_messages(["daily quota FAULT:429"]))
    assert srv.count("daily quota") == 1


def test_parse_retry_after_forms():
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


@pytest.mark.parametrize("fault,attempts", [("500*2", 3), ("503", 2), ("drop", 2), ("429", 2)])
def test_retries_transient_faults(srv, fault, attempts):
    srv.retry_after = None
    with make_client(srv) as c:
        reply = c.chat(build_messages([f"transient {fault} FAULT:{fault}"]))
    assert reply.attempts == attempts and srv.count(f"transient {fault}") == attempts
    assert tag_names(parse_tags(reply.text))[:1] == ["transient"]


def test_timeout_is_retried(srv):
    srv.hang = 2.0
    with make_client(srv, timeout=0.3) as c:
        t0 = time.perf_counter()
        reply = c.chat(build_messages(["slow answer FAULT:timeout"]))
    assert reply.attempts == 2 and 0.3 <= time.perf_counter() - t0 < 1.5


def test_gives_up_after_max_retries_and_400_is_not_retried(srv):
    with make_client(srv, max_retries=2) as c:
        with pytest.raises(LLMError, match="gave up after 3 attempts") as ei:
            c.chat(build_messages(["always down FAULT:500*9"]))
        assert ei.value.status == 500 and not ei.value.fatal and srv.count("always down") == 3
        with pytest.raises(LLMError, match="HTTP 400") as ei:
            c.chat(build_messages(["bad request FAULT:400"]))
        assert srv.count("bad request") == 1 and not ei.value.fatal


def test_json_mode_auto_falls_back_and_remembers():
    with FakeLLM(json_mode=False) as s, make_client(s) as c:
        assert c.json_supported is None
        r1 = c.chat(build_messages(["first json query"]))
        assert r1.attempts == 2 and c.json_supported is False
        assert "response_format" in s.bodies[0] and "response_format" not in s.bodies[1]
        assert tag_names(parse_tags(r1.text)) == ["first", "json", "query"]
        assert c.chat(build_messages(["second one"])).attempts == 1 and s.requests == 3
    with FakeLLM(json_mode=False) as s, make_client(s, json_mode="on") as c, \
            pytest.raises(LLMError, match="response_format"):
        c.chat(build_messages(["strict json"]))
    with FakeLLM() as s, make_client(s, json_mode="off") as c:
        c.chat(build_messages(["no json please"]))
        assert "response_format" not in s.bodies[-1] and s.bodies[-1]["temperature"] == 0


def test_base_url_forms_and_estimated_usage(srv):
    root = srv.base_url.removesuffix("/v1")
    assert endpoint(srv.base_url + "/") == endpoint(srv.base_url + "/chat/completions")
    with make_client(srv, base_url=root) as c:
        assert c.chat(build_messages(["without v1"])).attempts == 2
        assert c.chat(build_messages(["again without"])).attempts == 1
        reply = c.chat(build_messages(["no usage FAULT:nousage"]))
    assert reply.estimated and reply.prompt_tokens > 100 and reply.completion_tokens > 5
    with pytest.raises(ValueError):
        LLMConfig(srv.base_url, "m", json_mode="maybe")


# ------------------------------------------------------------------------------------------- runner

def collect():
    rows, threads = {}, set()

    def on_result(key, status, tags, raw, meta):
        threads.add(threading.get_ident())
        rows[key] = (status, tags, raw, meta)
    return rows, threads, on_result


def test_run_records_each_reply_shape(srv):
    items = [("plain", ["sort numbers in python"]), ("fence", ["poem about autumn FAULT:fence"]),
             ("prose", ["summarize this article FAULT:prose"]), ("trunc", ["translate french text FAULT:truncate"]),
             ("empty", ["empty answer FAULT:empty"]), ("garbage", ["refused answer FAULT:garbage"]),
             ("down", ["server down FAULT:500*9"]), ("multi", ["first question about cooking", "now baking"])]
    rows, threads, on_result = collect()
    with make_client(srv, max_retries=1) as c:
        s = run_tagging(items, c, concurrency=3, on_result=on_result)
    assert threads == {threading.get_ident()}
    assert {k: v[0] for k, v in rows.items()} == {
        "plain": "ok", "fence": "ok", "prose": "ok", "trunc": "ok", "multi": "ok",
        "empty": "failed", "garbage": "failed", "down": "failed"}
    assert tag_names(rows["plain"][1]) == ["sort", "numbers", "python"]
    assert tag_names(rows["fence"][1]) == ["poem", "autumn"]
    assert tag_names(rows["trunc"][1]) == ["translate"]
    assert tag_names(rows["multi"][1]) == tag_names(tags_for(build_messages(items[-1][1])[1]["content"]))
    assert rows["garbage"][2].startswith("I'm sorry") and "no JSON" in rows["garbage"][3]["error"]
    assert rows["down"][2].startswith("error: HTTP 500") and rows["down"][3]["attempts"] == 2
    assert (s.rows_ok, s.rows_failed, s.stopped_reason, s.rows_abandoned) == (5, 3, "done", 0)
    assert s.prompt_tokens == sum(v[3]["prompt_tokens"] for v in rows.values()) > 0


def test_concurrency_bound_and_lazy_window(srv):
    srv.latency = 0.03
    pulled, seen = [], []

    def gen():
        for i in range(60):
            pulled.append(i)
            yield i, [f"question number {i} about gardening"]

    def on_result(key, *rest):
        seen.append(key)
        assert len(pulled) - len(seen) <= 4 + 1      # the window (4 in flight) plus one item looked ahead
    progress = []
    with make_client(srv) as c:
        s = run_tagging(gen(), c, concurrency=4, on_result=on_result,
                        progress=lambda *a: progress.append(a))
    assert s.rows_ok == 60 and sorted(seen) == list(range(60))
    assert 1 < srv.max_in_flight <= 4
    assert progress[0][:3] == ("tag", 0, None) and progress[-1][0] == "done" and progress[-1][1] == 60
    assert {"rows_per_s", "eta_s", "tokens", "cost", "rows_failed", "in_flight"} <= set(progress[-1][3])


def test_max_rows_and_progress_total(srv):
    rows, _, on_result = collect()
    items = [(i, [f"row {i} about chess"]) for i in range(20)]
    progress = []
    with make_client(srv, price_in_per_mtok=1.0, price_out_per_mtok=2.0) as c:
        s = run_tagging(items, c, concurrency=3, max_rows=7, on_result=on_result,
                        progress=lambda *a: progress.append(a))
        assert s.stopped_reason == "max_rows" and len(rows) == 7 and srv.requests == 7
        assert progress[-1][2] == 7
        assert s.cost == pytest.approx((s.prompt_tokens + 2 * s.completion_tokens) / 1e6) and s.cost > 0
        s2 = run_tagging(items[:5], c, max_rows=5, on_result=on_result)
        assert s2.stopped_reason == "done"


def test_max_tokens_cap(srv):
    rows, _, on_result = collect()
    items = [(i, [f"row {i} about tennis"]) for i in range(50)]
    with make_client(srv) as c:
        s = run_tagging(items, c, concurrency=4, max_tokens=3000, on_result=on_result)
    per_row = s.tokens / len(rows)
    assert s.stopped_reason == "max_tokens" and 3000 <= s.tokens <= 3000 + 4 * per_row
    assert len(rows) < 50 and srv.requests == len(rows)


def test_cancel_stops_quickly(srv):
    srv.latency = 0.01
    cancel = threading.Event()
    rows, _, on_result = collect()

    def on_result_cancelling(key, *rest):
        on_result(key, *rest)
        if len(rows) == 10:
            cancel.set()
    items = ((i, [f"endless row {i}"]) for i in itertools.count())
    with make_client(srv) as c:
        s = run_tagging(items, c, concurrency=4, cancel=cancel, on_result=on_result_cancelling)
    assert s.stopped_reason == "cancelled" and 10 <= len(rows) <= 14 and srv.requests == len(rows)


def test_cancel_abandons_rows_waiting_to_retry(srv):
    srv.retry_after = "5"
    cancel = threading.Event()
    rows, _, on_result = collect()
    threading.Timer(0.3, cancel.set).start()
    with make_client(srv) as c:
        t0 = time.perf_counter()
        s = run_tagging([("a", ["quick row"]), ("b", ["stuck row FAULT:429"])], c, concurrency=2,
                        cancel=cancel, on_result=on_result)
    assert time.perf_counter() - t0 < 2.0
    assert list(rows) == ["a"] and s.rows_abandoned == 1 and s.stopped_reason == "done"


def test_fatal_error_stops_the_run(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-bad")
    rows, _, on_result = collect()
    with FakeLLM(api_key="sk-good") as s, make_client(s) as c:
        summary = run_tagging([(i, [f"row {i}"]) for i in range(100)], c, concurrency=4, on_result=on_result)
        assert s.requests <= 4
    assert summary.stopped_reason == "error" and "401" in summary.error and "sk-bad" not in summary.error
    assert rows == {} and summary.rows_abandoned == s.requests


def test_empty_row_fails_alone_and_on_result_errors_propagate(srv):
    rows, _, on_result = collect()
    with make_client(srv) as c:
        s = run_tagging([("blank", ["", "  "]), ("fine", ["bake sourdough bread"])], c, on_result=on_result)
        assert rows["blank"][0] == "failed" and "non-empty" in rows["blank"][2] and rows["fine"][0] == "ok"
        assert (s.rows_ok, s.rows_failed, srv.requests) == (1, 1, 1)

        def broken(*args):
            raise RuntimeError("database is locked")
        with pytest.raises(RuntimeError, match="database is locked"):
            run_tagging([(i, [f"row {i}"]) for i in range(50)], c, concurrency=2, on_result=broken)
    assert srv.requests <= 1 + 2 + 1
