"""HTML reports rendered from run folders only: the run tearsheet, the comparison and sweep pages.

Nothing here re-runs a backtest: every number comes from a run folder's files (``metrics.json``,
``equity.csv``, ``overlay_log.csv``, ``config.json``, ``provenance.json``) or a sweep's
``sweep.csv``. Pages are single self-contained HTML files (figures embedded as base64 PNG, CSS
inline, no script, no network) rendered with jinja2, and deterministic: the same folder renders to
the same bytes (no timestamps, sorted keys, fixed figure style).

Public entry points:

- :func:`render_tearsheet` (``run_folder -> tearsheet.html``), usable as ``write_run``'s
  ``render`` callback on the temporary folder before the atomic rename;
- :func:`render_comparison` and :func:`comparison_table` (data for the CLI's rich table);
- :func:`render_sweep` (heatmaps of metrics over two grid parameters);
- :func:`fmt_value`, :func:`flatten_config`, :func:`config_diff` (small helpers the CLI can share).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..feeds.errors import SqueezeLabError
from . import figures as F
from .rundir import RunData, config_hash, read_run

DASH = "\u2014"

# ---------------------------------------------------------------------------------------------
# number formatting (data-driven from key names)

#: Exact keys whose kind the word rules below would get wrong.
KEY_KINDS: dict[str, str] = {
    "days_to_cover": "ratio",
    "market_cap": "money",
    "shares": "int",
    "size": "num",
    "price": "money2",
    "signal": "ratio",
    "threshold": "ratio",
    "beta": "ratio",
    "beta_net": "ratio",
    "n_names": "int",
    "point": "int",
    "final_equity": "money",
    "seed": "int",
    "max_rel_diff": "sci",
    "value_at_risk": "spct",
    "conditional_value_at_risk": "spct",
    "stability": "ratio",
    "tolerance": "sci",
    "profitable": "bool",
    "is_tech": "bool",
}

#: Word rules, first match wins, matched against the ``_``/``.``-separated words of a key.
KIND_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ratio", ("sharpe", "sortino", "calmar", "beta", "ratio", "tstat", "t", "corr",
               "correlation", "skew", "skewness", "kurtosis", "r2", "rsquared", "zscore", "z",
               "stability", "tail", "omega", "information", "ir", "dtc")),
    ("int", ("days", "sessions", "n", "count", "trades", "decisions", "rank", "names", "fills",
             "periods", "lookback", "seed", "obs")),
    ("money", ("equity", "cash", "value", "commission", "commissions", "money", "notional",
               "usd", "capital", "cap", "dollars")),
    ("spct", ("return", "returns", "drawdown", "dd", "depth", "pnl", "contribution",
              "contributions", "alpha", "cagr", "market", "junk", "momentum", "quality",
              "residual", "idiosyncratic", "specific", "factor", "total", "long", "short",
              "hedge", "costs", "cost", "borrow", "excess", "var", "cvar")),
    ("pct", ("vol", "volatility", "exposure", "exposures", "gross", "net", "weight", "weights",
             "share", "interest", "hit", "turnover", "tracking", "pct", "frac", "fraction",
             "rate", "float")),
)


def value_kind(key: str) -> str:
    """How a metric named ``key`` is displayed: pct, spct (signed %), ratio, int, money or num."""
    last = key.rsplit(".", 1)[-1].lower()
    if last in KEY_KINDS:
        return KEY_KINDS[last]
    # the last word of the last part is the most specific (window_return, n_days, pnl_short)
    for words in (re.split(r"[_\s]+", last), re.split(r"[._\s]+", key.lower())):
        for w in reversed(words):
            for kind, vocab in KIND_RULES:
                if w in vocab:
                    return kind
    return "num"


def fmt_value(key: str, value: Any, kind: str | None = None) -> str:
    """Format one metric value for display from its key (or an explicit ``kind``).

    Returns and drawdowns as signed percentages, exposures and volatilities as percentages,
    ratios with 2 decimals, money with thousands separators, ISO date strings unchanged, missing
    values as an em dash.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(key, v, kind) for v in value) if value else DASH
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt_value(str(k), v)}" for k, v in value.items())
    kind = kind or value_kind(key)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return DASH
    if kind == "bool":
        return "yes" if x else "no"
    if kind == "spct":
        return f"{x * 100:+.2f}%".replace("+0.00%", "0.00%").replace("-0.00%", "0.00%")
    if kind == "pct":
        return f"{x * 100:.2f}%"
    if kind == "ratio":
        return f"{x:.2f}"
    if kind == "int":
        return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"
    if kind == "money":
        return f"{x:,.0f}"
    if kind == "money2":
        return f"{x:,.2f}"
    if kind == "sci":
        return f"{x:.2e}"
    if kind == "num1":
        return f"{x:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{x:,.4g}" if abs(x) < 1e6 else f"{x:,.0f}"


def label(key: str) -> str:
    """Human column label for a metric key (``max_drawdown`` -> ``Max drawdown``)."""
    last = str(key).rsplit(".", 1)[-1]
    if last in LABELS:
        return LABELS[last]
    text = last.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else str(key)


LABELS: dict[str, str] = {
    "sharpe": "Sharpe", "sortino": "Sortino", "calmar": "Calmar", "cagr": "CAGR",
    "annual_return": "Annual return", "annual_volatility": "Annual volatility",
    "total_return": "Total return", "max_drawdown": "Max drawdown", "pnl_long": "Long leg",
    "pnl_short": "Short leg", "pnl_hedge": "Hedge", "pnl_costs": "Costs",
    "window_return": "Window return", "n_days": "Days", "days": "Days",
    "short_interest": "Short interest", "days_to_cover": "Days to cover",
    "is_tech": "Tech", "beta_net": "Net beta", "ticker": "Ticker", "pnl": "PnL",
    "ok": "OK", "n_periods": "Drawdown periods", "max_abs_residual": "Max abs daily residual",
    "max_rel_diff": "Max relative difference", "worst_date": "Worst date",
}


