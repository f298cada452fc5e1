"""CLI commands for tagging: ``python -m core tag`` and ``python -m core tags normalize|stats|add|remove|rename|undo``
(registered on core.cli.app)."""
from __future__ import annotations

from typing import List, Optional

import typer

from core.cli import WS, _filter, _open, _out, app, fail
from core.cli_steps import _run
from core.filters import Cond

tags_app = typer.Typer(add_completion=False, no_args_is_help=True, help="normalise, measure and edit tags")
app.add_typer(tags_app, name="tags")


def _scope(where, search, dataset):
    flt = _filter(where, search)
    return flt.and_(Cond("dataset", "=", dataset)) if dataset else flt


@app.command()
def tag(workspace: str = WS,
        method: str = typer.Option(..., "--method", help="llm|keyphrase|taxonomy|propagate|import"),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server, e.g. "
                                               "http://127.0.0.1:8000/v1 (llm)"),
        model: Optional[str] = typer.Option(None, "--model", help="the LLM's model name (llm), or the embedding "
                                            "model (keyphrase, taxonomy; default all-MiniLM-L6-v2)"),
        api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="environment variable holding the "
                                        "API key (the key itself is never stored)"),
        concurrency: int = typer.Option(8, "--concurrency", help="requests in flight (llm)"),
        limit: Optional[int] = typer.Option(None, "--limit", help="tag at most N rows this run"),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="stop after this many tokens (llm)"),
        column: Optional[str] = typer.Option(None, "--column", help="label column that becomes tags (import)"),
        source: str = typer.Option("llm", "--from", help="whose tags to spread (propagate): an origin prefix"),
        k: int = typer.Option(10, "--k", help="neighbours that vote (propagate)"),
        min_conf: float = typer.Option(0.5, "--min-conf", help="least vote share for a tag (propagate)"),
        text: str = typer.Option("instruction", "--text", help="text the offline taggers read"),
        dataset: Optional[str] = typer.Option(None, "--dataset"),
        where: Optional[List[str]] = typer.Option(None, "--where", help='only rows matching "COLUMN OP VALUE"'),
        search: Optional[str] = typer.Option(None, "--search"),
        as_json: bool = typer.Option(False, "--json")):
    """Tag rows not yet tagged by this tagger (cached by content hash; resumable; failed rows retried)."""
    from core import tagging
    store = _open(workspace)
    flt = _scope(where, search, dataset)
    if method == "llm":
        from core.llm import LLMConfig
        if not base_url or not model:
            fail("--method llm needs --base-url and --model (any OpenAI-compatible server: OpenAI, vLLM, Ollama, "
                 "llama.cpp, LM Studio)")
        cfg = LLMConfig(base_url=base_url, model=model, api_key_env=api_key_env)
        res = _run(as_json, lambda bar: tagging.tag_llm(store, cfg, flt, concurrency=concurrency, limit=limit,
                                                        max_tokens=max_tokens, progress=bar))
    elif method in ("keyphrase", "taxonomy"):
        res = _run(as_json, lambda bar: tagging.tag_offline(store, method, flt, model=model, text=text, limit=limit,
                                                            progress=bar))
    elif method == "propagate":
        res = _run(as_json, lambda bar: tagging.tag_propagate(store, source, flt, k=k, min_conf=min_conf,
                                                              progress=bar))
    elif method == "import":
        if not column:
            fail("--method import needs --column (a label field such as category or instruction_id_list)")
        res = _run(as_json, lambda bar: tagging.tag_import(store, column, flt, progress=bar))
    else:
        fail(f"unknown method {method!r}; use one of: {', '.join(tagging.METHODS)}")
    if as_json:
        _out(res)
    else:
        typer.echo(f"{method}: {res['note']} (source {res['source'][0]} {res['source'][1]})")


@tags_app.command("normalize")
def normalize(workspace: str = WS,
              min_count: Optional[int] = typer.Option(None, "--min-count", help="drop tags on fewer rows (default "
                                                      "scales with the number of rows)"),
              eps: float = typer.Option(0.05, "--eps", help="semantic merge radius (cosine distance)"),
              support: Optional[int] = typer.Option(None, "--support", help="association: least co-occurring rows"),
              confidence: float = typer.Option(0.99, "--confidence", help="association: least rule confidence"),
              stages: str = typer.Option("rule,frequency,semantic,association", "--stages",
                                         help="stages to run, comma-separated"),
              reject: Optional[List[str]] = typer.Option(None, "--reject", help="proposal id not to apply (repeatable)"),
              dry_run: bool = typer.Option(False, "--dry-run", help="show the proposals, change nothing"),
              model: Optional[str] = typer.Option(None, "--model", help="embedding model for the semantic stage"),
              as_json: bool = typer.Option(False, "--json")):
    """Normalise raw tags into a vocabulary (frequency, rule, semantic, association). Raw tags are kept."""
    from core import tagging
    store = _open(workspace)
    res = _run(as_json, lambda bar: tagging.normalize(
        store, min_count=min_count, eps=eps, support=support, confidence=confidence,
        stages=[s.strip() for s in stages.split(",") if s.strip()], rejected=set(reject or ()), apply=not dry_run,
        model=model, progress=bar))
    if as_json:
        _out(res)
        return
    for st in res["stages"]:
        typer.echo(f"{st['name']:<12} {st['n_before']:>7,} → {st['n_after']:>7,} tags, {len(st['proposals']):,} "
                   f"proposals")
        for p in st["proposals"][:8]:
            typer.echo(f"    [{p['id']}] {', '.join(p['before'][:6])} → {p['after'] or '(dropped)'} ({p['count']:,})")
    typer.echo(f"{res['raw_tags']:,} raw tags → {res['vocabulary']:,} in the vocabulary"
               + (" (dry run: nothing changed)" if dry_run else ""))


