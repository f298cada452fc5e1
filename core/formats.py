"""Detect a record's format and normalise it to a conversation.

A normalised conversation is ``Conv(system, turns, rejected, extra)``:
- ``system``: the system prompt or ``""``;
- ``turns``: list of ``(role, content)`` with role in ROLES;
- ``rejected``: for preference pairs, the rejected reply turns (``None`` otherwise);
- ``extra``: every field of the record that was not used for the conversation.

Pure functions only: no I/O, no SQL. Errors are ``RowError(field, reason)`` in plain English.
"""
from __future__ import annotations

import re

from core.turns import (ROLE_ALIASES, ROLES, Conv, RowError, _check_turns, _content, _parsed_args,  # noqa: F401
                        _role, _text, _tname, _turn_list, canonical_call)

FORMATS = ("alpaca", "sharegpt", "messages", "oasst", "lima", "prompt_completion", "preference", "template")

# prompt/completion aliases, most specific first
PC_PAIRS = (
    ("prompt", "completion"), ("question", "answer"), ("question", "std_answer"), ("question", "response"),
    ("query", "response"), ("query", "answer"), ("input", "target"), ("input", "output"),
    ("prompt", "response"), ("prompt", "output"), ("context", "response"),
)
PC_PROMPT_ONLY = ("prompt", "question", "query", "turns")
HH_SPLIT = re.compile(r"\n\n(Human|Assistant):[ ]?")


def _extra(rec: dict, used) -> dict:
    return {k: v for k, v in rec.items() if k not in used}


# ---------------------------------------------------------------- per-format normalisers

def _alpaca_keys(rec: dict) -> tuple[str, str, str]:
    """(instruction, input, output) keys, including prefixed bilingual variants like en_instruction."""
    if "instruction" in rec:
        out = next((k for k in ("output", "response", "answer", "completion") if k in rec), "output")
        return "instruction", "input", out
    for k in rec:
        if k.endswith("_instruction"):
            pre = k[: -len("instruction")]
            return k, pre + "input", pre + "output"
    return "instruction", "input", "output"


def _history(rec: dict) -> list:
    h = rec.get("history")
    if h is None:
        return []
    if not isinstance(h, list):
        raise RowError("history", f"expected a list of [user, assistant] pairs, got {_tname(h)}")
    turns = []
    for i, pair in enumerate(h):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RowError(f"history[{i}]", "expected a [user, assistant] pair")
        for j, (role, v) in enumerate(zip(("user", "assistant"), pair)):
            if not isinstance(v, str):
                raise RowError(f"history[{i}][{j}]", f"expected text, got {_tname(v)}")
            turns.append((role, v))
    return turns


def norm_alpaca(rec: dict) -> list[Conv]:
    ik, nk, ok = _alpaca_keys(rec)
    instr = _text(rec, ik, allow_empty=True)
    inp = _text(rec, nk, required=False)
    user = instr.strip() and (f"{instr}\n\n{inp}" if inp.strip() else instr) or inp
    if not user.strip():
        raise RowError(ik, "is empty")
    used = {ik, nk, ok, "system", "history"}
    if "instances" in rec and ok not in rec:  # Self-Instruct seed tasks: first instance is the example
        inst = rec["instances"]
        if not isinstance(inst, list) or not inst or not isinstance(inst[0], dict):
            raise RowError("instances", "expected a non-empty list of {input, output}")
        inp = _text(inst[0], "input", required=False, path="instances[0].input")
        user = f"{instr}\n\n{inp}" if inp.strip() else instr
        out = _text(inst[0], "output", required=False, path="instances[0].output")
        extra = _extra(rec, used)
        return [Conv(_text(rec, "system", required=False), _history(rec) + _pair(user, out), None, extra)]
    out = rec.get(ok)
    if isinstance(out, list):  # [chosen, rejected] ranking as in LLaMA-Factory rm files
        return norm_preference(rec)
    out = _text(rec, ok, required=False)
    return [Conv(_text(rec, "system", required=False), _history(rec) + _pair(user, out), None, _extra(rec, used))]


