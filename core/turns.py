"""Turns: the Row's conversation pieces shared by every format (roles, message lists, tool calls) and the
errors a record can raise. Pure functions; re-exported by core.formats."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant", "tool", "function_call")

ROLE_ALIASES = {
    "human": "user", "user": "user", "prompter": "user", "question": "user",
    "gpt": "assistant", "assistant": "assistant", "bot": "assistant", "model": "assistant",
    "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "answer": "assistant",
    "system": "system",
    "tool": "tool", "observation": "tool", "function": "tool", "function_response": "tool", "ipython": "tool",
    "function_call": "function_call",
}

class RowError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self):  # picklable, so errors cross worker-process boundaries
        return (RowError, (self.field, self.reason))


@dataclass
class Conv:
    system: str
    turns: list
    rejected: list | None = None
    extra: dict = field(default_factory=dict)


def _tname(v) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _text(rec: dict, key: str, *, required=True, allow_empty=False, path=None) -> str:
    path = path or key
    if key not in rec or rec[key] is None:
        if required:
            raise RowError(path, "required field is missing")
        return ""
    v = rec[key]
    if not isinstance(v, str):
        raise RowError(path, f"expected text, got {_tname(v)}")
    if required and not allow_empty and not v.strip():
        raise RowError(path, "is empty")
    return v


def _role(raw, path: str) -> str:
    if raw is None or raw == "":
        raise RowError(path, "turn has no role")
    if not isinstance(raw, str):
        raise RowError(path, f"role must be text, got {_tname(raw)}")
    role = ROLE_ALIASES.get(raw.strip().lower())
    if role is None:
        raise RowError(path, f"unknown role {raw!r}")
    return role


def _parsed_args(call):
    """A call object with JSON-text ``arguments`` parsed, as OpenAI ``tool_calls`` carry them."""
    if isinstance(call, dict) and isinstance(call.get("arguments"), str):
        try:
            return {**call, "arguments": json.loads(call["arguments"])}
        except ValueError:
            pass
    return call


def canonical_call(value) -> str:
    """Canonical text of a tool/function call, so every format maps to the same content
    (arguments given as JSON text are parsed, whichever format the call came from)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    value = [_parsed_args(c) for c in value] if isinstance(value, list) else _parsed_args(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _content(v, path: str) -> str:
    """Message content: a string, or a list of typed parts (OpenAI / LLaMA-Factory v1)."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        out = []
        for i, p in enumerate(v):
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, dict):
                t = p.get("text", p.get("value", p.get("content")))
                if isinstance(t, str):
                    out.append(t)
                elif p.get("type") in ("image", "image_url", "input_image", "audio", "video"):
                    out.append(f"<{p.get('type')}>")
                else:
                    raise RowError(f"{path}[{i}]", "content part has no text")
            else:
                raise RowError(f"{path}[{i}]", f"expected text or object, got {_tname(p)}")
        return "".join(out)
    raise RowError(path, f"expected text, got {_tname(v)}")


def _turn_list(msgs, path: str, role_keys=("from", "role"), text_keys=("value", "content", "text")) -> tuple[str, list]:
    """Parse a list of message objects into (system, turns)."""
    if not isinstance(msgs, list):
        raise RowError(path, f"expected a list of turns, got {_tname(msgs)}")
    system, turns = "", []
    for i, m in enumerate(msgs):
        p = f"{path}[{i}]"
        if not isinstance(m, dict):
            raise RowError(p, f"turn must be an object, got {_tname(m)}")
        rk = next((k for k in role_keys if k in m), None)
        role = _role(m.get(rk) if rk else None, f"{p}.{rk or role_keys[0]}")
        call = None
        if m.get("tool_calls"):
            if not isinstance(m["tool_calls"], list):
                raise RowError(f"{p}.tool_calls", f"expected a list, got {_tname(m['tool_calls'])}")
            call = canonical_call([c.get("function", c) if isinstance(c, dict) else c for c in m["tool_calls"]])
        elif m.get("function_call") and role == "assistant":
            call = canonical_call(m["function_call"])
        if call is not None:
            # text said alongside the call ("Let me look that up.") is a turn of its own, not dropped
            tk = next((k for k in text_keys if isinstance(m.get(k), (str, list)) and m.get(k)), None)
            said = _content(m[tk], f"{p}.{tk}") if tk else ""
            if said.strip():
                turns.append(("assistant", said))
            turns.append(("function_call", call))
            continue
        tk = next((k for k in text_keys if k in m), None)
        if tk is None or m[tk] is None:
            raise RowError(f"{p}.{text_keys[0]}", "turn has no content")
        content = _content(m[tk], f"{p}.{tk}")
        if role == "function_call":
            content = canonical_call(content)
        if not content.strip():
            raise RowError(f"{p}.{tk}", "turn content is empty")
        if role == "system" and not turns and not system:
            system = content
        else:
            turns.append((role, content))
    return system, turns


def _check_turns(turns: list, path: str):
    if not turns:
        raise RowError(path, "conversation has no turns")
    if not any(r == "user" for r, _ in turns):
        raise RowError(path, "conversation has no user turn")
