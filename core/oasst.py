"""OpenAssistant message trees -> one conversation per root-to-leaf path (pure functions)."""
from __future__ import annotations

from core.formats import Conv, RowError, _role, _tname

TREE_KEEP = ("message_tree_id", "tree_state")


def _paths(root: dict, path: str):
    """Yield lists of message dicts, one per root-to-leaf path (iterative, no recursion limit)."""
    stack = [(root, [root], path)]
    while stack:
        node, trail, p = stack.pop()
        replies = node.get("replies") or []
        if not isinstance(replies, list):
            raise RowError(f"{p}.replies", f"expected a list, got {_tname(replies)}")
        if not replies:
            yield trail
            continue
        for i in range(len(replies) - 1, -1, -1):
            child = replies[i]
            if not isinstance(child, dict):
                raise RowError(f"{p}.replies[{i}]", f"expected a message object, got {_tname(child)}")
            stack.append((child, trail + [child], f"{p}.replies[{i}]"))


def path_conv(trail: list, tree_id, base_extra: dict) -> Conv:
    turns = []
    for i, m in enumerate(trail):
        text = m.get("text")
        if not isinstance(text, str):
            raise RowError(f"message {m.get('message_id', i)}.text",
                           "required field is missing" if text is None else f"expected text, got {_tname(text)}")
        if not text.strip():
            raise RowError(f"message {m.get('message_id', i)}.text", "turn content is empty")
        turns.append((_role(m.get("role"), f"message {m.get('message_id', i)}.role"), text))
    if not turns or turns[0][0] != "user":
        raise RowError("role", "an OASST tree must start with a prompter message")
    leaf = trail[-1]
    extra = dict(base_extra)
    extra.update({
        "message_tree_id": tree_id,
        "leaf_message_id": leaf.get("message_id"),
        "path_message_ids": [m.get("message_id") for m in trail],
        "leaf_rank": leaf.get("rank"),
        "lang": trail[0].get("lang"),
        "path_deleted": any(bool(m.get("deleted")) for m in trail),
        "path_synthetic": any(bool(m.get("synthetic")) for m in trail),
        "path_review_ok": all(m.get("review_result") is not False for m in trail),
    })
    return Conv("", turns, None, extra)


def norm_tree(rec: dict) -> list[Conv]:
    """A nested tree record: an export row ``{message_tree_id, prompt: {...}}`` or a root message with replies."""
    if "prompt" in rec and isinstance(rec["prompt"], dict):
        root, path = rec["prompt"], "prompt"
        base = {k: rec[k] for k in rec if k != "prompt"}
    elif "replies" in rec or rec.get("parent_id") is None:
        root, path, base = rec, "(root)", {}
    else:
        raise RowError("parent_id", "a flat OASST message cannot be read on its own; import the whole file")
    tree_id = rec.get("message_tree_id") or root.get("message_tree_id") or root.get("message_id")
    return [path_conv(trail, tree_id, base) for trail in _paths(root, path)]


def is_flat(rec) -> bool:
    return isinstance(rec, dict) and "message_id" in rec and "replies" not in rec and "prompt" not in rec


def assemble_flat(items: list):
    """items: list of (line, raw, rec) of flat messages. Yields (line, raw, Conv | RowError)
    for each root-to-leaf path; the line/raw are the leaf message's."""
    by_id, children, order = {}, {}, []
    for line, raw, rec in items:
        mid = rec.get("message_id")
        by_id[mid] = (line, raw, rec)
        children.setdefault(rec.get("parent_id"), []).append(mid)
        order.append(mid)
    for line, raw, rec in items:
        pid = rec.get("parent_id")
        if pid is not None and pid not in by_id:
            yield line, raw, RowError("parent_id", f"parent message {pid!r} is not in the file")
    roots = [m for m in order if by_id[m][2].get("parent_id") is None]
    for rid in roots:
        stack = [[rid]]
        while stack:
            trail = stack.pop()
            kids = children.get(trail[-1], [])
            if kids:
                stack.extend(trail + [k] for k in reversed(kids))
                continue
            line, raw, leaf = by_id[trail[-1]]
            try:
                tree_id = by_id[rid][2].get("message_tree_id") or rid
                yield line, raw, path_conv([by_id[m][2] for m in trail], tree_id, {})
            except RowError as e:
                yield line, raw, e
