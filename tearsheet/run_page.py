"""The run tearsheet: one self-contained page from a run folder's files.

Schema of metrics.json: :mod:`squeeze_lab.analyzers.report`. Nothing is recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import figures as F
from .formatting import (
    DASH,
    Cell,
    Table,
    cell,
    dig,
    flatten,
    generic_tables,
    keyvalue_table,
    label,
    named_records,
    param_text,
    records_table,
)
from .page import embed, environment, load_run, write_html
from .rundir import RunData, config_hash

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




def episode_entries(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Episode entries of metrics.json: named ones by start date, then detected ones in time order.

    Reads ``episodes.named`` / ``episodes.detected``; a flat ``{name: entry}`` mapping (an older
    layout) is read as named episodes.
    """
    eps = metrics.get("episodes")
    if not isinstance(eps, Mapping):
        return list(named_records(eps).values())
    if "named" in eps or "detected" in eps:
        named = [{"name": k, **v} for k, v in named_records(eps.get("named")).items()]
        detected = [dict(v) for v in eps.get("detected") or [] if isinstance(v, Mapping)]
    else:
        named = [{"name": k, **v} for k, v in named_records(eps).items()]
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
                     cell(k, perf[k], PERFORMANCE_KINDS.get(k))] for k in present]
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
        recs_l = [{p: dig(e, "legs", p) for p in leg_cols} for e in entries]
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
    eps = named_records(att.get("episodes"))
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
    eps = named_records(ex.get("episodes"))
    windows += [(n, eps[n]) for n in _window_order(metrics, eps)]
    if not windows:
        return generic_tables("Exposures", ex, anchor="exposures")
    present = {c for _, w in windows for c in w}
    cols = [c for c in EXPOSURE_LABELS if c in present]
    kinds = {c: ("num1" if c.startswith("n_") else "pct") for c in cols}
    recs = [{c: dig(w, c, "mean") for c in cols} for _, w in windows]
    out = [records_table("Average exposures", recs, columns=cols, labels=EXPOSURE_LABELS,
                         kinds=kinds,
                         index=("Window", [n for n, _ in windows]), anchor="exposures",
                         note="Means over each window's sessions, as fractions of equity "
                              "(names: average count; turnover: traded value / previous equity).")]
    gcol = "gross_exposure" if "gross_exposure" in present else None
    if gcol:
        stats = ("at_start", "at_end", "min", "max")
        picks = [(gcol, stats), ("beta_net_exposure", ("at_start", "at_end"))]
        recs = [{f"{c}.{s}": dig(w, c, s) for c, sts in picks for s in sts
                 if dig(w, c, s) is not None} for _, w in windows]
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
        eps = named_records(ov.get("episodes"))
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
        ("Seed", param_text(prov.get("seed"))),
        ("Market hash", param_text(prov.get("market_hash"))),
        ("Names", param_text(prov.get("n_names"))),
        ("Config hash", config_hash(cfg)),
    ]
    sections = []
    for sec in ("book", "overlay", "execution", "analysis", "data"):
        params = cfg.get(sec)
        if isinstance(params, Mapping) and params:
            sections.append((sec, [(k, param_text(v)) for k, v in flatten(params).items()]))
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
        embed("fig-equity", "Cumulative return",
               "Growth of 1 for the book and the reference series (equity.csv); named episode "
               "windows shaded.", F.equity_figure(eq, windows), "equity.csv has no equity column."),
        embed("fig-underwater", "Underwater",
               "Drawdown from the running peak of equity; episode windows from metrics.json "
               "shaded.", F.underwater_figure(eq, windows), "equity.csv has no equity column."),
        embed("fig-beta", "Beta and exposures",
               f"Realized beta: {F.BETA_WINDOW}-day rolling OLS of book returns on index returns; "
               "ex-ante beta: holdings \u00d7 name betas / equity. Exposures as fractions of "
               "equity.", F.beta_exposure_figure(eq, windows),
               "equity.csv has no index returns, no beta and no exposure columns."),
        embed("fig-legs", "Leg PnL through each episode",
               "Cumulative daily PnL by leg inside each window, as a fraction of the equity at "
               "the close before the window.", F.leg_pnl_figure(eq, leg_windows),
               "no pnl_* columns in equity.csv or no episode inside the run."),
        embed("fig-overlay", "Overlay signal and actions",
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
    run = load_run(run_folder)
    ctx = tearsheet_context(run)
    html = environment().get_template("tearsheet.html").render(**ctx)
    return write_html(html, Path(out) if out is not None else Path(run_folder) / "tearsheet.html")