def _pair(user: str, out: str) -> list:
    return [("user", user)] + ([("assistant", out)] if out.strip() else [])


def norm_sharegpt(rec: dict) -> list[Conv]:
    key = "conversations" if "conversations" in rec else "conversation"
    if key not in rec:
        raise RowError("conversations", "required field is missing")
    system, turns = _turn_list(rec[key], key)
    sys_field = _text(rec, "system", required=False)
    if sys_field and system and system != sys_field:  # both a system field and a leading system turn: keep both
        turns.insert(0, ("system", system))
    system = sys_field or system
    _check_turns(turns, key)
    return [Conv(system, turns, None, _extra(rec, {key, "system"}))]


def norm_messages(rec: dict) -> list[Conv]:
    if "messages" not in rec:
        raise RowError("messages", "required field is missing")
    system, turns = _turn_list(rec["messages"], "messages", role_keys=("role", "from"),
                               text_keys=("content", "value", "text"))
    _check_turns(turns, "messages")
    return [Conv(system, turns, None, _extra(rec, {"messages"}))]


def norm_lima(rec: dict) -> list[Conv]:
    conv = rec.get("conversations")
    if not isinstance(conv, list):
        raise RowError("conversations", "expected a list of strings" if conv is not None else "required field is missing")
    turns = []
    for i, t in enumerate(conv):
        if not isinstance(t, str):
            raise RowError(f"conversations[{i}]", f"expected text, got {_tname(t)}")
        if not t.strip():
            raise RowError(f"conversations[{i}]", "turn content is empty")
        turns.append(("user" if i % 2 == 0 else "assistant", t))
    _check_turns(turns, "conversations")
    return [Conv("", turns, None, _extra(rec, {"conversations"}))]


def norm_prompt_completion(rec: dict) -> list[Conv]:
    for pk, ck in PC_PAIRS:
        if pk in rec and ck in rec:
            break
    else:
        pk = next((k for k in PC_PROMPT_ONLY if k in rec), None)
        ck = None
        if pk is None:
            raise RowError("prompt", "required field is missing (no prompt/question/query/input field)")
    if pk == "turns" or isinstance(rec.get(pk), list):  # MT-Bench style: a list of user turns
        ts = rec[pk]
        if not isinstance(ts, list) or not ts:
            raise RowError(pk, "expected a non-empty list of user turns")
        turns = []
        for i, t in enumerate(ts):
            if not isinstance(t, str) or not t.strip():
                raise RowError(f"{pk}[{i}]", "turn content is empty" if isinstance(t, str) else f"expected text, got {_tname(t)}")
            turns.append(("user", t))
        return [Conv(_text(rec, "system", required=False), turns, None, _extra(rec, {pk, "system"}))]
    prompt = _text(rec, pk)
    comp = _text(rec, ck, required=False) if ck else ""
    return [Conv(_text(rec, "system", required=False), _pair(prompt, comp), None, _extra(rec, {pk, ck, "system"}))]


def norm_template(rec: dict) -> list[Conv]:
    ik = next((k for k in ("inputs", "inputs_pretokenized", "source") if k in rec), "inputs")
    tk = next((k for k in ("targets", "targets_pretokenized", "target") if k in rec), "targets")
    prompt = _text(rec, ik)
    target = rec.get(tk)
    if isinstance(target, list):
        target = target[0] if target and isinstance(target[0], str) else None
    if target is not None and not isinstance(target, str):
        raise RowError(tk, f"expected text, got {_tname(target)}")
    return [Conv("", _pair(prompt, target or ""), None, _extra(rec, {ik, tk}))]


