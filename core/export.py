"""Export the rows of a Filter as JSONL / Parquet / CSV, verbatim or converted, with a manifest."""
from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from pathlib import Path

import orjson

from core import __version__
from core.filters import Filter
from core.store import Store, StoreError, now

AS = ("original", "alpaca", "sharegpt", "messages")
SUFFIXES = (".jsonl", ".parquet", ".csv")
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation",
                 "function_call": "function_call"}
_NL = re.compile(r"\r?\n[ \t]*")


class NotRepresentable(ValueError):
    pass


def export_path(store: Store, name: str, suffixes=SUFFIXES) -> Path:
    """A safe path inside the workspace's exports/ folder for a user-given file name."""
    if not name or "\x00" in name:
        raise StoreError("export name is empty or contains a NUL byte")
    base = name.replace("\\", "/").split("/")[-1]
    if base != name.replace("\\", "/"):
        raise StoreError(f"export name {name!r} must be a plain file name (it is written to exports/)")
    low = base.lower()
    suf = next((s for s in suffixes if low.endswith(s)), None)
    if suf is None:
        raise StoreError(f"export name must end in {', '.join(suffixes)}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", base[: -len(suf)]).strip("._-")[:100] or "export"
    if stem.split(".")[0].lower() in RESERVED:
        stem = "_" + stem
    folder = (store.workspace / "exports").resolve()
    folder.mkdir(exist_ok=True)
    path = folder / (stem + suf)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise StoreError(f"refusing to overwrite {path.name}: it is a link or not a regular file")
    if path.resolve().parent != folder:
        raise StoreError(f"export name {name!r} escapes the exports folder")
    return path


# ------------------------------------------------------------------ conversions (pure)

def _turns(r) -> list:
    return [(t["role"], t["content"]) for t in (r["turns"] or [])]


def _pairs(turns: list) -> tuple[list, str, str]:
    """Alternating user/assistant turns -> (history pairs, last user, last assistant)."""
    if any(role not in ("user", "assistant") for role, _ in turns):
        raise NotRepresentable("has tool turns, which Alpaca cannot hold")
    history, i = [], 0
    while i < len(turns):
        if turns[i][0] != "user":
            raise NotRepresentable("turns do not alternate user/assistant")
        u = turns[i][1]
        a = turns[i + 1][1] if i + 1 < len(turns) and turns[i + 1][0] == "assistant" else None
        if a is None and i + 1 < len(turns):
            raise NotRepresentable("turns do not alternate user/assistant")
        i += 2
        if i >= len(turns):
            return history, u, a or ""
        history.append([u, a])
    raise NotRepresentable("conversation has no user turn")


def to_alpaca(r: dict) -> dict:
    turns = _turns(r)
    rej = [(t["role"], t["content"]) for t in r["rejected"]] if r.get("rejected") else None
    if rej is not None:
        if len(rej) != 1 or not turns or turns[-1][0] != "assistant":
            raise NotRepresentable("preference pair with multi-turn replies")
        history, u, _ = _pairs(turns[:-1])
        out = {"instruction": u, "input": "", "chosen": turns[-1][1], "rejected": rej[0][1]}
    else:
        history, u, a = _pairs(turns)
        out = {"instruction": u, "input": "", "output": a}
    if r.get("system"):
        out["system"] = r["system"]
    if history:
        out["history"] = history
    return out


def _extra(r) -> dict:
    e = r.get("extra")
    return orjson.loads(e) if isinstance(e, str) and e else (e or {})


def to_sharegpt(r: dict) -> dict:
    conv = [{"from": SHAREGPT_ROLE[role], "value": c} for role, c in _turns(r)]
    out: dict = {}
    if r.get("rejected"):
        rej = [{"from": SHAREGPT_ROLE[t["role"]], "value": t["content"]} for t in r["rejected"]]
        n = len(conv) - 1
        out["conversations"], chosen = conv[:n], conv[n:]
        out["chosen"], out["rejected"] = chosen[0], rej[0] if len(rej) == 1 else rej
    else:
        out["conversations"] = conv
    if r.get("system"):
        out["system"] = r["system"]
    tools = _extra(r).get("tools")
    if tools is not None:
        out["tools"] = tools
    return out


def _message(role: str, content: str) -> dict:
    if role != "function_call":
        return {"role": role, "content": content}
    try:
        call = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise NotRepresentable("function call is not JSON") from None
    calls = call if isinstance(call, list) else [call]
    tcs = []
    for c in calls:
        if not isinstance(c, dict) or "name" not in c:
            raise NotRepresentable("function call has no name")
        args = c.get("arguments", {})
        tcs.append({"type": "function", "function": {
            "name": c["name"], "arguments": args if isinstance(args, str) else orjson.dumps(args).decode()}})
    return {"role": "assistant", "content": "", "tool_calls": tcs}


def to_messages(r: dict) -> dict:
    msgs = ([{"role": "system", "content": r["system"]}] if r.get("system") else [])
    msgs += [_message(role, c) for role, c in _turns(r)]
    out: dict = {}
    if r.get("rejected"):
        rej = [_message(t["role"], t["content"]) for t in r["rejected"]]
        out["messages"], out["chosen"] = msgs[:-1], msgs[-1]
        out["rejected"] = rej[0] if len(rej) == 1 else rej
    else:
        out["messages"] = msgs
    tools = _extra(r).get("tools")
    if tools is not None:
        out["tools"] = tools
    return out


