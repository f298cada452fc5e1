"""CLI commands for curation: ``python -m core select|dedup|decontaminate|selections|replay``
(registered on core.cli.app; ``export --selection NAME`` lives with export in core.cli)."""
from __future__ import annotations

from typing import List, Optional

import typer

from core.cli import WS, _open, _out, app, fail
from core.cli_steps import _run
from core.cli_tags import _scope


def _budget(text: str):
    t = text.strip()
    try:
        return t if t.endswith("%") else (float(t) if "." in t else int(t))
    except ValueError:
        fail(f"--budget must be a row count (6000), a share (0.05) or a percentage (5%), not {text!r}")


@app.command("select")
def select_cmd(workspace: str = WS,
               method: str = typer.Option(..., "--method", help="cfds|deita|longest|kcenter|stratified|facility|random"),
               budget: str = typer.Option(..., "--budget", help="rows (6000), share (0.05) or percentage (5%)"),
               name: Optional[str] = typer.Option(None, "--name", help="name of the saved Selection"),
               seed: int = typer.Option(0, "--seed"),
               score: str = typer.Option("n_tags", "--score", help="score column (deita; stratified --within score)"),
               length: str = typer.Option("response_chars", "--length", help="length column (longest)"),
               group: str = typer.Option("cluster", "--group", help="group column (stratified)"),
               quota: str = typer.Option("proportional", "--quota", help="proportional|equal|sqrt (stratified)"),
               threshold: float = typer.Option(0.9, "--threshold", help="deita: skip rows this similar"),
               keep_duplicates: bool = typer.Option(False, "--keep-duplicates", help="do not leave out dup_keep=false"),
               keep_contaminated: bool = typer.Option(False, "--keep-contaminated"),
               dataset: Optional[str] = typer.Option(None, "--dataset"),
               where: Optional[List[str]] = typer.Option(None, "--where"),
               search: Optional[str] = typer.Option(None, "--search"),
               as_json: bool = typer.Option(False, "--json")):
    """Select a budgeted subset of the filter's rows with a method and save it with its recipe."""
    from core import curate
    store = _open(workspace)
    params = {"deita": {"threshold": threshold}, "stratified": {"quota": quota}}.get(method, {})
    res = _run(as_json, lambda bar: curate.select(
        store, method, _budget(budget), _scope(where, search, dataset), name=name, seed=seed, params=params,
        score=score, length=length, group=group, exclude_duplicates=not keep_duplicates,
        exclude_contaminated=not keep_contaminated, progress=bar))
    res = {k: v for k, v in res.items() if k != "recipe"}
    if as_json:
        _out(res)
    else:
        typer.echo(f"selection {res['name']}: {res['rows']:,} of {res['pool']:,} rows by {method} "
                   f"({res['seconds']:.1f} s)" + (f"; {res['note']}" if res["note"] else ""))


@app.command()
def dedup(workspace: str = WS, method: str = typer.Option("exact", "--method", help="exact|minhash|semantic|rouge"),
          threshold: Optional[float] = typer.Option(None, "--threshold", help="minhash Jaccard (0.8), semantic "
                                                    "cosine (0.95), rouge ROUGE-L (0.7)"),
          keep: str = typer.Option("first", "--keep", help="first|longest|score|dataset_priority"),
          priority: Optional[List[str]] = typer.Option(None, "--priority", help="dataset order for dataset_priority"),
          score: Optional[str] = typer.Option(None, "--score", help="score column for --keep score"),
          text: Optional[str] = typer.Option(None, "--text", help="instruction|instruction_input|conversation|response"),
          dataset: Optional[str] = typer.Option(None, "--dataset"),
          where: Optional[List[str]] = typer.Option(None, "--where"),
          as_json: bool = typer.Option(False, "--json")):
    """Flag duplicate groups (dup_group) and one keeper per group (dup_keep); selections leave the others out."""
    from core import curate
    store = _open(workspace)
    res = _run(as_json, lambda bar: curate.dedup(store, method, _scope(where, None, dataset), threshold, keep,
                                                 priority, score, text, progress=bar))
    _out(res) if as_json else typer.echo(f"{method}: {res['groups']:,} groups over {res['rows']:,} rows; "
                                         f"{res['dropped']:,} rows not kept (rule {keep})")


@app.command()
def decontaminate(workspace: str = WS,
                  eval_files: List[str] = typer.Option(..., "--eval", help="evaluation file(s), any importable format"),
                  n: int = typer.Option(13, "--n", help="word n-gram length"),
                  embed_threshold: Optional[float] = typer.Option(None, "--embed-threshold",
                                                                  help="also flag rows this close by cosine"),
                  dataset: Optional[str] = typer.Option(None, "--dataset"),
                  where: Optional[List[str]] = typer.Option(None, "--where"),
                  as_json: bool = typer.Option(False, "--json")):
    """Flag rows sharing a long n-gram with an evaluation prompt (column contaminated)."""
    from core import curate
    store = _open(workspace)
    res = _run(as_json, lambda bar: curate.decontaminate(store, eval_files, n, embed_threshold,
                                                         _scope(where, None, dataset), progress=bar))
    _out(res) if as_json else typer.echo(f"{res['contaminated']:,} of {res['rows']:,} rows match one of "
                                         f"{res['eval_items']:,} eval items ({n}-grams)")


@app.command()
def selections(workspace: str = WS, as_json: bool = typer.Option(False, "--json")):
    """List the saved Selections."""
    for s in _open(workspace).selections():
        _out(s) if as_json else typer.echo(f"{s['name']}: {s['rows']:,} rows by {s['method']} ({s['created']})")


@app.command()
def replay(recipe: str = typer.Argument(..., help="a NAME.recipe.json written beside an export"),
           out: str = typer.Option(..., "--out", help="empty folder for the rebuilt workspace and its exports"),
           as_json: bool = typer.Option(False, "--json")):
    """Rebuild a Selection from its recipe: same source files (checked by sha256), same steps, same export."""
    from core.replay import replay as run
    res = run(recipe, out)
    if as_json:
        _out(res)
        return
    for note in res["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"selection {res['selection']['name']}: {res['selection']['rows']:,} rows ({res['selection']['how']})")
    if "export" in res:
        e = res["export"]
        typer.echo(f"export {e['path']}: sha256 {e['sha256'][:16]}… "
                   + ("identical to the recorded export" if e["identical"] else
                      f"DIFFERS from the recorded {e['expected_sha256'][:16]}…"))
