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
from core.store import ALL_COLUMNS, Store, StoreError, now

AS = ("original", "alpaca", "sharegpt", "messages")
SUFFIXES = (".jsonl", ".parquet", ".csv")
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation",
                 "function_call": "function_call"}
_NL = re.compile(r"\r?\n[ \t]*")
SIFT_KEY = "_sift"  # where --with puts Sift's own columns in each exported record
NOT_WITH = {"raw", "turns", "rejected", "extra"}  # the record itself: not extra columns
WITH_OFFERED = ("id", "tags", "raw_tags", "n_tags", "cluster", "cluster_label", "x", "y", "language", "n_tokens",
                "dup_group", "dup_keep", "contaminated", "hash", "dataset")  # the ones the UI offers


def with_columns(names) -> list[str]:
    """Sift columns to add to every exported record (``--with tags,cluster``), checked against the known ones."""
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names or []) if n and n.strip()]
    bad = [n for n in names if n not in ALL_COLUMNS or n in NOT_WITH]
    if bad:
        ok = ", ".join(sorted(c for c in ALL_COLUMNS if c not in NOT_WITH))
        raise StoreError(f"--with: unknown column {bad[0]!r} (one of: {ok})")
    return list(dict.fromkeys(names))


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
    for p in (path, path.with_name(path.name + ".manifest.json")):  # the file and its manifest
        if p.is_symlink() or (p.exists() and not p.is_file()):
            raise StoreError(f"refusing to overwrite {p.name}: it is a link or not a regular file")
    if path.resolve().parent != folder:
        raise StoreError(f"export name {name!r} escapes the exports folder")
    return path


# ------------------------------------------------------------------ conversions (pure)

def _turns(r) -> list:
    return [(t["role"], t["content"]) for t in (r["turns"] or [])]


def _pairs(turns: list) -> tuple[list, str, str]:
    """Alternating user/assistant turns -> (history pairs, last user, last assistant)."""
    other = sorted({role for role, _ in turns} - {"user", "assistant"})
    if other:
        raise NotRepresentable(f"has {'/'.join(other)} turns, which Alpaca cannot hold")
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


REPLY_ROLES = ("assistant", "function_call")


def _check_pair(turns: list, rejected: list):
    """A row keeps prompt + chosen as one turn list, so the chosen reply is taken to be the last turn.
    Preference formats hold one chosen and one rejected message: refuse pairs where that is not what
    the row holds (rather than silently moving a reply into the prompt)."""
    if len(rejected) != 1:
        raise NotRepresentable("preference pair whose rejected reply has several turns")
    if len(turns) < 2 or turns[-1][0] not in REPLY_ROLES or turns[-2][0] in REPLY_ROLES:
        raise NotRepresentable("preference pair whose chosen reply is not one reply turn after the prompt")


def to_alpaca(r: dict) -> dict:
    turns = _turns(r)
    rej = [(t["role"], t["content"]) for t in r["rejected"]] if r.get("rejected") else None
    if rej is not None:
        _check_pair(turns, rej)
        if turns[-1][0] != "assistant" or rej[0][0] != "assistant":
            raise NotRepresentable("preference pair whose replies are function calls, which Alpaca cannot hold")
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
        _check_pair(_turns(r), r["rejected"])
        rej = [{"from": SHAREGPT_ROLE[t["role"]], "value": t["content"]} for t in r["rejected"]]
        out["conversations"], out["chosen"], out["rejected"] = conv[:-1], conv[-1], rej[0]
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
        _check_pair(_turns(r), r["rejected"])
        out["messages"], out["chosen"] = msgs[:-1], msgs[-1]
        out["rejected"] = _message(r["rejected"][0]["role"], r["rejected"][0]["content"])
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

def _records(store: Store, flt: Filter, as_: str, dataset: str | None, skipped: list, prov: list,
             add: list[str] = ()):
    cols = ["id", "dataset", "format", "file", "line", "hash", "system", "turns", "rejected", "extra", "raw"]
    cols += [c for c in add if c not in cols]
    written: dict = {}  # OASST: (dataset, file, line) of a tree record already written -> row id
    for batch in store.iter_rows(flt, dataset, batch=5000, columns=cols):
        for r in batch:
            if as_ == "original":
                if r["format"] == "oasst":  # one tree record yields one row per path: write the record once
                    key = (r["dataset"], r["file"], r["line"])
                    if key in written:
                        skipped.append({"id": r["id"], "reason": f"same source record as row {written[key]} "
                                                                 f"(an OASST tree holds several paths)"})
                        continue
                    written[key] = r["id"]
                rec = one_line(r["raw"])
            else:
                try:
                    rec = CONVERT[as_](r)
                except NotRepresentable as e:
                    skipped.append({"id": r["id"], "reason": str(e)})
                    continue
            prov.append((r["id"], r["dataset"], r["file"], r["line"], r["hash"]))
            if add:  # Sift's columns under one key, so a trainer that ignores unknown keys reads the record as is
                rec = orjson.loads(rec) if isinstance(rec, str) else rec
                rec = rec if isinstance(rec, dict) else {"record": rec}
                rec[SIFT_KEY] = {c: r[c] for c in add}
            yield rec