def _is_negative(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(float(value)) and float(value) < 0


# ---------------------------------------------------------------------------------------------
# tables


@dataclass
class Cell:
    text: str
    css: str = ""


@dataclass
class Table:
    """A labelled, formatted table ready for the template (``rows`` hold :class:`Cell`)."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str = ""
    anchor: str = ""
    numeric: list[bool] = field(default_factory=list)
    highlight_rows: list[bool] = field(default_factory=list)


def _cell(key: str, value: Any, kind: str | None = None) -> Cell:
    text = fmt_value(key, value, kind)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    css = "num" if numeric else ""
    if _is_negative(value) and text.startswith("-") and text.strip("-0.,%") and \
            (kind or value_kind(key)) in ("spct", "ratio", "num", "money", "money2"):
        css += " neg"
    return Cell(text, css.strip())


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys (lists are kept as values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool)) or (
        isinstance(v, list) and all(not isinstance(x, (Mapping, list)) for x in v))


def records_table(title: str, records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                  labels: Mapping[str, str] | None = None, kinds: Mapping[str, str] | None = None,
                  note: str = "", anchor: str = "", index: tuple[str, Sequence[str]] | None = None,
                  ) -> Table:
    """A table from a list of flat-ish dicts: one row each, columns in first-seen key order.

    Nested mappings become dotted columns (``by_leg.short`` shown as ``Short``); values that are
    lists of records are skipped here (rendered as their own tables by the caller). ``index`` is
    an optional leading (header, values) column such as episode names.
    """
    labels = dict(labels or {})
    kinds = dict(kinds or {})
    flat = [{k: v for k, v in _flatten(r).items() if _scalar(v)} for r in records]
    if columns is None:
        seen: dict[str, None] = {}
        for r in flat:
            for k in r:
                seen.setdefault(k, None)
        columns = list(seen)
    else:
        columns = [c for c in columns if any(c in r for r in flat)]
    heads = ([index[0]] if index else []) + [labels.get(c, label(c)) for c in columns]
    numeric = ([False] if index else []) + [
        any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in flat)
        for c in columns]
    rows = []
    for i, r in enumerate(flat):
        row = [Cell(str(index[1][i]), "key")] if index else []
        row += [_cell(c, r.get(c), kinds.get(c)) for c in columns]
        rows.append(row)
    return Table(title, heads, rows, note=note, anchor=anchor, numeric=numeric)


def keyvalue_table(title: str, mapping: Mapping[str, Any], note: str = "", anchor: str = "",
                   kinds: Mapping[str, str] | None = None) -> Table:
    """A two-column (metric, value) table from a flat mapping of scalars."""
    kinds = dict(kinds or {})
    flat = {k: v for k, v in _flatten(mapping).items() if _scalar(v)}
    rows = []
    for k, v in flat.items():
        cell = _cell(k, v, kinds.get(k))
        cell.css = (cell.css + " num").strip() if "num" not in cell.css else cell.css
        rows.append([Cell(label(k) if "." not in k else " / ".join(label(p) for p in k.split(".")),
                          "key"), cell])
    return Table(title, ["Metric", "Value"], rows, note=note, anchor=anchor, numeric=[False, True])


def generic_tables(title: str, obj: Any, anchor: str = "", depth: int = 0) -> list[Table]:
    """Tables for any JSON section: scalars -> key/value, records -> rows, named dicts -> rows.

    Used for sections whose schema is not known in advance (new analyzers add keys freely).
    """
    out: list[Table] = []
    if isinstance(obj, Mapping):
        if not obj:
            return out
        if all(isinstance(v, Mapping) for v in obj.values()):
            names = list(obj)
            out.append(records_table(title, [obj[n] for n in names], anchor=anchor,
                                     index=("", names)))
            for n in names:
                for k, v in obj[n].items():
                    if isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v) \
                            and depth < 2:
                        out += generic_tables(f"{title}: {n}, {label(k).lower()}", v,
                                              depth=depth + 1)
            return out
        scalars = {k: v for k, v in obj.items() if _scalar(v) or isinstance(v, Mapping)}
        if scalars:
            out.append(keyvalue_table(title, scalars, anchor=anchor))
        for k, v in obj.items():
            if not (_scalar(v) or isinstance(v, Mapping)) and depth < 2:
                out += generic_tables(f"{title}: {label(k).lower()}", v, depth=depth + 1)
        return out
    if isinstance(obj, list) and obj and all(isinstance(x, Mapping) for x in obj):
        out.append(records_table(title, obj, anchor=anchor))
    return out


# ---------------------------------------------------------------------------------------------
# reading metrics.json (tolerant of list- or dict-shaped sections)


def _named(section: Any, key: str = "name") -> dict[str, dict[str, Any]]:
    """``{name: record}`` from a mapping of records or a list of records carrying ``name``."""
    if isinstance(section, Mapping):
        return {str(k): dict(v) for k, v in section.items() if isinstance(v, Mapping)}
    if isinstance(section, list):
        return {str(r.get(key, i)): dict(r) for i, r in enumerate(section) if isinstance(r, Mapping)}
    return {}


# ---------------------------------------------------------------------------------------------
# config and provenance helpers


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"book": {"gross": 2}}`` -> ``{"book.gross": 2}`` (lists kept as values)."""
    return _flatten(config)


def config_diff(configs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Flattened config keys whose values differ between runs: ``{key: [value per run]}``.

    A key missing from some runs counts as different (its value there is ``None``). Keys are
    sorted; ``name`` is included when names differ.
    """
    flats = [flatten_config(c) for c in configs]
    keys = sorted(set().union(*flats)) if flats else []
    out: dict[str, list[Any]] = {}
    for k in keys:
        vals = [f.get(k) for f in flats]
        if any(v != vals[0] or (k in f) != (k in flats[0]) for v, f in zip(vals, flats, strict=True)):
            out[k] = vals
    return out


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return DASH
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_param_text(v) for v in value) + "]" if value else "[]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else '""'


def _load(folder: str | Path | RunData) -> RunData:
    if isinstance(folder, RunData):
        return folder
    return read_run(folder, require_tearsheet=False)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader(__package__, "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals["DASH"] = DASH
    return env


def _write(html: str, out: Path) -> Path:
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(html)
    except OSError as err:
        raise SqueezeLabError(f"cannot write {out}: {err.strerror or err}; pick a writable path") from err
    return out


@dataclass
class FigureOut:
    """One embedded figure (or the note saying why it is missing)."""

    anchor: str
    title: str
    caption: str
    src: str = ""
    width: int = 0
    height: int = 0
    note: str = ""


def _embed(anchor: str, title: str, caption: str, fig: Any, missing: str) -> FigureOut:
    if fig is None:
        return FigureOut(anchor, title, caption, note=missing)
    src = F.png_data_uri(fig)
    w, h = F.png_size(src)
    return FigureOut(anchor, title, caption, src=src, width=w, height=h)


# ---------------------------------------------------------------------------------------------
# the run tearsheet (metrics.json schema: analyzers/report.py module docstring)

PERFORMANCE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Return and risk", ("cumulative_return", "annual_return", "annual_volatility", "sharpe_ratio",
                         "sortino_ratio", "calmar_ratio", "stability", "tail_ratio")),
    ("Drawdown and tails", ("max_drawdown", "value_at_risk", "conditional_value_at_risk",
                            "hit_rate")),
    ("Versus the index", ("benchmark", "alpha", "beta", "hit_rate_vs_benchmark",
                          "up_market_hit_rate", "down_market_hit_rate")),
    ("Period", ("start", "end", "n_days")),
)
PERFORMANCE_LABELS = {
    "cumulative_return": "Cumulative return", "annual_return": "Annual return",
    "annual_volatility": "Annual volatility", "sharpe_ratio": "Sharpe ratio",
    "sortino_ratio": "Sortino ratio", "calmar_ratio": "Calmar ratio",
    "stability": "Stability (R\u00b2 of log equity)", "tail_ratio": "Tail ratio",
    "max_drawdown": "Max drawdown", "value_at_risk": "Daily value at risk",
    "conditional_value_at_risk": "Daily expected shortfall", "hit_rate": "Up days",
    "benchmark": "Benchmark", "alpha": "Alpha (annualized)", "beta": "Beta",
    "hit_rate_vs_benchmark": "Days beating the index", "up_market_hit_rate": "Beating it, up days",
    "down_market_hit_rate": "Beating it, down days", "start": "First return",
    "end": "Last return", "n_days": "Days",
}
PERFORMANCE_KINDS = {"value_at_risk": "spct", "conditional_value_at_risk": "spct",
                     "stability": "ratio", "tail_ratio": "ratio", "alpha": "spct",
                     "hit_rate": "pct", "hit_rate_vs_benchmark": "pct",
                     "up_market_hit_rate": "pct", "down_market_hit_rate": "pct", "n_days": "int"}
LEG_PARTS = ("long", "short", "hedge", "commission", "borrow", "costs", "total", "residual")
LEG_LABELS = {"long": "Long leg", "short": "Short leg", "hedge": "Hedge", "commission": "Commission",
              "borrow": "Borrow", "costs": "Costs", "total": "Total", "residual": "Residual"}
REFERENCE_LABELS = {"index": "Index", "growth": "Growth index", "most_shorted": "Most-shorted",
                    "unprofitable_tech": "Unprofitable tech"}
EXPOSURE_LABELS = {"gross_exposure": "Gross", "net_exposure": "Net", "long_exposure": "Long",
                   "short_exposure": "Short", "beta_net_exposure": "Beta-adj. net",
                   "hedge_exposure": "Hedge", "n_long": "Names long", "n_short": "Names short",
                   "n_hedge": "Names hedged", "turnover": "Turnover / day"}
NAME_COLUMNS = ("ticker", "leg", "pnl", "contribution", "sector", "short_interest",
                "days_to_cover", "beta", "profitable", "is_tech")
NAME_LABELS = {"ticker": "Ticker", "leg": "Leg", "pnl": "PnL (before costs)",
               "contribution": "Contribution", "sector": "Sector",
               "short_interest": "Short interest", "days_to_cover": "Days to cover",
               "beta": "Beta", "profitable": "Profitable", "is_tech": "Tech"}
NAME_KINDS = {"pnl": "money", "contribution": "spct", "short_interest": "pct",
              "days_to_cover": "ratio", "beta": "ratio", "profitable": "bool", "is_tech": "bool"}
WHOLE_RUN = "whole run"


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def episode_entries(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Episode entries of metrics.json: named ones by start date, then detected ones in time order.

    Reads ``episodes.named`` / ``episodes.detected``; a flat ``{name: entry}`` mapping (an older
    layout) is read as named episodes.
    """
    eps = metrics.get("episodes")
    if not isinstance(eps, Mapping):
        return list(_named(eps).values())
    if "named" in eps or "detected" in eps:
        named = [{"name": k, **v} for k, v in _named(eps.get("named")).items()]
        detected = [dict(v) for v in eps.get("detected") or [] if isinstance(v, Mapping)]
    else:
        named = [{"name": k, **v} for k, v in _named(eps).items()]
        detected = []
    named.sort(key=lambda e: (str(e.get("start") or ""), str(e["name"])))
    for e in named:
        e.setdefault("kind", "named")
    return named + detected


def episode_windows(metrics: Mapping[str, Any], detected: bool = False) -> list[F.Window]:
    """Episode windows (name, first session, last session) of the named (and detected) episodes."""
    out = []
    for e in episode_entries(metrics):
        if e.get("kind", "named") != "named" and not detected:
            continue
        start = e.get("first_session") or e.get("start")
        end = e.get("last_session") or e.get("end")
        if start and end:
            out.append(F.Window(str(e.get("name")), pd.Timestamp(start), pd.Timestamp(end)))
    return out


def _window_order(metrics: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """``names`` in the tearsheet's episode order (named, then detected, then anything else)."""
    names = list(names)
    order = [str(e.get("name")) for e in episode_entries(metrics)]
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


def _performance_tables(metrics: Mapping[str, Any]) -> list[Table]:
    perf = metrics.get("performance")
    if not isinstance(perf, Mapping) or not perf:
        return []
    out, used = [], set()
    for title, keys in PERFORMANCE_GROUPS:
        present = [k for k in keys if k in perf]
        used.update(present)
        if present:
            rows = [[Cell(PERFORMANCE_LABELS.get(k, label(k)), "key"),
                     _cell(k, perf[k], PERFORMANCE_KINDS.get(k))] for k in present]
            out.append(Table(title, ["Metric", "Value"], rows, numeric=[False, True]))
    rest = {k: v for k, v in perf.items() if k not in used}
    if rest:
        out.append(keyvalue_table("Other", rest))
    return out


def _legs_cols(recs: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    present = {p for r in recs for p in (r.get(key) or {})}
    return [p for p in LEG_PARTS if p in present] + sorted(present - set(LEG_PARTS))


def _episode_tables(metrics: Mapping[str, Any]) -> list[Table]:
    entries = episode_entries(metrics)
    if not entries:
        return []
    names = [str(e.get("name")) for e in entries]
    main_cols = ["kind", "start", "end", "sessions", "return", "max_drawdown_in_window",
                 "peak_date", "trough_date", "depth", "peak_to_trough_sessions", "recovery_date"]
    recs = []
    for e in entries:
        r = {c: e.get(c) for c in main_cols if c in e}
        if "recovery_date" in e and e.get("recovery_date") is None and "recovered" in e:
            r["recovery_date"] = "not recovered" if not e.get("recovered") else None
        recs.append(r)
    labels = {"kind": "Kind", "start": "Start", "end": "End", "sessions": "Sessions",
              "return": "Window return", "max_drawdown_in_window": "Max DD in window",
              "peak_date": "Peak", "trough_date": "Trough", "depth": "Depth from peak",
              "peak_to_trough_sessions": "Peak\u2192trough sessions", "recovery_date": "Recovery"}
    kinds = {"return": "spct", "max_drawdown_in_window": "spct", "depth": "spct"}
    tables = [records_table(
        "Episode drawdowns", recs, columns=list(labels), labels=labels, kinds=kinds,
        index=("Episode", names), anchor="episodes",
        note="Window return: compounded from the close before the first session to the last "
             "close. Depth: the trough against the high-water mark (the peak may precede the "
             "window).")]
    leg_cols = _legs_cols(entries, "legs")
    if leg_cols:
        recs_l = [{p: _get(e, "legs", p) for p in leg_cols} for e in entries]
        tables.append(records_table(
            "Window return by leg", recs_l, columns=leg_cols,
            labels={p: LEG_LABELS.get(p, label(p)) for p in leg_cols},
            kinds=dict.fromkeys(leg_cols, "spct"), index=("Episode", names), anchor="episode-legs",
            note="Each leg's PnL over the window as a fraction of the equity at the close before "
                 "it; costs are negative when paid."))
    refs = [e.get("reference_returns") or {} for e in entries]
    ref_cols = [c for c in REFERENCE_LABELS if any(c in r for r in refs)]
    ref_cols += sorted({c for r in refs for c in r} - set(ref_cols))
    if ref_cols:
        recs2 = [{"return": e.get("return"), **{c: r.get(c) for c in ref_cols}}
                 for e, r in zip(entries, refs, strict=True)]
        tables.append(records_table(
            "Book vs reference series in each window", recs2, columns=["return", *ref_cols],
            labels={"return": "Book", **{c: REFERENCE_LABELS.get(c, label(c)) for c in ref_cols}},
            kinds=dict.fromkeys(["return", *ref_cols], "spct"), index=("Episode", names),
            note="Compounded returns over the same sessions."))
    dl = [e.get("drawdown_legs") or {} for e in entries]
    dl_cols = _legs_cols([{"x": d} for d in dl], "x")
    if dl_cols:
        keep = [i for i, d in enumerate(dl) if d]
        tables.append(records_table(
            "Peak-to-trough move by leg", [dl[i] for i in keep], columns=dl_cols,
            labels={p: LEG_LABELS.get(p, label(p)) for p in dl_cols},
            kinds=dict.fromkeys(dl_cols, "spct"), index=("Episode", [names[i] for i in keep]),
            note="Each leg's PnL from the peak to the trough, as a fraction of the peak equity."))
    descr = [(n, e.get("description")) for n, e in zip(names, entries, strict=True)
             if e.get("description")]
    if descr:
        tables.append(Table("Episode descriptions", ["Episode", "Description"],
                            [[Cell(n, "key"), Cell(str(d), "wrap")] for n, d in descr]))
    eps = metrics.get("episodes") if isinstance(metrics.get("episodes"), Mapping) else {}
    skipped = eps.get("skipped") or []
    if skipped:
        tables.append(records_table("Episodes skipped", skipped,
                                    columns=["name", "start", "end", "reason"]))
    det = eps.get("detection")
    if isinstance(det, Mapping) and det:
        tables.append(keyvalue_table("Episode detection", det,
                                     kinds={"threshold": "ratio", "lookback": "int",
                                            "top_drawdowns": "int"}))
    return tables


def _drawdown_tables(metrics: Mapping[str, Any]) -> list[Table]:
    dd = metrics.get("drawdowns")
    if not isinstance(dd, Mapping):
        return generic_tables("Top drawdowns", dd, anchor="drawdowns") if dd else []
    out = []
    table = dd.get("table") or []
    if table:
        cols = ["drawdown", "peak_date", "valley_date", "recovery_date", "peak_to_valley_sessions",
                "duration", "sessions", "recovered"]
        extra = [c for r in table for c in r if c not in cols]
        labels = {"drawdown": "Depth", "peak_date": "Peak", "valley_date": "Trough",
                  "recovery_date": "Recovery", "peak_to_valley_sessions": "Peak\u2192trough (sessions)",
                  "duration": "Duration (business days)", "sessions": "Sessions",
                  "recovered": "Recovered"}
        recs = [{**r, "recovery_date": r.get("recovery_date") or
                 ("not recovered" if r.get("recovered") is False else None)} for r in table]
        out.append(records_table("Top drawdowns", recs,
                                 columns=cols + list(dict.fromkeys(extra)), labels=labels,
                                 kinds={"drawdown": "spct", "duration": "int", "sessions": "int"},
                                 index=("#", [str(i + 1) for i in range(len(table))]),
                                 anchor="drawdowns",
                                 note="Worst first; duration runs from the peak to the recovery."))
    summary = {k: v for k, v in dd.items() if k != "table"}
    if summary:
        out.append(keyvalue_table("Drawdown summary", summary,
                                  kinds={"max_drawdown": "spct", "current_drawdown": "spct",
                                         "n_periods": "int"}))
    return out


def _attribution_windows(metrics: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    att = metrics.get("attribution") or {}
    eps = _named(att.get("episodes"))
    out = []
    if isinstance(att.get("overall"), Mapping):
        out.append((WHOLE_RUN, dict(att["overall"])))
    out += [(n, eps[n]) for n in _window_order(metrics, eps)]
    return out


def _name_tables(metrics: Mapping[str, Any]) -> list[Table]:
    out = []
    windows = _attribution_windows(metrics)
    # episodes first: the whole run's names go last
    windows = [w for w in windows if w[0] != WHOLE_RUN] + [w for w in windows if w[0] == WHOLE_RUN]
    for name, rec in windows:
        top = rec.get("top_names") or {}
        for side in ("detractors", "contributors"):
            items = top.get(side) or []
            if not items:
                continue
            cols = [c for c in NAME_COLUMNS if any(c in x for x in items)]
            cols += list(dict.fromkeys(c for x in items for c in x if c not in cols))
            out.append(records_table(f"{name}: top {side}", items, columns=cols,
                                     labels=NAME_LABELS, kinds=NAME_KINDS,
                                     anchor=f"names-{name}-{side}"))
    return out


def _attribution_tables(metrics: Mapping[str, Any]) -> list[Table]:
    att = metrics.get("attribution")
    if not isinstance(att, Mapping) or not att:
        return []
    windows = _attribution_windows(metrics)
    out = []
    legs = [(n, r.get("legs") or {}) for n, r in windows if r.get("legs")]
    if legs:
        contrib = [lg.get("contribution") or {} for _, lg in legs]
        cols = _legs_cols([{"x": c} for c in contrib], "x")
        recs = [{**{p: c.get(p) for p in cols}, "base_equity": lg.get("base_equity")}
                for c, (_, lg) in zip(contrib, legs, strict=True)]
        out.append(records_table(
            "PnL by leg", recs, columns=[*cols, "base_equity"],
            labels={**{p: LEG_LABELS.get(p, label(p)) for p in cols}, "base_equity": "Base equity"},
            kinds={**dict.fromkeys(cols, "spct"), "base_equity": "money"},
            index=("Window", [n for n, _ in legs]), anchor="legs",
            note="Contribution of each leg and cost to the window's return (PnL / equity at the "
                 "close before the window); costs are negative when paid."))
    facs = [(n, r.get("factors")) for n, r in windows if isinstance(r.get("factors"), Mapping)]
    if facs:
        names: dict[str, None] = {}
        for _, f in facs:
            for k in (f.get("factors") or list((f.get("contribution") or {}).keys())):
                names.setdefault(str(k), None)
        fcols = list(names)
        recs, brecs = [], []
        for _, f in facs:
            c, b = f.get("contribution") or {}, f.get("betas") or {}
            recs.append({"window_return": f.get("window_return"), "sum_return": f.get("sum_return"),
                         **{k: c.get(k) for k in fcols}, "specific": f.get("specific"),
                         "r2": f.get("r2"), "n_obs": f.get("n_obs")})
            brecs.append({**{k: b.get(k) for k in fcols}, "alpha": f.get("alpha")})
        cols = ["window_return", "sum_return", *fcols, "specific", "r2", "n_obs"]
        src = att.get("factor_source")
        src_note = {"factors": "the market's factor returns",
                    "reference": "the reference series (index, most-shorted basket) as factor proxies",
                    "none": "no factors available"}.get(str(src), str(src)) if src else ""
        out.append(records_table(
            "Factor attribution", recs, columns=cols,
            labels={"window_return": "Window return", "sum_return": "Sum of daily returns",
                    **{k: label(k) for k in fcols}, "specific": "Specific", "r2": "R\u00b2",
                    "n_obs": "Days"},
            kinds={"window_return": "spct", "sum_return": "spct", **dict.fromkeys(fcols, "spct"),
                   "specific": "spct", "r2": "ratio", "n_obs": "int"},
            index=("Window", [n for n, _ in facs]), anchor="factors",
            note="OLS of daily book returns on daily factor returns in each window: contribution = "
                 "beta \u00d7 summed factor return; specific = the rest of the summed return"
                 + (f". Factors: {src_note}." if src_note else ".")))
        out.append(records_table(
            "Factor betas", brecs, columns=[*fcols, "alpha"],
            labels={**{k: label(k) for k in fcols}, "alpha": "Alpha (daily)"},
            kinds={**dict.fromkeys(fcols, "ratio"), "alpha": "spct"},
            index=("Window", [n for n, _ in facs])))
    extra = {k: v for k, v in att.items() if k not in ("overall", "episodes", "factor_source")}
    if extra:
        out.append(keyvalue_table("Attribution checks", extra,
                                  kinds={"max_abs_residual": "money2"}))
    return out


def _exposure_tables(metrics: Mapping[str, Any]) -> list[Table]:
    ex = metrics.get("exposures")
    if not isinstance(ex, Mapping) or not ex:
        return []
    windows: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(ex.get("overall"), Mapping):
        windows.append((WHOLE_RUN, ex["overall"]))
    eps = _named(ex.get("episodes"))
    windows += [(n, eps[n]) for n in _window_order(metrics, eps)]
    if not windows:
        return generic_tables("Exposures", ex, anchor="exposures")
    present = {c for _, w in windows for c in w}
    cols = [c for c in EXPOSURE_LABELS if c in present]
    kinds = {c: ("num1" if c.startswith("n_") else "pct") for c in cols}
    recs = [{c: _get(w, c, "mean") for c in cols} for _, w in windows]
    out = [records_table("Average exposures", recs, columns=cols, labels=EXPOSURE_LABELS,
                         kinds=kinds,
                         index=("Window", [n for n, _ in windows]), anchor="exposures",
                         note="Means over each window's sessions, as fractions of equity "
                              "(names: average count; turnover: traded value / previous equity).")]
    gcol = "gross_exposure" if "gross_exposure" in present else None
    if gcol:
        stats = ("at_start", "at_end", "min", "max")
        picks = [(gcol, stats), ("beta_net_exposure", ("at_start", "at_end"))]
        recs = [{f"{c}.{s}": _get(w, c, s) for c, sts in picks for s in sts
                 if _get(w, c, s) is not None} for _, w in windows]
        cols2 = list(dict.fromkeys(k for r in recs for k in r))
        slab = {"at_start": "start", "at_end": "end", "min": "min", "max": "max"}
        out.append(records_table(
            "Exposure path", recs, columns=cols2,
            labels={k: f"{EXPOSURE_LABELS[k.split('.')[0]]} {slab[k.split('.')[1]]}" for k in cols2},
            kinds=dict.fromkeys(cols2, "pct"), index=("Window", [n for n, _ in windows]),
            note="Exposure at the window's first and last session, and its range inside it."))
    return out


def _overlay_tables(metrics: Mapping[str, Any], log: pd.DataFrame) -> list[Table]:
    out = []
    ov = metrics.get("overlay")
    if isinstance(ov, Mapping) and ov:
        def acts(a: Any) -> str:
            if not isinstance(a, Mapping) or not a:
                return DASH
            return ", ".join(f"{k} \u00d7{v}" for k, v in a.items())

        rows = [{"n_decisions": ov.get("n_decisions"), "first_date": ov.get("first_date"),
                 "first_action": None, "sessions_to_first": None, "actions": acts(ov.get("actions"))}]
        names = [WHOLE_RUN]
        eps = _named(ov.get("episodes"))
        for n in _window_order(metrics, eps):
            e = eps[n]
            rows.append({"n_decisions": e.get("n_decisions"), "first_date": e.get("first_date"),
                         "first_action": e.get("first_action"),
                         "sessions_to_first": e.get("sessions_to_first"),
                         "actions": acts(e.get("actions"))})
            names.append(n)
        out.append(records_table(
            "Overlay decisions per window", rows,
            columns=["n_decisions", "first_date", "first_action", "sessions_to_first", "actions"],
            labels={"n_decisions": "Decisions", "first_date": "First decision",
                    "first_action": "First action", "sessions_to_first": "Sessions to first",
                    "actions": "Actions"},
            kinds={"n_decisions": "int", "sessions_to_first": "int"},
            index=("Window", names), anchor="overlay-summary",
            note="Sessions to first: from the window's first session to the overlay's first "
                 "decision in it (how fast it reacted)."))
    t = _overlay_log_table(log)
    if t is not None:
        out.append(t)
    return out


def _overlay_log_table(log: pd.DataFrame, limit: int = 200) -> Table | None:
    if log is None or log.empty:
        return None
    df = log.copy()
    if "date" in df:
        df["date"] = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d")
    df = df.astype(object).where(df.notna(), None)
    recs = df.to_dict("records")
    note = f"{len(recs)} decisions (overlay_log.csv)" + (
        f"; the first {limit} shown" if len(recs) > limit else "")
    return records_table("Overlay decisions", recs[:limit], kinds={"size": "num", "signal": "ratio"},
                         anchor="decisions", note=note)


def _reconciliation_tables(metrics: Mapping[str, Any]) -> list[Table]:
    rec = metrics.get("reconciliation")
    if not isinstance(rec, Mapping) or not rec:
        return []
    return [keyvalue_table("Engine vs vectorized twin", rec,
                           kinds={"max_rel_diff": "sci", "tolerance": "sci",
                                  "final_value.backtrader": "money2",
                                  "final_value.vectorized": "money2"},
                           note="Largest relative difference between the backtrader and the "
                                "vectorized twin's equity curves on the same targets.")]


def _header(run: RunData) -> dict[str, Any]:
    cfg, prov = run.config, run.provenance
    eq = run.equity
    start = prov.get("start") or (eq.index[0].strftime("%Y-%m-%d") if len(eq) else None)
    end = prov.get("end") or (eq.index[-1].strftime("%Y-%m-%d") if len(eq) else None)
    facts = [
        ("Data source", str(prov.get("source", (cfg.get("data") or {}).get("source", DASH)))),
        ("Period", f"{start} to {end} ({len(eq):,} sessions)"),
        ("Seed", _param_text(prov.get("seed"))),
        ("Market hash", _param_text(prov.get("market_hash"))),
        ("Names", _param_text(prov.get("n_names"))),
        ("Config hash", config_hash(cfg)),
    ]
    sections = []
    for sec in ("book", "overlay", "execution", "analysis", "data"):
        params = cfg.get(sec)
        if isinstance(params, Mapping) and params:
            sections.append((sec, [(k, _param_text(v)) for k, v in _flatten(params).items()]))
    versions = prov.get("versions") or {}
    return {
        "name": str(cfg.get("name") or run.path.name),
        "synthetic": bool(prov.get("synthetic")),
        "notes": [str(n) for n in (prov.get("notes") or [])],
        "facts": facts,
        "period": f"{start} to {end}",
        "params": sections,
        "command": prov.get("command") or "",
        "versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
    }


def _generic_section(metrics: Mapping[str, Any], section: str, title: str) -> list[Table]:
    obj = metrics.get(section)
    if obj in (None, {}, []):
        return []
    return generic_tables(title, obj, anchor=section)


#: metrics.json sections with a dedicated layout; any other section is shown generically.
KNOWN_SECTIONS = ("performance", "episodes", "drawdowns", "attribution", "exposures", "overlay",
                  "reconciliation")


def _thresholds(config: Mapping[str, Any]) -> dict[str, float]:
    """The overlay's entry/exit signal thresholds from config.json (numbers only)."""
    ov = config.get("overlay") if isinstance(config.get("overlay"), Mapping) else {}
    out = {}
    for key, name in (("threshold", "entry"), ("exit_threshold", "exit")):
        v = ov.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[name] = float(v)
    return out


def tearsheet_context(run: RunData) -> dict[str, Any]:
    """Everything the tearsheet template shows, computed from a run folder's contents."""
    eq, metrics = run.equity, run.metrics
    windows = episode_windows(metrics)
    leg_windows = windows or episode_windows(metrics, detected=True)[:4]
    figs = [
        _embed("fig-equity", "Cumulative return",
               "Growth of 1 for the book and the reference series (equity.csv); named episode "
               "windows shaded.", F.equity_figure(eq, windows), "equity.csv has no equity column."),
        _embed("fig-underwater", "Underwater",
               "Drawdown from the running peak of equity; episode windows from metrics.json "
               "shaded.", F.underwater_figure(eq, windows), "equity.csv has no equity column."),
        _embed("fig-beta", "Beta and exposures",
               f"Realized beta: {F.BETA_WINDOW}-day rolling OLS of book returns on index returns; "
               "ex-ante beta: holdings \u00d7 name betas / equity. Exposures as fractions of "
               "equity.", F.beta_exposure_figure(eq, windows),
               "equity.csv has no index returns, no beta and no exposure columns."),
        _embed("fig-legs", "Leg PnL through each episode",
               "Cumulative daily PnL by leg inside each window, as a fraction of the equity at "
               "the close before the window.", F.leg_pnl_figure(eq, leg_windows),
               "no pnl_* columns in equity.csv or no episode inside the run."),
        _embed("fig-overlay", "Overlay signal and actions",
               "Junk-rally signal (equity.csv) with each overlay decision (overlay_log.csv) "
               "marked by action; shaded where the overlay was on.",
               F.overlay_figure(eq, run.overlay_log, windows, _thresholds(run.config)),
               "no junk_signal column and no overlay decisions in this run."),
    ]
    sections: list[dict[str, Any]] = []

    def add(anchor: str, title: str, ts: Iterable[Table | None], grid: bool = False) -> None:
        ts = [t for t in ts if t is not None]
        if ts:
            sections.append({"anchor": anchor, "title": title, "tables": ts, "grid": grid})

    add("performance", "Performance", _performance_tables(metrics), grid=True)
    add("episodes", "Episodes", _episode_tables(metrics))
    add("drawdowns", "Top drawdowns", _drawdown_tables(metrics))
    add("names", "Single names per episode", _name_tables(metrics), grid=True)
    add("attribution", "Attribution", _attribution_tables(metrics))
    add("exposures", "Exposures per episode", _exposure_tables(metrics))
    add("overlay", "Overlay", _overlay_tables(metrics, run.overlay_log))
    add("reconciliation", "Reconciliation", _reconciliation_tables(metrics))
    for sec in sorted(k for k in metrics if k not in KNOWN_SECTIONS):
        add(sec, label(sec), _generic_section(metrics, sec, label(sec)))
    lead = [sec for sec in sections if sec["anchor"] == "performance"]
    rest = [sec for sec in sections if sec["anchor"] != "performance"]
    return {"h": _header(run), "figures": figs, "lead_sections": lead, "sections": rest}


def render_tearsheet(run_folder: str | Path, out: str | Path | None = None) -> Path:
    """Render ``tearsheet.html`` (or ``out``) from a run folder's files and return its path.

    Works on a complete folder and on the temporary folder ``write_run`` passes to its ``render``
    callback (tearsheet.html not written yet). Self-contained and byte-deterministic.
    """
    run = _load(run_folder)
    ctx = tearsheet_context(run)
    html = _environment().get_template("tearsheet.html").render(**ctx)
    return _write(html, Path(out) if out is not None else Path(run_folder) / "tearsheet.html")


# ---------------------------------------------------------------------------------------------
# comparison of runs

#: Episode keys shown side by side on the comparison page and in the CLI table.
COMPARE_EPISODE_KEYS = ("return", "max_drawdown_in_window", "depth", "legs.long", "legs.short",
                        "legs.hedge", "legs.costs")
COMPARE_EPISODE_LABELS = {"return": "window return", "max_drawdown_in_window": "max DD in window",
                          "depth": "depth from peak", "legs.long": "long leg",
                          "legs.short": "short leg", "legs.hedge": "hedge", "legs.costs": "costs"}
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
    return {str(e.get("name")): e for e in episode_entries(metrics) if e.get("kind", "named") == "named"}


def _compare_rows(runs: Sequence[RunData]) -> list[tuple[str, str, str | None, list[Any]]]:
    """(key, label, kind, value per run): performance metrics, then named episodes' headlines."""
    rows: list[tuple[str, str, str | None, list[Any]]] = []
    perfs = [r.metrics.get("performance") or {} for r in runs]
    keys: dict[str, None] = {}
    for _title, group in PERFORMANCE_GROUPS:
        for k in group:
            if k != "benchmark" and any(k in p for p in perfs):
                keys.setdefault(k, None)
    for p in perfs:
        for k, v in p.items():
            if k != "benchmark" and k not in keys and _scalar(v) and not isinstance(v, list):
                keys.setdefault(k, None)
    for k in keys:
        rows.append((k, PERFORMANCE_LABELS.get(k, label(k)), PERFORMANCE_KINDS.get(k),
                     [p.get(k) for p in perfs]))
    eps = [_named_episodes(r.metrics) for r in runs]
    names: dict[str, None] = {}
    for e in eps:
        for n in e:
            names.setdefault(n, None)
    for n in names:
        flats = [_flatten(e.get(n, {})) for e in eps]
        for k in COMPARE_EPISODE_KEYS:
            if any(k in f for f in flats):
                rows.append((f"episodes.{n}.{k}", f"{n}: {COMPARE_EPISODE_LABELS[k]}", "spct",
                             [f.get(k) for f in flats]))
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
    base = runs[0].metrics
    names = list(_named_episodes(base))

    def ep_dd(m: Mapping[str, Any], n: str) -> float | None:
        return _get(m, "episodes", "named", n, "max_drawdown_in_window")

    def diff(a: Any, b: Any) -> float | None:
        return None if a is None or b is None else float(a) - float(b)

    rows = []
    for lab, r in zip(labels[1:], runs[1:], strict=True):
        m = r.metrics
        row: dict[str, Any] = {"run": lab, "baseline": labels[0]}
        for n in names:
            row[f"{n}.drawdown"] = ep_dd(m, n)
            row[f"{n}.saved"] = diff(ep_dd(m, n), ep_dd(base, n))
        for k in ("annual_return", "sharpe_ratio"):
            row[f"outside.{k}"] = diff(_get(m, "performance", "outside_episodes", k),
                                       _get(base, "performance", "outside_episodes", k))
            row[f"full.{k}"] = diff(_get(m, "performance", k), _get(base, "performance", k))
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
            cells.append(_cell(key, v, kind))
        body.append(cells)
    return Table("What the overlay saves and what it costs", heads, body, anchor="tradeoff",
                 numeric=[False] + [True] * (len(heads) - 1),
                 note=f"Against {rows[0]['baseline']}: 'cut by' is the change in the max drawdown "
                      "inside the episode window in points (positive = smaller drawdown); "
                      "'outside episodes' uses only the days outside every named episode.")


def comparison_context(runs: Sequence[RunData]) -> dict[str, Any]:
    """Everything the comparison template shows."""
    labels = _labels(runs)
    heads = ["Metric"] + labels
    num = [False] + [True] * len(labels)
    perf_rows, ep_rows = [], []
    for key, text, kind, vals in _compare_rows(runs):
        row = [Cell(text, "key")] + [_cell(key, v, kind) for v in vals]
        (ep_rows if key.startswith("episodes.") else perf_rows).append(row)
    tables = []
    if perf_rows:
        tables.append(Table("Performance", heads, perf_rows, anchor="metrics", numeric=num))
    if ep_rows:
        tables.append(Table("Named episodes", heads, ep_rows, anchor="episode-metrics",
                            numeric=num))
    # episode drawdowns per run: one table per named episode, runs as rows
    eps = [_named_episodes(r.metrics) for r in runs]
    names: dict[str, None] = {}
    for e in eps:
        for n in e:
            names.setdefault(n, None)
    ep_tables = []
    ep_labels = {"return": "Window return", "max_drawdown_in_window": "Max DD in window",
                 "peak_date": "Peak", "trough_date": "Trough", "depth": "Depth (from peak)",
                 "peak_to_trough_sessions": "Peak\u2192trough (sessions)", "recovery_date": "Recovery",
                 **{f"legs.{p}": LEG_LABELS[p] for p in ("long", "short", "hedge", "costs")},
                 "reference_returns.most_shorted": "Most-shorted basket"}
    ep_kinds = {"return": "spct", "max_drawdown_in_window": "spct", "depth": "spct",
                "peak_to_trough_sessions": "int",
                **{f"legs.{p}": "spct" for p in ("long", "short", "hedge", "costs")},
                "reference_returns.most_shorted": "spct"}
    for n in names:
        recs = []
        for e in eps:
            rec = {k: v for k, v in _flatten(e.get(n, {})).items() if k in ep_labels}
            if rec and rec.get("recovery_date") is None and _get(e, n, "recovered") is False:
                rec["recovery_date"] = "not recovered"
            recs.append(rec)
        first = next((e[n] for e in eps if n in e), {})
        window = f" ({first.get('start')} to {first.get('end')})" if first.get("start") else ""
        ep_tables.append(records_table(f"{n}{window}", recs, columns=list(EPISODE_COMPARE_COLUMNS),
                                       labels=ep_labels, kinds=ep_kinds, index=("Run", labels),
                                       anchor=f"ep-{n}"))
    diff = config_diff([r.config for r in runs])
    diff_rows = [[Cell(k, "key")] + [Cell(_param_text(v), "mono") for v in vals]
                 for k, vals in diff.items()]
    diff_table = Table("Parameters that differ", ["Parameter"] + labels, diff_rows,
                       anchor="params-diff", numeric=[False] * (len(labels) + 1),
                       highlight_rows=[True] * len(diff_rows),
                       note="Flattened config.json keys whose values are not the same in every run; "
                            "all other parameters are equal." if diff_rows else
                            "All runs have the same configuration.")
    windows: dict[str, F.Window] = {}
    for r in runs:
        for w in episode_windows(r.metrics):
            windows.setdefault(w.name, w)
    curves = {lab: r.equity["equity"] for lab, r in zip(labels, runs, strict=True)
              if "equity" in r.equity}
    fig = _embed("fig-compare", "Equity and underwater",
                 "Growth of 1 (top) and drawdown from peak (bottom) of each run's equity.csv; "
                 "episode windows shaded.", F.compare_figure(curves, list(windows.values())),
                 "no equity column in these runs.")
    run_rows = []
    for lab, r in zip(labels, runs, strict=True):
        prov = r.provenance
        run_rows.append([Cell(lab, "key"), Cell(str(r.config.get("name", DASH))),
                         Cell("SYNTHETIC" if prov.get("synthetic") else "real", "syn" if prov.get("synthetic") else ""),
                         Cell(str(prov.get("source", DASH))),
                         Cell(f"{prov.get('start', DASH)} to {prov.get('end', DASH)}"),
                         Cell(_param_text(prov.get("seed"))), Cell(_param_text(prov.get("market_hash")), "mono")])
    runs_table = Table("Runs", ["Run folder", "Name", "Data", "Source", "Period", "Seed", "Market hash"],
                       run_rows, anchor="runs")
    trade = tradeoff_rows(runs)
    trade_fig = _embed("fig-tradeoff", "Drawdown cut in each episode vs return given up",
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
    html = _environment().get_template("comparison.html").render(**ctx)
    return _write(html, Path(out))


# ---------------------------------------------------------------------------------------------
# sweep page

LOWER_IS_BETTER = ("vol", "volatility", "turnover", "cost", "costs", "commission", "borrow")


def _read_sweep(sweep_csv: Path) -> pd.DataFrame:
    p = Path(sweep_csv)
    if not p.is_file():
        raise SqueezeLabError(f"sweep file {p} not found: give the sweep.csv a sweep wrote")
    try:
        df = pd.read_csv(p)
    except (ValueError, OSError) as err:
        raise SqueezeLabError(f"sweep file {p} is not a readable CSV ({err}): re-run the sweep") from err
    if df.empty:
        raise SqueezeLabError(f"sweep file {p} has no grid points: run the sweep first")
    return df


def sweep_grid(df: pd.DataFrame, x: str, y: str, metric: str) -> tuple[pd.DataFrame, int]:
    """Mean of ``metric`` per (y, x) grid cell (rows y, columns x, sorted) and the most points in
    one cell (above 1 when other grid parameters vary too). ``x == y`` gives a single row."""
    vals = pd.to_numeric(df[metric], errors="coerce")
    frame = pd.DataFrame({"x": df[x].to_numpy(), "y": df[y].to_numpy() if y != x else "",
                          "v": vals.to_numpy()})
    grid = frame.pivot_table(index="y", columns="x", values="v", aggfunc="mean", dropna=False,
                             sort=True)
    counts = frame.groupby(["y", "x"], sort=True)["v"].size()
    grid.index.name, grid.columns.name = (y if y != x else None), x
    return grid, int(counts.max()) if len(counts) else 0


#: Column prefixes of configuration keys in sweep.csv (shown as given, not as metrics).
PARAM_PREFIXES = ("name", "data.", "book.", "overlay.", "execution.", "analysis.")


def _sweep_info(folder: Path) -> dict[str, Any]:
    """Provenance of a sweep folder: ``sweep.json`` (its ``market`` entry) or ``provenance.json``."""
    for name, key in (("sweep.json", "market"), ("provenance.json", None)):
        p = folder / name
        if p.is_file():
            try:
                data = json.loads(p.read_text())
            except ValueError:
                continue
            info = data.get(key) if key else data
            if isinstance(info, Mapping):
                out = dict(info)
                if key and isinstance(data.get("grid"), list):
                    out["grid"] = [g[0] for g in data["grid"] if isinstance(g, list) and g]
                if key and data.get("engine"):
                    out["engine"] = data["engine"]
                return out
    return {}


def render_sweep(sweep_csv: str | Path, out: str | Path, x: str, y: str,
                 metrics: Sequence[str], limit: int = 1000) -> Path:
    """Render a sweep page: one heatmap per metric over grid parameters ``x`` (columns) and ``y``
    (rows), and the table of points (every column of ``sweep_csv``); return its path.

    Cells with several points (other grid parameters vary too) show their mean, and the caption
    says so; ``x == y`` gives one row per metric. ``sweep.json`` (or ``provenance.json``) next to
    the CSV, when present, drives the SYNTHETIC banner and the data line.
    """
    path = Path(sweep_csv)
    df = _read_sweep(path)
    metrics = list(dict.fromkeys(metrics))
    if not metrics:
        raise SqueezeLabError("no metric to plot: pass at least one sweep.csv column as a metric")
    cols = [str(c) for c in df.columns]
    for what, name in [("x", x), ("y", y)] + [("metric", m) for m in metrics]:
        if name not in df.columns:
            raise SqueezeLabError(
                f"sweep {what} column {name!r} is not in {path.name}: columns are {', '.join(cols)}"
            )
    info = _sweep_info(path.parent)
    grid_keys = [k for k in info.get("grid", []) if k in cols] or \
        [c for c in cols if c.startswith(PARAM_PREFIXES)]
    others = [k for k in grid_keys if k not in (x, y)]
    figs = []
    for m in metrics:
        grid, per_cell = sweep_grid(df, x, y, m)
        words = re.split(r"[._\s]+", m.lower())
        lower = any(w in LOWER_IS_BETTER for w in words)
        fig = F.heatmap_figure(grid, m, x, y if y != x else "", fmt=lambda v, _m=m: fmt_value(_m, v),
                               higher_is_better=not lower)
        cap = f"{label(m)} over {x}" + (f" (columns) and {y} (rows)" if y != x else "")
        if per_cell > 1:
            cap += (f"; each cell is the mean of {per_cell} points"
                    + (f" over {', '.join(others)}" if others else ""))
        cap += "; green is better" + (" (lower is better here)." if lower else ".")
        figs.append(_embed(f"heat-{len(figs)}", f"Heatmap of {m}", cap, fig, ""))
    params = set(grid_keys) | {x, y}
    pts = df.sort_values([c for c in ("point",) if c in df.columns] or [y, x], kind="stable")
    pts = pts.reset_index(drop=True)
    pts = pts.astype(object).where(pts.notna(), None)
    recs = pts.to_dict("records")
    rows = []
    for r in recs[:limit]:
        rows.append([Cell(_param_text(r[c]), "mono") if c in params else _cell(c, r[c])
                     for c in df.columns])
    note = f"{len(recs)} grid points" + (f"; the first {limit} shown" if len(recs) > limit else "")
    table = Table("Grid points", cols, rows, note=note, anchor="points",
                  numeric=[c not in params and pd.api.types.is_numeric_dtype(df[c])
                           for c in df.columns],
                  highlight_rows=[])
    data_line = ""
    if info.get("source"):
        data_line = (f"{info.get('source')} data, {info.get('start', DASH)} to {info.get('end', DASH)}"
                     f", {_param_text(info.get('n_names'))} names, seed {_param_text(info.get('seed'))}"
                     f", market hash {_param_text(info.get('market_hash'))}")
        if info.get("engine"):
            data_line += f", engine {info['engine']}"
    synthetic = bool(info.get("synthetic")) or (
        "synthetic" in df.columns and df["synthetic"].astype(str).str.lower().isin(["true", "1"]).any())
    ctx = {"title": path.parent.name or "sweep", "csv": path.name, "x": x, "y": y,
           "metrics": metrics, "figures": figs, "table": table, "n_points": len(df),
           "synthetic": synthetic, "data_line": data_line,
           "notes": [str(n) for n in (info.get("notes") or [])]}
    html = _environment().get_template("sweep.html").render(**ctx)
    return _write(html, Path(out))