def _hh(text: str, path: str) -> list:
    parts = HH_SPLIT.split(text)
    if len(parts) < 3:
        raise RowError(path, "no '\\n\\nHuman:' / '\\n\\nAssistant:' turns found")
    turns = []
    for i, (role, content) in enumerate(zip(parts[1::2], parts[2::2])):
        if not content.strip():  # e.g. a transcript ending in "\n\nAssistant: " with no reply
            raise RowError(f"{path}[{i}]", f"turn content is empty ({role} turn {i + 1} of the transcript)")
        turns.append(("user" if role == "Human" else "assistant", content))
    return turns


def _reply(v, path: str) -> list:
    """A chosen/rejected reply: a string, one message object, or a list of messages."""
    if isinstance(v, str):
        return [("assistant", v)]
    if isinstance(v, dict):
        v = [v]
    system, turns = _turn_list(v, path, role_keys=("role", "from"), text_keys=("content", "value", "text"))
    return turns


def _split_common(a: list, b: list) -> tuple[list, list, list]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n], a[n:], b[n:]


def norm_preference(rec: dict) -> list[Conv]:
    system = ""
    if rec.get("chosen_messages") is not None or rec.get("rejected_messages") is not None:
        s1, c = _turn_list(rec.get("chosen_messages"), "chosen_messages", ("role", "from"), ("content", "value"))
        _, r = _turn_list(rec.get("rejected_messages"), "rejected_messages", ("role", "from"), ("content", "value"))
        prompt, chosen, rejected = _split_common(c, r)
        system, used = s1, {"chosen_messages", "rejected_messages"}
    elif isinstance(rec.get("output"), list) and ("instruction" in rec):  # alpaca ranking
        outs = rec["output"]
        if len(outs) < 2 or not all(isinstance(o, str) for o in outs[:2]):
            raise RowError("output", "expected a [chosen, rejected] pair of texts")
        conv = norm_alpaca({k: v for k, v in rec.items() if k != "output"})[0]
        prompt, chosen, rejected = conv.turns, [("assistant", outs[0])], [("assistant", outs[1])]
        system, used = conv.system, {"instruction", "input", "output", "system", "history"}
    else:
        for k in ("chosen", "rejected"):
            if rec.get(k) is None:
                raise RowError(k, "required field is missing")
        used = {"chosen", "rejected", "system"}
        system = _text(rec, "system", required=False)
        pkey = next((k for k in ("prompt", "conversations", "messages", "instruction", "question")
                     if rec.get(k) is not None), None)
        if pkey is None and isinstance(rec["chosen"], str) and isinstance(rec["rejected"], str):
            c, r = _hh(rec["chosen"], "chosen"), _hh(rec["rejected"], "rejected")  # HH-RLHF transcripts
            prompt, chosen, rejected = _split_common(c, r)
            if not prompt:  # no shared first turn: not a pair of replies to one prompt
                raise RowError("rejected", "chosen and rejected transcripts start with different turns")
        else:
            if pkey is None:
                raise RowError("prompt", "required field is missing")
            used.add(pkey)
            if pkey == "instruction":
                conv = norm_alpaca({k: v for k, v in rec.items() if k not in ("chosen", "rejected")})[0]
                system, prompt = conv.system or system, conv.turns
                used |= {"input", "history"}
            elif isinstance(rec[pkey], str):
                prompt = [("user", rec[pkey])]
            else:
                s, prompt = _turn_list(rec[pkey], pkey)
                system = system or s
            chosen, rejected = _reply(rec["chosen"], "chosen"), _reply(rec["rejected"], "rejected")
            # chosen/rejected given as whole conversations that repeat the prompt
            if chosen[: len(prompt)] == prompt and rejected[: len(prompt)] == prompt and len(chosen) > len(prompt):
                chosen, rejected = chosen[len(prompt):], rejected[len(prompt):]
    turns = prompt + chosen
    _check_turns(turns, "prompt")
    return [Conv(system, turns, rejected, _extra(rec, used))]


def _is_msg_list(v, keys=("role", "from")) -> bool:
    return isinstance(v, list) and bool(v) and isinstance(v[0], dict) and any(k in v[0] for k in keys)