def _flat(rec: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else orjson.dumps(v).decode())
            for k, v in rec.items()}


def export_rows(store: Store, flt: Filter, out: str, as_: str = "original", dataset: str | None = None,
                progress=None, extra: dict | None = None, columns=None) -> dict:
    """Write the rows of ``flt`` to exports/OUT and OUT.manifest.json; returns the manifest (without writing
    provenance twice into memory for huge exports). ``columns``: Sift columns (tags, cluster, ...) added to each
    record under the key ``_sift`` (an original record is then re-serialised, no longer byte-verbatim)."""
    if as_ not in AS:
        raise StoreError(f"--as must be one of {', '.join(AS)}")
    add = with_columns(columns)
    path = export_path(store, out)
    suffix = path.suffix.lower()
    skipped, prov = [], []
    total = store.count(flt, dataset)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        recs = _records(store, flt, as_, dataset, skipped, prov, add)
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
        "with": add, "rows": n, "skipped": len(skipped), "skipped_rows": skipped[:1000], "sha256": h.hexdigest(),
        **(extra or {}),
    }
    mpath = path.with_name(path.name + ".manifest.json")
    _write_manifest(mpath, manifest, prov)
    manifest["manifest"] = str(mpath)
    return manifest


def _write_manifest(mpath: Path, manifest: dict, prov: list):
    """Stream the manifest so per-row provenance of a million rows does not build one huge string."""
    fd, tmp = tempfile.mkstemp(dir=mpath.parent, prefix=".tmp-", suffix=".manifest.json")
    with os.fdopen(fd, "wb") as f:
        head = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        f.write(head[:-2] + b',\n  "provenance": [\n')
        for i, (rid, ds, file, line, hsh) in enumerate(prov):
            f.write((b",\n" if i else b"") + b"    " + orjson.dumps(
                {"id": rid, "dataset": ds, "file": file, "line": line, "hash": hsh}))
        f.write(b"\n  ]\n}\n")
    os.replace(tmp, mpath)


def _write_parquet(tmp: str, recs, as_: str) -> int:
    """Spool the records, infer one schema over all of them (so a key or type that first appears late is
    neither dropped nor fatal), then write. A column whose values cannot share one Arrow type (an object in
    some rows, a list in others) is written as JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def chunks(spool):
        spool.seek(0)
        buf = []
        for line in spool:
            buf.append(orjson.loads(line))
            if len(buf) >= 5000:
                yield buf
                buf = []
        if buf:
            yield buf

    n, keys, types, text_cols = 0, {}, {}, set()
    with tempfile.TemporaryFile() as spool:
        for rec in recs:
            d = orjson.loads(rec) if isinstance(rec, str) else rec
            if not isinstance(d, dict):
                d = {"record": rec if isinstance(rec, str) else orjson.dumps(d).decode()}
            spool.write(orjson.dumps(d) + b"\n")
            n += 1
        for chunk in chunks(spool):
            for d in chunk:
                for k in d:
                    keys.setdefault(k, None)
            for k in keys:
                if k in text_cols:
                    continue
                try:
                    t = pa.array([d.get(k) for d in chunk]).type
                    if k in types:
                        t = pa.unify_schemas([pa.schema([(k, types[k])]), pa.schema([(k, t)])],
                                             promote_options="permissive").field(k).type
                    types[k] = t
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
                    text_cols.add(k)
        text_cols |= {k for k, t in types.items() if _empty_struct(t)}  # Parquet cannot store struct<>
        if not keys:
            pq.write_table(pa.table({"record": pa.array([], pa.string())}), tmp)
            return n
        schema = pa.schema([(k, pa.string() if k in text_cols else types[k]) for k in keys])
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in chunks(spool):
                rows = [{k: (v if k not in text_cols or v is None or isinstance(v, str) else
                             orjson.dumps(v).decode()) for k, v in d.items()} for d in chunk]
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return n


def _empty_struct(t) -> bool:
    import pyarrow as pa
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(_empty_struct(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _empty_struct(t.value_type)
    if pa.types.is_map(t):
        return _empty_struct(t.item_type)
    return False


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
