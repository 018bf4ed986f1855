"""The comparison page (and the CLI's comparison rows): runs side by side, from run folders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analyzers.metrics import Metrics
from ..feeds.errors import SqueezeLabError
from . import figures as F
from .formatting import (
    DASH,
    Cell,
    Table,
    cell,
    config_diff,
    flatten,
    fmt_value,
    label,
    param_text,
    records_table,
    value_kind,
)
from .page import embed, environment, write_html
from .run_page import (
    PERFORMANCE_GROUPS,
    PERIOD_LABELS,
    episode_entries,
    episode_windows,
    read_metrics,
)
from .rundir import RunData, read_run

#: Episode keys shown side by side on the comparison page and in the CLI table.
COMPARE_EPISODE_KEYS = ("return", "max_drawdown_in_window", "depth", "legs.long", "legs.short",
                        "legs.hedge", "legs.borrow", "legs.costs")
COMPARE_EPISODE_LABELS = {"return": "window return", "max_drawdown_in_window": "max DD in window",
                          "depth": "depth from peak", "legs.long": "long leg",
                          "legs.short": "short leg", "legs.hedge": "hedge",
                          "legs.borrow": "borrow", "legs.costs": "costs"}
#: Episode columns of the per-episode comparison tables (runs as rows).
EPISODE_COMPARE_COLUMNS = ("return", "max_drawdown_in_window", "peak_date", "trough_date", "depth",
                           "peak_to_trough_sessions", "recovery_date", "legs.long", "legs.short",
                           "legs.hedge", "legs.costs", "reference_returns.most_shorted")


def _labels(runs: Sequence[RunData]) -> list[str]:
    out: list[str] = []
    for r in runs:
        name = r.name
        k = 2
        while name in out:
            name = f"{r.name} #{k}"
            k += 1
        out.append(name)
    return out


def _load_runs(runs: Sequence[str | Path | RunData]) -> list[RunData]:
    if not runs:
        raise SqueezeLabError("nothing to compare: give at least one run folder")
    return [r if isinstance(r, RunData) else read_run(r) for r in runs]


def _named_episodes(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Named episode entries as their metrics.json records (dotted keys are JSON paths)."""
    return {e.name: e.to_json() for e in episode_entries(metrics) if e.kind == "named"}


#: Performance fields compared side by side (fields of analyzers.metrics.Performance).
COMPARE_PERFORMANCE = tuple(k for _, group in PERFORMANCE_GROUPS for k in group
                            if k != "benchmark") + ("start", "end", "n_days", "invested_from")


def _compare_rows(runs: Sequence[RunData]) -> list[tuple[str, str, str | None, list[Any]]]:
    """(key, label, kind, value per run): performance metrics, then named episodes' headlines."""
    rows: list[tuple[str, str, str | None, list[Any]]] = []
    perfs = [read_metrics(r.metrics).performance for r in runs]
    for k in COMPARE_PERFORMANCE:
        vals = [getattr(p, k) for p in perfs]
        if any(v is not None for v in vals):
            rows.append((k, PERIOD_LABELS.get(k, label(k)), None, vals))
    warm = [p.warmup.sessions if p.warmup is not None else None for p in perfs]
    if any(v is not None for v in warm):
        rows.append(("warmup.sessions", "Warm-up sessions (not measured)", "int", warm))
    eps = [_named_episodes(r.metrics) for r in runs]
    names: dict[str, None] = {}
    for e in eps:
        for n in e:
            names.setdefault(n, None)
    for n in names:
        flats = [flatten(e.get(n, {})) for e in eps]
        for k in COMPARE_EPISODE_KEYS:
            if any(k in f for f in flats):
                rows.append((f"episodes.{n}.{k}", f"{n}: {COMPARE_EPISODE_LABELS[k]}", "spct",
                             [f.get(k) for f in flats]))
        shares = [(((r.metrics.get("attribution") or {}).get("borrow") or {}).get("episodes") or {})
                  .get(n, {}).get("share_of_short_loss") for r in runs]
        if any(s is not None for s in shares):
            rows.append((f"attribution.borrow.episodes.{n}.share_of_short_loss",
                         f"{n}: borrow share of short-side loss", "pct", shares))
    return rows