def one_line(raw: str) -> str:
    """A record's original JSON text on one line: only the whitespace after line breaks is removed
    (JSON strings cannot hold raw line breaks), so every token keeps its original bytes."""
    return _NL.sub("", raw) if "\n" in raw else raw


CONVERT = {"alpaca": to_alpaca, "sharegpt": to_sharegpt, "messages": to_messages}


# ------------------------------------------------------------------ writing

def _records(store: Store, flt: Filter, as_: str, dataset: str | None, skipped: list, prov: list):
    cols = ["id", "dataset", "file", "line", "hash", "system", "turns", "rejected", "extra", "raw"]
    for batch in store.iter_rows(flt, dataset, batch=5000, columns=cols):
        for r in batch:
            if as_ == "original":
                rec = one_line(r["raw"])
            else:
                try:
                    rec = CONVERT[as_](r)
                except NotRepresentable as e:
                    skipped.append({"id": r["id"], "reason": str(e)})
                    continue
            prov.append((r["id"], r["dataset"], r["file"], r["line"], r["hash"]))
            yield rec


def _flat(rec: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else orjson.dumps(v).decode())
            for k, v in rec.items()}


def export_rows(store: Store, flt: Filter, out: str, as_: str = "original", dataset: str | None = None,
                progress=None) -> dict:
    """Write the rows of ``flt`` to exports/OUT and OUT.manifest.json; returns the manifest (without writing
    provenance twice into memory for huge exports)."""
    if as_ not in AS:
        raise StoreError(f"--as must be one of {', '.join(AS)}")
    path = export_path(store, out)
    suffix = path.suffix.lower()
    skipped, prov = [], []
    total = store.count(flt, dataset)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        recs = _records(store, flt, as_, dataset, skipped, prov)
        n = 0
        if suffix == ".jsonl":
            with open(tmp, "wb") as f:
                for rec in recs:
                    f.write((rec.encode("utf-8") if isinstance(rec, str) else orjson.dumps(rec)) + b"\n")
                    n += 1
                    if progress and n % 5000 == 0:
                        progress(n, total)
        elif suffix == ".parquet":
            n = _write_parquet(tmp, recs, as_)
        else:
            n = _write_csv(tmp, recs, as_)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    manifest = {
        "tool": "sift", "version": __version__, "created": now(), "path": str(path),
        "file": path.name, "format": suffix.lstrip("."), "as": as_, "dataset": dataset,
        "filter": {"description": flt.describe(), "data": flt.to_dict()},
        "rows": n, "skipped": len(skipped), "skipped_rows": skipped[:1000], "sha256": h.hexdigest(),
    }
    mpath = path.with_name(path.name + ".manifest.json")
    _write_manifest(mpath, manifest, prov)
    manifest["manifest"] = str(mpath)
    return manifest


def _write_manifest(mpath: Path, manifest: dict, prov: list):
    """Stream the manifest so per-row provenance of a million rows does not build one huge string."""
    tmp = mpath.with_name("." + mpath.name + ".tmp")
    with open(tmp, "wb") as f:
        head = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        f.write(head[:-2] + b',\n  "provenance": [\n')
        for i, (rid, ds, file, line, hsh) in enumerate(prov):
            f.write((b",\n" if i else b"") + b"    " + orjson.dumps(
                {"id": rid, "dataset": ds, "file": file, "line": line, "hash": hsh}))
        f.write(b"\n  ]\n}\n")
    os.replace(tmp, mpath)


def _write_parquet(tmp: str, recs, as_: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq
    writer, n, buf = None, 0, []

    def flush():
        nonlocal writer
        if not buf:
            return
        if as_ == "original":
            parsed = [orjson.loads(x) for x in buf]
            try:
                table = pa.Table.from_pylist(parsed)
                if writer is not None and table.schema != writer.schema:
                    table = table.cast(writer.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
                table = pa.table({"record": buf}) if writer is None or writer.schema.names == ["record"] \
                    else None
                if table is None:
                    raise StoreError("records change shape across the export; use .jsonl for this original export")
        else:
            table = pa.Table.from_pylist(buf)
            if writer is not None and table.schema != writer.schema:
                table = pa.Table.from_pylist(buf, schema=writer.schema)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        buf.clear()

    for rec in recs:
        buf.append(rec)
        n += 1
        if len(buf) >= 5000:
            flush()
    flush()
    if writer is None:
        import pyarrow as pa
        pq.write_table(pa.table({"record": pa.array([], pa.string())}), tmp)
    else:
        writer.close()
    return n


def _write_csv(tmp: str, recs, as_: str) -> int:
    """CSV needs its header first: spool records to a temporary JSONL while collecting the keys."""
    n, keys = 0, {}
    with tempfile.TemporaryFile() as spool:
        for rec in recs:
            d = orjson.loads(rec) if isinstance(rec, str) else rec
            if not isinstance(d, dict):
                d = {"record": d}
            for k in d:
                keys.setdefault(k, None)
            spool.write(orjson.dumps(_flat(d)) + b"\n")
            n += 1
        spool.seek(0)
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(keys) or ["record"])
            w.writeheader()
            for line in spool:
                w.writerow(orjson.loads(line))
    return n