def detect_record(rec) -> str | None:
    """The format of one record, or None when nothing fits."""
    if not isinstance(rec, dict):
        return None
    # a null value is a missing field (Parquet/Arrow rows carry every column of the file, null where absent)
    k = {key for key, v in rec.items() if v is not None}
    if "message_tree_id" in k or ("message_id" in k and ("parent_id" in rec or "replies" in k)):  # root: parent null
        return "oasst"
    if "chosen_messages" in k or ("chosen" in k and "rejected" in k):
        return "preference"
    if "instruction" in k and isinstance(rec.get("output"), list):
        return "preference"
    if "messages" in k:
        return "messages"
    conv = rec.get("conversations", rec.get("conversation"))
    if isinstance(conv, list):
        if conv and all(isinstance(t, str) for t in conv):
            return "lima"
        return "sharegpt"
    if any(x in k for x in ("inputs", "inputs_pretokenized")) and any(
            x in k for x in ("targets", "targets_pretokenized", "task", "task_name", "template_type", "template_name")):
        return "template"
    if "instruction" in k or any(x.endswith("_instruction") for x in k):
        return "alpaca"
    if any(p in k for p in PC_PROMPT_ONLY) or any(p in k and c in k for p, c in PC_PAIRS):
        return "prompt_completion"
    return None


def detect(records) -> str:
    """Majority vote over a sample of records; raises ValueError when no format fits."""
    votes: dict[str, int] = {}
    for r in records:
        f = detect_record(r)
        if f:
            votes[f] = votes.get(f, 0) + 1
    if not votes:
        raise ValueError("could not detect the format: no record has the fields of a known format "
                         f"({', '.join(FORMATS)}); choose one with --format")
    return max(votes, key=votes.get)


PAIR_LAYOUTS = ("alpaca", "sharegpt", "messages")
NORMALISERS = {
    "alpaca": norm_alpaca, "sharegpt": norm_sharegpt, "messages": norm_messages, "lima": norm_lima,
    "prompt_completion": norm_prompt_completion, "preference": norm_preference, "template": norm_template,
}


FORMAT_KEYS = {
    "alpaca": ("instruction",), "sharegpt": ("conversations", "conversation"), "messages": ("messages",),
    "lima": ("conversations",), "prompt_completion": ("prompt", "question", "query", "turns", "completion"),
    "preference": ("chosen", "rejected", "chosen_messages", "rejected_messages"),
    "template": ("inputs", "targets", "inputs_pretokenized"), "oasst": ("message_id", "message_tree_id"),
}


def has_format_keys(rec: dict, fmt: str) -> bool:
    """Whether a record carries any field that marks ``fmt`` (a broken record of that format, rather than a
    record of another format inside the file)."""
    keys = FORMAT_KEYS.get(fmt, ())
    return any(k in rec for k in keys) or (fmt == "alpaca" and any(k.endswith("_instruction") for k in rec))


def normalise(rec, fmt: str) -> list[Conv]:
    """Normalise one record (OASST trees are handled by core.oasst). Raises RowError."""
    if not isinstance(rec, dict):
        raise RowError("(record)", f"expected a JSON object, got {_tname(rec)}")
    if fmt == "oasst":
        from core.oasst import norm_tree
        return norm_tree(rec)
    if fmt not in NORMALISERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    # preference is a flag on the Alpaca/ShareGPT/messages layouts (as in LLaMA-Factory): one file can hold
    # both kinds of record, e.g. an export of SFT rows and preference pairs together
    paired = rec.get("chosen") is not None or rec.get("chosen_messages") is not None
    if fmt in PAIR_LAYOUTS and paired and detect_record(rec) == "preference":
        fmt = "preference"
    elif fmt == "preference" and not paired and not isinstance(rec.get("output"), list):
        own = detect_record(rec)
        fmt = own if own in PAIR_LAYOUTS else fmt
    return NORMALISERS[fmt](rec)