#: comparison_table's coarse kinds (for a terminal table) from fmt_value's kinds.
TABLE_KINDS = {"spct": "pct", "pct": "pct", "ratio": "num", "num": "num", "num1": "num",
               "sci": "num", "money": "int", "money2": "num", "int": "int", "bool": "text"}


def comparison_table(runs: Sequence[str | Path | RunData]) -> list[dict[str, Any]]:
    """Rows for a terminal table comparing runs (the CLI prints them with rich; nothing printed).

    One row per metric: performance first, then each named episode's window return, drawdowns
    and leg PnL. Each row is ``{"key": dotted metrics.json key, "label": display name,
    "kind": "pct" | "num" | "int" | "text", "values": [raw JSON value per run],
    "text": [display string per run]}`` with runs in the order given. ``text`` uses the same
    formatting as the HTML pages (signed % for returns and drawdowns, 2 dp for ratios, an em dash
    for a missing value).
    """
    data = _load_runs(runs)
    out = []
    for key, text, kind, vals in _compare_rows(data):
        k = kind or value_kind(key)
        coarse = "text" if all(isinstance(v, str) or v is None for v in vals) else \
            TABLE_KINDS.get(k, "num")
        out.append({"key": key, "label": text, "kind": coarse, "values": list(vals),
                    "text": [fmt_value(key, v, kind) for v in vals]})
    return out


def tradeoff_rows(runs: Sequence[RunData]) -> list[dict[str, Any]]:
    """What each run saves in the episodes and gives up outside them, against the first run.

    Per run after the first (the baseline, e.g. the book without overlay): the max drawdown inside
    each named episode and its change in points (positive = drawdown cut), and the change in
    annual return and Sharpe on the days outside the episodes (``performance.outside_episodes``)
    and over the whole period. Read from metrics.json only.
    """
    if len(runs) < 2:
        return []
    labels = _labels(runs)
    typed = [read_metrics(r.metrics) for r in runs]
    base = typed[0]
    names = [e.name for e in base.episodes.entries() if e.kind == "named"]

    def ep_dd(m: Metrics, n: str) -> float | None:
        e = m.episodes.named.get(n)
        return e.max_drawdown_in_window if e is not None else None

    def outside(m: Metrics, k: str) -> float | None:
        o = m.performance.outside_episodes
        return getattr(o, k) if o is not None else None

    def diff(a: Any, b: Any) -> float | None:
        return None if a is None or b is None else float(a) - float(b)

    rows = []
    for lab, m in zip(labels[1:], typed[1:], strict=True):
        row: dict[str, Any] = {"run": lab, "baseline": labels[0]}
        for n in names:
            row[f"{n}.drawdown"] = ep_dd(m, n)
            row[f"{n}.saved"] = diff(ep_dd(m, n), ep_dd(base, n))
        for k in ("annual_return", "sharpe_ratio"):
            row[f"outside.{k}"] = diff(outside(m, k), outside(base, k))
            row[f"full.{k}"] = diff(getattr(m.performance, k), getattr(base.performance, k))
        rows.append(row)
    return rows


def _tradeoff_table(runs: Sequence[RunData], rows: list[dict[str, Any]]) -> Table | None:
    if not rows:
        return None
    names = list(_named_episodes(runs[0].metrics))
    heads = ["Run"]
    kinds: list[tuple[str, str]] = []
    for n in names:
        heads += [f"{n}: max DD", f"{n}: cut by"]
        kinds += [(f"{n}.drawdown", "spct"), (f"{n}.saved", "spct")]
    heads += ["Return given up outside episodes", "Sharpe change outside episodes",
              "Sharpe change, whole period"]
    kinds += [("outside.annual_return", "spct"), ("outside.sharpe_ratio", "ratio"),
              ("full.sharpe_ratio", "ratio")]
    body = []
    for row in rows:
        cells = [Cell(row["run"], "key")]
        for key, kind in kinds:
            v = row.get(key)
            if key == "outside.annual_return" and v is not None:
                v = -v   # shown as what is given up
            cells.append(cell(key, v, kind))
        body.append(cells)
    return Table("What each run saves and what it costs", heads, body, anchor="tradeoff",
                 numeric=[False] + [True] * (len(heads) - 1),
                 note=f"Against {rows[0]['baseline']}: 'cut by' is the change in the max drawdown "
                      "inside the episode window in points (positive = smaller drawdown); "
                      "'outside episodes' uses only the days outside every named episode.")