@tags_app.command("stats")
def stats(workspace: str = WS, dataset: Optional[str] = typer.Option(None, "--dataset"),
          where: Optional[List[str]] = typer.Option(None, "--where", help='"COLUMN OP VALUE", repeatable (AND)'),
          search: Optional[str] = typer.Option(None, "--search"),
          by: Optional[str] = typer.Option(None, "--by", help="one line per dataset|cluster|language|format"),
          top: int = typer.Option(20, "--top"), as_json: bool = typer.Option(False, "--json")):
    """Complexity (mean tags per tagged row) and diversity (distinct tags) of the filter's rows."""
    from core import tagging
    store = _open(workspace)
    res = tagging.stats(store, _scope(where, search, dataset), by=by, top=top)
    if as_json:
        _out(res)
        return
    for g in (res["groups"] if by else [res]):
        head = f"{g['group']}: " if by else ""
        typer.echo(f"{head}{g['rows_tagged']:,} rows tagged, {g['unique_tags']:,} distinct tags, complexity "
                   f"{g['complexity']:.2f}, diversity {g['diversity']:,}")
        typer.echo("  top: " + ", ".join(f"{t['tag']} ({t['count']:,})" for t in g["top_tags"][:10]))


def _edit(workspace, where, search, dataset, add=(), remove=()):
    store = _open(workspace)
    flt = _scope(where, search, dataset)
    n = store.tag_rows(flt, add=add, remove=remove, what=flt.describe())
    return {"rows": n, "added": list(add), "removed": list(remove), "filter": flt.describe()}


@tags_app.command("add")
def add(tags: List[str] = typer.Argument(..., help="tags to add"), workspace: str = WS,
        dataset: Optional[str] = typer.Option(None, "--dataset"),
        where: Optional[List[str]] = typer.Option(None, "--where"), search: Optional[str] = typer.Option(None, "--search"),
        as_json: bool = typer.Option(False, "--json")):
    """Add tags by hand to every row of the filter (logged; undo with `tags undo`)."""
    res = _edit(workspace, where, search, dataset, add=tags)
    _out(res) if as_json else typer.echo(f"added {', '.join(tags)} to {res['rows']:,} rows ({res['filter']})")


@tags_app.command("remove")
def remove(tags: List[str] = typer.Argument(..., help="tags to remove"), workspace: str = WS,
           dataset: Optional[str] = typer.Option(None, "--dataset"),
           where: Optional[List[str]] = typer.Option(None, "--where"),
           search: Optional[str] = typer.Option(None, "--search"), as_json: bool = typer.Option(False, "--json")):
    """Remove tags by hand from every row of the filter (kept removed across re-runs; undo with `tags undo`)."""
    res = _edit(workspace, where, search, dataset, remove=tags)
    _out(res) if as_json else typer.echo(f"removed {', '.join(tags)} from {res['rows']:,} rows ({res['filter']})")


@tags_app.command("rename")
def rename(old: List[str] = typer.Argument(..., help="tag(s) to rename; several = merge"),
           to: Optional[str] = typer.Option(None, "--to", help="new name"),
           delete: bool = typer.Option(False, "--delete", help="delete the tag(s) instead"),
           workspace: str = WS, as_json: bool = typer.Option(False, "--json")):
    """Rename, merge (several old names) or delete vocabulary tags everywhere (logged; undo with `tags undo`)."""
    if bool(to) == delete:
        fail("give either --to NEW or --delete")
    store = _open(workspace)
    n = store.merge_tags(old, None if delete else to)
    _out({"rows": n, "tags": old, "to": to}) if as_json else typer.echo(
        f"{'deleted' if delete else 'renamed'} {', '.join(old)}{'' if delete else ' to ' + to} on {n:,} rows")


@tags_app.command("undo")
def undo(workspace: str = WS, as_json: bool = typer.Option(False, "--json")):
    """Undo the most recent tag edit or normalisation."""
    summary = _open(workspace).undo_tag_event()
    _out({"undone": summary}) if as_json else typer.echo(f"undid: {summary}")


@app.command("cluster-titles")
def cluster_titles(workspace: str = WS,
                   base_url: str = typer.Option(..., "--base-url", help="OpenAI-compatible server, ending in /v1"),
                   model: str = typer.Option(..., "--model"),
                   api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env"),
                   overwrite: bool = typer.Option(False, "--overwrite", help="also replace names given by hand"),
                   concurrency: int = typer.Option(4, "--concurrency"),
                   as_json: bool = typer.Option(False, "--json")):
    """Name each cluster with a short LLM title from its keywords and representative samples (optional)."""
    from core.llm import LLMClient, LLMConfig
    from core.titles import suggest_titles
    store = _open(workspace)
    with LLMClient(LLMConfig(base_url, model, api_key_env=api_key_env)) as client:
        res = _run(as_json, lambda bar: suggest_titles(store, client, overwrite, concurrency, progress=bar))
    if as_json:
        _out(res)
    else:
        for cl, t in sorted(res["titles"].items()):
            typer.echo(f"{cl:>4}  {t}")
        typer.echo(f"{res['titled']} named, {res['failed']} failed, {res['skipped']} kept their names")
