"""CLI commands for Steps: ``python -m core embed|map|cluster|similar`` (registered on core.cli.app)."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from core.cli import WS, _filter, _open, _out, app, fail
from core.filters import Cond


class _Bar:
    """A tqdm bar on stderr (only on a terminal and without --json), fed by a Step's progress callback."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None
        self.stage = None

    def __call__(self, stage, done, total, info=None):
        if not self.enabled:
            return
        from tqdm import tqdm
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total or None, desc=stage, unit=" rows" if stage in ("embed", "map") else "",
                            file=sys.stderr)
        self.bar.total = total or None
        self.bar.n = done
        if info and info.get("rows_per_s"):
            self.bar.set_postfix_str(f"{info['rows_per_s']:.0f} rows/s")
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _run(as_json: bool, fn):
    bar = _Bar(not as_json)
    try:
        return fn(bar)
    finally:
        bar.close()


@app.command()
def embed(workspace: str = WS,
          model: Optional[str] = typer.Option(None, "--model", help="sentence-transformers name or local path "
                                              "(default all-MiniLM-L6-v2, offline)"),
          text: str = typer.Option("instruction", "--text", help="instruction|instruction_input|conversation|response"),
          dataset: Optional[str] = typer.Option(None, "--dataset", help="only this dataset's rows"),
          where: Optional[List[str]] = typer.Option(None, "--where", help='only rows matching "COLUMN OP VALUE"'),
          batch: int = typer.Option(2048, "--batch", help="rows per committed batch"),
          as_json: bool = typer.Option(False, "--json")):
    """Embed rows that have no vector yet for this model and text (cached by content hash; resumable)."""
    from core import steps
    store = _open(workspace)
    flt = _filter(where, None)
    if dataset:
        flt = flt.and_(Cond("dataset", "=", dataset))
    res = _run(as_json, lambda bar: steps.embed(store, model, text, flt, progress=bar, batch=batch))
    if as_json:
        _out(res)
    else:
        typer.echo(f"embedded {res['embedded']:,} rows ({res['texts_encoded']:,} distinct texts) with {res['model']} "
                   f"on {res['text']}; {res['cached']:,} already had vectors; {res['seconds']:.1f} s"
                   + (f", {res['rows_per_s']:.0f} rows/s" if res["rows_per_s"] else ""))


@app.command("map")
def map_cmd(workspace: str = WS, mode: str = typer.Option("fast", "--mode", help="fast|reproducible (seeded, slower)"),
            seed: int = typer.Option(42, "--seed"), refit: bool = typer.Option(False, "--refit"),
            as_json: bool = typer.Option(False, "--json")):
    """Compute the 2-D map (UMAP, cosine) of the embedded rows: columns x, y."""
    from core import steps
    store = _open(workspace)
    res = _run(as_json, lambda bar: steps.map2d(store, mode=mode, seed=seed, refit=refit, progress=bar))
    if as_json:
        _out(res)
    else:
        typer.echo(f"map {res['how']}: {res['rows']:,} of {res['mapped']:,} rows placed ({res['mode']} mode), "
                   f"{res['seconds']:.1f} s")


@app.command()
def cluster(workspace: str = WS,
            min_cluster_size: Optional[int] = typer.Option(None, "--min-cluster-size", min=2),
            min_samples: Optional[int] = typer.Option(None, "--min-samples", min=1),
            reassign_noise: bool = typer.Option(False, "--reassign-noise", help="give noise rows their nearest cluster"),
            method: str = typer.Option("hdbscan", "--method", help="hdbscan|kmeans"),
            k: Optional[int] = typer.Option(None, "--k", min=2, help="clusters for kmeans"),
            dims: int = typer.Option(5, "--dims", min=2, help="UMAP dimensions clustered (hdbscan)"),
            mode: str = typer.Option("fast", "--mode", help="fast|reproducible"),
            as_json: bool = typer.Option(False, "--json")):
    """Cluster the embedded rows; label each cluster by its keywords (columns cluster, cluster_label)."""
    from core import steps
    if method not in ("hdbscan", "kmeans"):
        fail("--method must be hdbscan or kmeans")
    store = _open(workspace)
    res = _run(as_json, lambda bar: steps.cluster(
        store, method=method, n_components=dims, min_cluster_size=min_cluster_size, min_samples=min_samples,
        reassign=reassign_noise, k=k, mode=mode, progress=bar))
    if as_json:
        _out(res)
        return
    typer.echo(f"{res['clusters']} clusters over {res['rows']:,} rows; noise {res['noise_fraction']:.1%}"
               + (f" (after re-assignment {res['noise_fraction_after']:.1%})" if reassign_noise else "")
               + f"; {res['seconds']:.1f} s")
    for c, n in sorted(res["sizes"].items(), key=lambda kv: -kv[1])[:30]:
        typer.echo(f"  {c:>5}  {n:>8,}  {res['labels'][c]}")


@app.command()
def similar(workspace: str = WS, text: Optional[str] = typer.Argument(None, help="query text"),
            row: Optional[int] = typer.Option(None, "--row", help="rows similar to this row id"),
            dataset: Optional[str] = typer.Option(None, "--dataset"),
            where: Optional[List[str]] = typer.Option(None, "--where"),
            limit: int = typer.Option(10, "--limit"), as_json: bool = typer.Option(False, "--json")):
    """Semantic search: rows nearest a text (or a row) by cosine over the stored vectors."""
    from core import steps
    if (text is None) == (row is None):
        fail("give a query text or --row ID")
    store = _open(workspace)
    flt = _filter(where, None)
    if dataset:
        flt = flt.and_(Cond("dataset", "=", dataset))
    df = steps.similar(store, text=text, row_id=row, flt=flt, k=limit)
    for r in df.to_dict("records"):
        if as_json:
            _out(r)
        else:
            typer.echo(f"{r['score']:.3f} [{r['id']}] {r['dataset']} | {str(r['instruction'])[:100]!r}")