def measured_periods_note(runs: Sequence[RunData], labels: Sequence[str]) -> str:
    """A warning when the runs' statistics cover different periods (different warm-ups), else
    an empty string."""
    perfs = [read_metrics(r.metrics).performance for r in runs]
    periods = {(p.start, p.end) for p in perfs}
    if len(periods) <= 1:
        return ""
    each = "; ".join(f"{lab}: {p.start} to {p.end}" for lab, p in zip(labels, perfs, strict=True))
    return ("The runs are measured over different periods (each from its first position: "
            f"{each}): their statistics are not over the same sessions.")


def different_data_note(runs: Sequence[RunData], labels: Sequence[str]) -> str:
    """A warning when the runs ran on different data or against different indexes (alpha, beta
    and the rows against the index are then not like for like), else an empty string."""
    provs = [r.provenance for r in runs]
    kinds = {bool(p.get("synthetic")) for p in provs}
    index = [str(p.get("index_label") or "not recorded") for p in provs]
    out = []
    if len(kinds) > 1:
        each = "; ".join(f"{lab}: {'SYNTHETIC' if p.get('synthetic') else 'real'}"
                         for lab, p in zip(labels, provs, strict=True))
        out.append(f"SYNTHETIC and real runs side by side ({each}).")
    elif len({_data_text(p) for p in provs}) > 1:
        each = "; ".join(f"{lab}: {_data_text(p)}" for lab, p in zip(labels, provs, strict=True))
        out.append(f"The runs are on different data ({each}).")
    if len(set(index)) > 1:
        each = "; ".join(f"{lab}: {i}" for lab, i in zip(labels, index, strict=True))
        out.append(f"Alpha, beta and the rows against the index use different indexes ({each}).")
    return " ".join(out)


def _data_text(prov: Mapping[str, Any]) -> str:
    """Where a run's prices came from: source and file, or the scenario's seed (not its dates,
    which the periods note covers)."""
    where = prov.get("path") or (f"seed {prov.get('seed')}" if prov.get("seed") is not None else "")
    return f"{prov.get('source')} {where}".strip()


def _metric_tables(runs: Sequence[RunData], labels: list[str]) -> list[Table]:
    """Performance and named-episode metrics side by side, one column per run."""
    heads = ["Metric"] + labels
    num = [False] + [True] * len(labels)
    perf_rows, ep_rows = [], []
    for key, text, kind, vals in _compare_rows(runs):
        row = [Cell(text, "key")] + [cell(key, v, kind) for v in vals]
        (ep_rows if key.startswith("episodes.") else perf_rows).append(row)
    tables = []
    if perf_rows:
        tables.append(Table("Performance", heads, perf_rows, anchor="metrics", numeric=num,
                            note=" ".join(n for n in (measured_periods_note(runs, labels),
                                                      different_data_note(runs, labels)) if n)))
    if ep_rows:
        tables.append(Table("Named episodes", heads, ep_rows, anchor="episode-metrics",
                            numeric=num))
    return tables


def _episode_tables(runs: Sequence[RunData], labels: list[str]) -> list[Table]:
    """One table per named episode, runs as rows."""
    eps = [_named_episodes(r.metrics) for r in runs]
    names: dict[str, None] = {}
    for e in eps:
        for n in e:
            names.setdefault(n, None)
    ep_tables = []
    ep_labels = {k: label(k) for k in EPISODE_COMPARE_COLUMNS}
    ep_labels.update({"return": "Window return", "reference_returns.most_shorted":
                      "Most-shorted basket"})
    for n in names:
        recs = []
        for e in eps:
            rec = {k: v for k, v in flatten(e.get(n, {})).items() if k in ep_labels}
            if rec and rec.get("recovery_date") is None and e.get(n, {}).get("recovered") is False:
                rec["recovery_date"] = "not recovered"
            recs.append(rec)
        first = next((e[n] for e in eps if n in e), {})
        window = f" ({first.get('start')} to {first.get('end')})" if first.get("start") else ""
        ep_tables.append(records_table(f"{n}{window}", recs, columns=list(EPISODE_COMPARE_COLUMNS),
                                       labels=ep_labels, index=("Run", labels),
                                       anchor=f"ep-{n}"))
    return ep_tables


