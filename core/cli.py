"""Headless CLI: ``python -m core import|info|rows|export|quarantine|demo|index|embed|map|cluster|similar``.

User mistakes print one clear line on stderr and exit non-zero; never a traceback.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from core.filters import Filter, FilterError, parse_where
from core.store import Store, StoreError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Sift: explore, filter and export instruction-tuning datasets.")
WS = typer.Option(..., "--workspace", "-w", help="workspace folder (holds sift.duckdb and exports/)")


def fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _out(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _filter(where: list[str] | None, search: str | None) -> Filter:
    return Filter(tuple(parse_where(w) for w in (where or [])), search or "")


def _open(ws: str, must_exist: bool = True) -> Store:
    if must_exist and not (Path(ws) / "sift.duckdb").exists():
        fail(f"no workspace at {ws} (import something first: python -m core import PATH --workspace {ws})")
    return Store(ws)


@app.command("import")
def import_cmd(paths: List[str] = typer.Argument(..., help="files or folders (one dataset)"),
               workspace: str = WS,
               name: Optional[str] = typer.Option(None, "--name", help="dataset name (default: first file's name)"),
               format: str = typer.Option("auto", "--format",
                                          help="auto|alpaca|sharegpt|messages|oasst|lima|prompt_completion|preference|template"),
               as_json: bool = typer.Option(False, "--json", help="print one JSON object")):
    """Import files as one dataset; bad rows go to quarantine, good rows load."""
    from core.importer import import_paths
    store = _open(workspace, must_exist=False)
    bar = None
    if not as_json and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(unit=" rows", desc="importing", file=sys.stderr)

    def progress(file, n):
        if bar is not None:
            bar.n = n
            bar.set_postfix_str(Path(file).name)
            bar.refresh()
    try:
        res = import_paths(store, paths, name=name, fmt=format, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        _out(res.to_json())
    else:
        typer.echo(f"dataset {res.dataset}: {res.rows:,} rows imported ({res.format}), "
                   f"{res.quarantined:,} quarantined, {res.duplicates:,} exact duplicates flagged, "
                   f"{res.seconds:.1f} s")
        for s in res.skipped_files:
            typer.echo(f"  skipped {s['file']}: {s['reason']}")
        for e in res.errors[:20]:
            typer.echo(f"  {e['file']}:{e['line']} {e['field']}: {e['reason']}")
        if len(res.errors) > 20:
            typer.echo(f"  ... {len(res.errors) - 20:,} more (python -m core quarantine --workspace {workspace})")
    if not res.files and not res.skipped_files:
        raise typer.Exit(1)


@app.command()
def info(workspace: str = WS, as_json: bool = typer.Option(False, "--json")):
    """Datasets with row counts, formats and columns."""
    store = _open(workspace)
    ds = store.datasets()
    from core.rows import COLUMN_KINDS
    if as_json:
        _out({"workspace": str(store.workspace), "datasets": ds, "core_columns": list(COLUMN_KINDS)})
        return
    if not ds:
        typer.echo("no datasets yet")
    for d in ds:
        typer.echo(f"{d['dataset']}: {d['rows']:,} rows, formats {', '.join(d['formats'])}, "
                   f"{d['quarantined']:,} quarantined, {d['duplicates']:,} duplicates")
        if d["columns"]:
            typer.echo(f"  extra columns: {', '.join(d['columns'])}")


@app.command()
def rows(workspace: str = WS, dataset: Optional[str] = typer.Option(None, "--dataset"),
         where: Optional[List[str]] = typer.Option(None, "--where", help='"COLUMN OP VALUE", repeatable (AND)'),
         search: Optional[str] = typer.Option(None, "--search", help="text in instruction or response"),
         limit: int = typer.Option(20, "--limit"), as_json: bool = typer.Option(False, "--json")):
    """Print normalised rows matching the filter (JSON lines with --json)."""
    store = _open(workspace)
    flt = _filter(where, search)
    n = store.count(flt, dataset)
    shown = 0
    for batch in store.iter_rows(flt, dataset, batch=min(max(limit, 1), 5000)):
        for r in batch:
            if shown >= limit:
                break
            r["extra"] = json.loads(r["extra"]) if r.get("extra") else {}
            if as_json:
                r.pop("raw", None)
                _out(r)
            else:
                typer.echo(f"[{r['id']}] {r['dataset']} {Path(r['file']).name}:{r['line']} "
                           f"{r['language'] or '-'} turns={r['n_turns']} | {r['instruction'][:100]!r}")
            shown += 1
        if shown >= limit:
            break
    if not as_json:
        typer.echo(f"{flt.describe()}: {n:,} rows" + (f" in {dataset}" if dataset else ""), err=True)


@app.command()
def export(workspace: str = WS, dataset: Optional[str] = typer.Option(None, "--dataset"),
           where: Optional[List[str]] = typer.Option(None, "--where"),
           search: Optional[str] = typer.Option(None, "--search"),
           out: str = typer.Option(..., "--out", help="NAME.jsonl|NAME.parquet|NAME.csv (written to WS/exports/)"),
           as_: str = typer.Option("original", "--as", help="original|alpaca|sharegpt|messages"),
           selection: Optional[str] = typer.Option(None, "--selection", help="only the rows of this saved "
                                                   "Selection (its recipe goes into the manifest)"),
           with_: Optional[str] = typer.Option(None, "--with", help="Sift columns to add to each record under "
                                               "'_sift', comma-separated (e.g. tags,cluster,cluster_label)"),
           as_json: bool = typer.Option(False, "--json")):
    """Export the filtered rows, with NAME.manifest.json beside them."""
    from core.export import export_rows
    store = _open(workspace)
    if selection:
        from core.replay import export_selection
        man = export_selection(store, selection, out, as_, _filter(where, search), dataset, columns=with_)
    else:
        man = export_rows(store, _filter(where, search), out, as_, dataset=dataset, columns=with_)
    if as_json:
        _out({k: v for k, v in man.items() if k != "provenance"})
    else:
        typer.echo(f"wrote {man['rows']:,} rows to {man['path']} (sha256 {man['sha256'][:12]}…); "
                   f"manifest {man['manifest']}")


@app.command()
def quarantine(workspace: str = WS, dataset: Optional[str] = typer.Option(None, "--dataset"),
               out: Optional[str] = typer.Option(None, "--out", help="write all entries as CSV to WS/exports/NAME"),
               as_json: bool = typer.Option(False, "--json")):
    """Show the quarantine (rows that could not be imported, with file, line, field and reason)."""
    store = _open(workspace)
    df = store.quarantine(dataset)
    if out:
        from core.export import export_path
        p = export_path(store, out, (".csv",))
        df.to_csv(p, index=False)
        typer.echo(f"wrote {len(df):,} quarantine entries to {p}")
        return
    if as_json:
        for r in df.drop(columns=["raw"]).to_dict("records"):
            _out(r)
        return
    for r in df.itertuples():
        typer.echo(f"{r.dataset} {r.file}:{r.line} {r.field}: {r.reason}")
    typer.echo(f"{len(df):,} quarantined rows", err=True)


@app.command()
def demo(workspace: str = WS, rows: int = typer.Option(3000, "--rows")):
    """Import the project's demo set (data/demo; generated for other --rows) into a workspace."""
    from core.demo import build_demo_workspace
    res = build_demo_workspace(workspace, rows)
    for r in res:
        if r.skipped_files and not r.files:
            typer.echo(f"dataset {r.dataset}: already imported")
        else:
            typer.echo(f"dataset {r.dataset}: {r.rows:,} rows ({r.format}), {r.quarantined} quarantined")


