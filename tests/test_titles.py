"""Optional LLM cluster titles: reply parsing, and titles becoming cluster names (hand-given names kept)."""
from __future__ import annotations

import json

import pytest

from core.importer import import_paths
from core.llm import LLMError, Reply
from core.store import Store
from core.titles import build_messages, parse_title, suggest_titles


@pytest.mark.parametrize("reply,want", [
    ('{"title": "Python sorting tasks"}', "Python sorting tasks"),
    ('```json\n{"title": "Poems about the sea"}\n```', "Poems about the sea"),
    ('Sure! Here it is: {"title": "Travel budgets"} Hope it helps.', "Travel budgets"),
    ("Title: Chess openings", "Chess openings"),
    ('"French translation"', "French translation"),
    ('{"tags": ["a", "b"]}', None),
    ("", None),
    ("Line one\nLine two\nLine three", None),
    ('{"title": "' + "x" * 200 + '"}', "x" * 60),
])
def test_parse_title(reply, want):
    assert parse_title(reply) == want


class _Client:
    """A stand-in client: titles from the first keyword; one cluster's request fails."""

    def __init__(self):
        self.calls = []

    def chat(self, messages, max_tokens=64, **kw):
        user = messages[-1]["content"]
        self.calls.append(user)
        if "fail" in user:
            raise LLMError("HTTP 500 from the server")
        kw1 = user.split("Keywords: ")[1].split(",")[0].split("\n")[0]
        return Reply(json.dumps({"title": f"All about {kw1}"}), 50, 8, 1)


def test_titles_become_names_and_hand_names_stay(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps({"instruction": f"request {i} <b>x</b>", "output": "ok"}) for i in range(6)))
    s = Store(tmp_path / "ws")
    import_paths(s, [str(f)])
    s.set_clusters([
        {"cluster": 0, "label": "sea / poem", "size": 2, "keywords": ["sea", "poem"], "reps": [1, 2]},
        {"cluster": 1, "label": "python", "size": 2, "keywords": ["python"], "reps": [3], "name": "Mine"},
        {"cluster": 2, "label": "fail", "size": 1, "keywords": ["fail"], "reps": [5]},
        {"cluster": -1, "label": "noise", "size": 1, "keywords": [], "reps": [6]},
    ])
    client = _Client()
    res = suggest_titles(s, client)
    assert res["titles"] == {0: "All about sea"} and res["failed"] == 1 and res["skipped"] == 1
    names = {c["cluster"]: c["title"] for c in s.clusters()}
    assert names == {0: "All about sea", 1: "Mine", 2: "fail", -1: "noise"}
    assert any("request 1 <b>x</b>" in c for c in client.calls)  # representatives reach the prompt as text
    assert len(client.calls) == 2  # noise and the hand-named cluster were not sent
    res = suggest_titles(s, client, overwrite=True)
    assert res["titles"][1] == "All about python"
    msgs = build_messages(["a"], ["b" * 1000])
    assert len(msgs[1]["content"]) < 400