def _diff_table(runs: Sequence[RunData], labels: list[str]) -> Table:
    """The flattened config keys whose values differ between the runs."""
    diff = config_diff([r.config for r in runs])
    diff_rows = [[Cell(k, "key")] + [Cell(param_text(v), "mono") for v in vals]
                 for k, vals in diff.items()]
    return Table("Parameters that differ", ["Parameter"] + labels, diff_rows,
                 anchor="params-diff", numeric=[False] * (len(labels) + 1),
                 highlight_rows=[True] * len(diff_rows),
                 note="Flattened config.json keys whose values are not the same in every run; "
                      "all other parameters are equal." if diff_rows else
                      "All runs have the same configuration.")


def _runs_table(runs: Sequence[RunData], labels: list[str]) -> Table:
    """Each run folder's name, data, period, seed and market hash."""
    run_rows = []
    for lab, r in zip(labels, runs, strict=True):
        prov = r.provenance
        run_rows.append([Cell(lab, "key"), Cell(str(r.config.get("name", DASH))),
                         Cell("SYNTHETIC" if prov.get("synthetic") else "real", "syn" if prov.get("synthetic") else ""),
                         Cell(str(prov.get("source", DASH))),
                         Cell(f"{prov.get('start', DASH)} to {prov.get('end', DASH)}"),
                         Cell(param_text(prov.get("seed"))), Cell(param_text(prov.get("market_hash")), "mono")])
    return Table("Runs", ["Run folder", "Name", "Data", "Source", "Period", "Seed", "Market hash"],
                 run_rows, anchor="runs")


def comparison_context(runs: Sequence[RunData]) -> dict[str, Any]:
    """Everything the comparison template shows."""
    labels = _labels(runs)
    tables = _metric_tables(runs, labels)
    ep_tables = _episode_tables(runs, labels)
    diff_table = _diff_table(runs, labels)
    windows: dict[str, F.Window] = {}
    for r in runs:
        for w in episode_windows(r.metrics):
            windows.setdefault(w.name, w)
    curves = {lab: r.equity["equity"] for lab, r in zip(labels, runs, strict=True)
              if "equity" in r.equity}
    fig = embed("fig-compare", "Equity and underwater",
                 "Growth of 1 (top) and drawdown from peak (bottom) of each run's equity.csv; "
                 "episode windows shaded.", F.compare_figure(curves, list(windows.values())),
                 "no equity column in these runs.")
    runs_table = _runs_table(runs, labels)
    trade = tradeoff_rows(runs)
    trade_fig = embed("fig-tradeoff", "Drawdown cut in each episode vs return given up",
                       "Per run against the first: points of max drawdown cut inside each episode, "
                       "and annual return given up on the days outside the episodes.",
                       F.tradeoff_figure(trade, list(_named_episodes(runs[0].metrics))),
                       "needs at least two runs.")
    synthetic = [lab for lab, r in zip(labels, runs, strict=True) if r.provenance.get("synthetic")]
    hashes = {r.provenance.get("market_hash") for r in runs}
    notes: dict[str, None] = {}
    for r in runs:
        for n in r.provenance.get("notes") or []:
            notes.setdefault(str(n), None)
    return {"labels": labels, "runs_table": runs_table, "diff_table": diff_table,
            "tables": tables, "episode_tables": ep_tables, "fig": fig,
            "synthetic": synthetic, "all_synthetic": len(synthetic) == len(runs),
            "notes": list(notes), "same_market": len(hashes) == 1,
            "tradeoff_table": _tradeoff_table(runs, trade), "tradeoff_fig": trade_fig}


def render_comparison(run_folders: Sequence[str | Path | RunData], out: str | Path) -> Path:
    """Render one HTML page comparing complete run folders side by side; return its path.

    Metrics (runs as columns), each episode's drawdown numbers per run, overlaid equity and
    underwater curves, and the configuration keys that differ (highlighted).
    """
    runs = _load_runs(run_folders)
    ctx = comparison_context(runs)
    html = environment().get_template("comparison.html").render(**ctx)
    return write_html(html, Path(out))