@app.command()
def index(workspace: str = WS, force: bool = typer.Option(False, "--force", help="rebuild even if current"),
          drop: bool = typer.Option(False, "--drop", help="remove the text index"),
          as_json: bool = typer.Option(False, "--json", help="print one JSON object")):
    """Build the text index that answers `contains` on instruction/response and --search without scanning
    (built once after the rows change; queries fall back to scanning while there is none)."""
    store = _open(workspace)
    try:
        if drop:
            store.drop_text_index()
            info = {"dropped": True}
        else:
            info = store.text_index_info()
            if force or not info or not info["current"]:
                store.build_text_index()
                info = store.text_index_info()
    finally:
        store.close()
    if as_json:
        _out(info)
    elif not drop:
        typer.echo(f"text index: {info['rows']:,} rows, {info['tokens']:,} tokens, {info['postings']:,} postings "
                   f"(built {info['built']} in {info['seconds']:.1f} s)")


def main():
    try:
        rc = app(standalone_mode=False)  # in this mode click returns typer.Exit's code instead of raising
        sys.exit(rc if isinstance(rc, int) else 0)
    except (FilterError, StoreError, FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # click usage errors and the unexpected: one line, no traceback
        if os.environ.get("SIFT_DEBUG"):
            raise
        import click

        if isinstance(e, click.ClickException):
            typer.echo(f"error: {e.format_message()}", err=True)
            sys.exit(e.exit_code or 2)
        typer.echo(f"error: {type(e).__name__}: {e}", err=True)
        sys.exit(1)


from core import cli_steps  # noqa: E402,F401  (registers embed, map, cluster, similar on app)
from core import cli_tags  # noqa: E402,F401  (registers tag and tags ... on app)
from core import cli_curate  # noqa: E402,F401  (registers select, dedup, decontaminate, selections, replay)
