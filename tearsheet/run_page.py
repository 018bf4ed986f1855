"""The run tearsheet: one self-contained page from a run folder's files.

metrics.json is read through its types (:mod:`analyzers.metrics`), labels and formats come from
:mod:`tearsheet.metric_formats`. Nothing is recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..analyzers.metrics import (
    Attribution,
    Drawdowns,
    EpisodeEntry,
    Episodes,
    Exposures,
    Metrics,
    Overlay,
    Performance,
    Reconciliation,
    ShortInterest,
    WindowAttribution,
)
from . import figures as F
from .borrow_section import borrow_tables
from .formatting import (
    DASH,
    Cell,
    Table,
    cell,
    flatten,
    generic_tables,
    keyvalue_table,
    label,
    param_text,
    records_table,
)
from .page import embed, environment, load_run, write_html
from .rundir import RunData, config_hash

#: The performance tables: (title, fields of analyzers.metrics.Performance).
PERFORMANCE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Return and risk", ("cumulative_return", "annual_return", "annual_volatility", "sharpe_ratio",
                         "sortino_ratio", "calmar_ratio", "stability", "tail_ratio")),
    ("Drawdown and tails", ("max_drawdown", "value_at_risk", "conditional_value_at_risk",
                            "hit_rate")),
    ("Versus the index", ("benchmark", "alpha", "beta", "hit_rate_vs_benchmark",
                          "up_market_hit_rate", "down_market_hit_rate")),
)
#: Labels that differ from metric_formats' in the performance tables' context.
PERIOD_LABELS = {"start": "First return", "end": "Last return", "n_days": "Days measured"}
LEG_PARTS = ("long", "short", "hedge", "commission", "borrow", "costs", "total", "residual")
REFERENCE_SERIES = ("index", "growth", "most_shorted", "unprofitable_tech")
EXPOSURE_COLUMNS = ("gross_exposure", "net_exposure", "long_exposure", "short_exposure",
                    "beta_net_exposure", "hedge_exposure", "n_long", "n_short", "n_hedge",
                    "turnover")
NAME_COLUMNS = ("ticker", "leg", "pnl", "contribution", "sector", "short_interest",
                "days_to_cover", "beta", "profitable", "is_tech")
WHOLE_RUN = "whole run"
WARMUP = "warm-up (not measured)"


# --------------------------------------------------------------------------- reading
def read_metrics(metrics: Mapping[str, Any] | Metrics) -> Metrics:
    """The typed metrics of a run folder (lenient: older folders still render)."""
    return metrics if isinstance(metrics, Metrics) else Metrics.from_json(metrics)


def episode_entries(metrics: Mapping[str, Any] | Metrics) -> list[EpisodeEntry]:
    """Episode entries: named ones by start date, then detected ones in time order."""
    return read_metrics(metrics).episodes.entries()


def episode_windows(metrics: Mapping[str, Any] | Metrics, detected: bool = False) -> list[F.Window]:
    """Episode windows (name, first session, last session) of the named (and detected) episodes."""
    out = []
    for e in episode_entries(metrics):
        if e.kind != "named" and not detected:
            continue
        start, end = e.first_session or e.start, e.last_session or e.end
        if start and end:
            out.append(F.Window(e.name, pd.Timestamp(start), pd.Timestamp(end)))
    return out


def warmup_window(perf: Performance) -> F.Window | None:
    """The warm-up as a window to shade (None when the book was invested from the start)."""
    w = perf.warmup
    if w is None or not w.sessions or not w.start or not w.end:
        return None
    return F.Window(WARMUP, pd.Timestamp(w.start), pd.Timestamp(w.end), kind="warmup")


def measured_text(perf: Performance) -> str:
    """What the statistics cover, in words (the tearsheet's facts and the terminal)."""
    if not perf.start:
        return DASH
    text = f"{perf.start} to {perf.end} ({perf.n_days:,} daily returns)" if perf.n_days else \
        f"{perf.start} to {perf.end}"
    return text


def warmup_text(perf: Performance) -> str | None:
    w = perf.warmup
    if w is None or not w.sessions:
        return None
    return (f"{w.sessions:,} sessions, {w.start} to {w.end}: no position yet (history for the "
            "signals), left out of every statistic")


def _window_order(m: Metrics, names: Iterable[str]) -> list[str]:
    """``names`` in the tearsheet's episode order (named, then detected, then anything else)."""
    names = list(names)
    order = [e.name for e in m.episodes.entries()]
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


# --------------------------------------------------------------------------- tables
def _performance_tables(perf: Performance) -> list[Table]:
    out = []
    for title, keys in PERFORMANCE_GROUPS:
        rows = [[Cell(label(k), "key"), cell(k, getattr(perf, k))] for k in keys]
        out.append(Table(title, ["Metric", "Value"], rows, numeric=[False, True]))
    period = [[Cell(PERIOD_LABELS[k], "key"), cell(k, getattr(perf, k))]
              for k in ("start", "end", "n_days")]
    if perf.invested_from:
        period.append([Cell(label("invested_from"), "key"), cell("invested_from",
                                                                   perf.invested_from)])
    w = perf.warmup
    if w is not None:
        period.append([Cell("Warm-up sessions (not measured)", "key"), cell("sessions",
                                                                            w.sessions)])
    out.append(Table("Measured period", ["Metric", "Value"], period, numeric=[False, True],
                     note="Statistics run from the first session the book holds positions; the "
                          "warm-up before it is recorded, not averaged in."))
    o = perf.outside_episodes
    if o is not None:
        rows = [[Cell(label(k), "key"), cell(k, getattr(o, k))]
                for k in ("annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown",
                          "n_days")]
        out.append(Table("Outside the named episodes", ["Metric", "Value"], rows,
                         numeric=[False, True],
                         note="Measured days outside every named episode: what the book earns "
                              "in ordinary times." + (f" Excluded: {', '.join(o.excluded)}."
                                                      if o.excluded else "")))
    return out


def _legs_cols(legs: Sequence[Mapping[str, Any] | None]) -> list[str]:
    present = {p for lg in legs for p in (lg or {})}
    return [p for p in LEG_PARTS if p in present] + sorted(present - set(LEG_PARTS))


def _reference_label(series: str, prov: Mapping[str, Any]) -> str:
    """A reference series' label, with what it is when the data says (``<series>_label``)."""
    base = label(series)
    what = prov.get(f"{series}_label")
    return f"{base}: {what}" if isinstance(what, str) and what else base


def _episode_tables(eps: Episodes, prov: Mapping[str, Any]) -> list[Table]:
    entries = eps.entries()
    if not entries:
        return _skipped_tables(eps)
    names = [e.name for e in entries]
    cols = ["kind", "start", "end", "sessions", "window_return", "max_drawdown_in_window",
            "peak_date", "trough_date", "depth", "peak_to_trough_sessions", "recovery_date"]
    recs = []
    for e in entries:
        r = {c: getattr(e, c) for c in cols}
        if e.recovery_date is None and e.recovered is False:
            r["recovery_date"] = "not recovered"
        if e.truncated and e.first_session and e.start and e.first_session > e.start:
            r["start"] = f"{e.start} (measured from {e.first_session})"
        recs.append(r)
    tables = [records_table(
        "Episode drawdowns", recs, columns=cols, index=("Episode", names), anchor="episodes",
        note="Window return: compounded from the close before the first session to the last "
             "close. Depth: the trough against the high-water mark (the peak may precede the "
             "window). A window that began in the warm-up is measured from the first position.")]
    leg_cols = _legs_cols([e.legs for e in entries])
    if leg_cols:
        tables.append(records_table(
            "Window return by leg", [{p: e.legs.get(p) for p in leg_cols} for e in entries],
            columns=leg_cols, index=("Episode", names), anchor="episode-legs",
            note="Each leg's PnL over the window as a fraction of the equity at the close before "
                 "it; costs are negative when paid."))
    refs = [e.reference_returns for e in entries]
    ref_cols = [c for c in REFERENCE_SERIES if any(c in r for r in refs)]
    ref_cols += sorted({c for r in refs for c in r} - set(ref_cols))
    if ref_cols:
        recs2 = [{"window_return": e.window_return, **{c: r.get(c) for c in ref_cols}}
                 for e, r in zip(entries, refs, strict=True)]
        tables.append(records_table(
            "Book vs reference series in each window", recs2,
            columns=["window_return", *ref_cols],
            labels={"window_return": "Book", **{c: _reference_label(c, prov) for c in ref_cols}},
            kinds=dict.fromkeys(ref_cols, "spct"), index=("Episode", names),
            note="Compounded returns over the same sessions."))
    dl = [e.drawdown_legs or {} for e in entries]
    dl_cols = _legs_cols(dl)
    if dl_cols:
        keep = [i for i, d in enumerate(dl) if d]
        tables.append(records_table(
            "Peak-to-trough move by leg", [dl[i] for i in keep], columns=dl_cols,
            index=("Episode", [names[i] for i in keep]),
            note="Each leg's PnL from the peak to the trough, as a fraction of the peak equity."))
    descr = [(e.name, e.description) for e in entries if e.description]
    if descr:
        tables.append(Table("Episode descriptions", ["Episode", "Description"],
                            [[Cell(n, "key"), Cell(str(d), "wrap")] for n, d in descr]))
    return tables + _skipped_tables(eps)


def _skipped_tables(eps: Episodes) -> list[Table]:
    out = []
    if eps.skipped:
        out.append(records_table("Episodes skipped", [s.to_json() for s in eps.skipped],
                                 columns=["name", "start", "end", "reason"]))
    if eps.detection is not None:
        out.append(keyvalue_table("Episode detection", eps.detection.to_json()))
    return out


def _drawdown_tables(dd: Drawdowns) -> list[Table]:
    out = []
    if dd.table:
        cols = ["drawdown", "peak_date", "valley_date", "recovery_date", "peak_to_valley_sessions",
                "duration", "sessions", "recovered"]
        recs = []
        for r in dd.table:
            rec = r.to_json()
            if r.recovery_date is None and r.recovered is False:
                rec["recovery_date"] = "not recovered"
            recs.append(rec)
        out.append(records_table("Top drawdowns", recs, columns=cols,
                                 index=("#", [str(i + 1) for i in range(len(recs))]),
                                 anchor="drawdowns",
                                 note="Worst first, over the measured period; duration runs from "
                                      "the peak to the recovery."))
    summary = {"max_drawdown": dd.max_drawdown, "current_drawdown": dd.current_drawdown,
               "n_periods": dd.n_periods}
    if any(v is not None for v in summary.values()):
        out.append(keyvalue_table("Drawdown summary", summary))
    return out


def _attribution_windows(m: Metrics) -> list[tuple[str, WindowAttribution]]:
    att = m.attribution
    out = [(WHOLE_RUN, att.overall)] if att.overall is not None else []
    return out + [(n, att.episodes[n]) for n in _window_order(m, att.episodes)]


def _name_tables(m: Metrics) -> list[Table]:
    out = []
    windows = _attribution_windows(m)
    # episodes first: the whole run's names go last
    windows = [w for w in windows if w[0] != WHOLE_RUN] + [w for w in windows if w[0] == WHOLE_RUN]
    for name, rec in windows:
        if rec.top_names is None:
            continue
        for side in ("detractors", "contributors"):
            items = getattr(rec.top_names, side)
            if not items:
                continue
            cols = [c for c in NAME_COLUMNS if any(c in x for x in items)]
            cols += list(dict.fromkeys(c for x in items for c in x if c not in cols))
            out.append(records_table(f"{name}: top {side}", items, columns=cols,
                                     anchor=f"names-{name}-{side}"))
    return out


FACTOR_SOURCES = {"factors": "the market's factor returns",
                  "reference": "the reference series (index, most-shorted basket) as factor proxies",
                  "none": "no factors available"}


def _attribution_tables(m: Metrics) -> list[Table]:
    att: Attribution = m.attribution
    windows = _attribution_windows(m)
    out = []
    legs = [(n, r.legs) for n, r in windows if r.legs is not None]
    if legs:
        cols = _legs_cols([lg.contribution for _, lg in legs])
        recs = [{**{p: lg.contribution.get(p) for p in cols}, "base_equity": lg.base_equity}
                for _, lg in legs]
        out.append(records_table(
            "PnL by leg", recs, columns=[*cols, "base_equity"],
            index=("Window", [n for n, _ in legs]), anchor="legs",
            note="Contribution of each leg and cost to the window's return (PnL / equity at the "
                 "close before the window); costs are negative when paid."))
    facs = [(n, r.factors) for n, r in windows if r.factors is not None]
    if facs:
        fnames: dict[str, None] = {}
        for _, f in facs:
            for k in (f.factors or list((f.contribution or {}).keys())):
                fnames.setdefault(str(k), None)
        fcols = list(fnames)
        recs, brecs = [], []
        for _, f in facs:
            c, b = f.contribution or {}, f.betas or {}
            recs.append({"window_return": f.window_return, "sum_return": f.sum_return,
                         **{k: c.get(k) for k in fcols}, "specific": f.specific, "r2": f.r2,
                         "n_obs": f.n_obs})
            brecs.append({**{k: b.get(k) for k in fcols}, "alpha": f.alpha})
        src = att.factor_source
        src_note = FACTOR_SOURCES.get(str(src), str(src)) if src else ""
        out.append(records_table(
            "Factor attribution", recs,
            columns=["window_return", "sum_return", *fcols, "specific", "r2", "n_obs"],
            labels={k: label(k) for k in fcols},
            kinds=dict.fromkeys(fcols, "spct"), index=("Window", [n for n, _ in facs]),
            anchor="factors",
            note="OLS of daily book returns on daily factor returns in each window: contribution = "
                 "beta \u00d7 summed factor return; specific = the rest of the summed return"
                 + (f". Factors: {src_note}." if src_note else ".")))
        out.append(records_table(
            "Factor betas", brecs, columns=[*fcols, "alpha"],
            labels={**{k: label(k) for k in fcols}, "alpha": "Alpha (daily)"},
            kinds={**dict.fromkeys(fcols, "ratio"), "alpha": "spct"},
            index=("Window", [n for n, _ in facs])))
    if att.max_abs_residual is not None:
        out.append(keyvalue_table("Attribution checks", {"max_abs_residual": att.max_abs_residual}))
    return out


def _exposure_tables(m: Metrics, proxy_betas: bool) -> list[Table]:
    ex: Exposures = m.exposures
    windows = [(WHOLE_RUN, ex.overall)] if ex.overall else []
    windows += [(n, ex.episodes[n]) for n in _window_order(m, ex.episodes)]
    if not windows:
        return []
    present = {c for _, w in windows for c in w}
    hide = {"beta_net_exposure"} if proxy_betas else set()
    cols = [c for c in EXPOSURE_COLUMNS if c in present and c not in hide]

    def stat(w: Mapping[str, Any], c: str, s: str) -> Any:
        return getattr(w[c], s) if c in w and w[c] is not None else None

    recs = [{c: stat(w, c, "mean") for c in cols} for _, w in windows]
    out = [records_table("Average exposures", recs, columns=cols,
                         index=("Window", [n for n, _ in windows]), anchor="exposures",
                         note="Means over each window's sessions (the whole run: the measured "
                              "period), as fractions of equity (names: average count; turnover: "
                              "traded value / previous equity)."
                              + (" No betas in the data: the beta-adjusted net would only repeat "
                                 "the dollar net, so it is not shown." if proxy_betas else ""))]
    if "gross_exposure" in present:
        picks = [("gross_exposure", ("at_start", "at_end", "min", "max"))]
        if not proxy_betas:
            picks.append(("beta_net_exposure", ("at_start", "at_end")))
        slab = {"at_start": "start", "at_end": "end", "min": "min", "max": "max"}
        recs = [{f"{c}.{s}": stat(w, c, s) for c, sts in picks for s in sts
                 if stat(w, c, s) is not None} for _, w in windows]
        cols2 = list(dict.fromkeys(k for r in recs for k in r))
        out.append(records_table(
            "Exposure path", recs, columns=cols2,
            labels={k: f"{label(k.split('.')[0])} {slab[k.split('.')[1]]}" for k in cols2},
            kinds=dict.fromkeys(cols2, "pct"), index=("Window", [n for n, _ in windows]),
            note="Exposure at the window's first and last session, and its range inside it."))
    return out


def _overlay_tables(m: Metrics, log: pd.DataFrame) -> list[Table]:
    out = []
    ov: Overlay = m.overlay

    def acts(a: Mapping[str, int]) -> str:
        return ", ".join(f"{k} \u00d7{v}" for k, v in a.items()) if a else DASH

    rows = [{"n_decisions": ov.n_decisions, "first_date": ov.first_date, "first_action": None,
             "sessions_to_first": None, "actions": acts(ov.actions)}]
    names = [WHOLE_RUN]
    for n in _window_order(m, ov.episodes):
        e = ov.episodes[n]
        rows.append({"n_decisions": e.n_decisions, "first_date": e.first_date,
                     "first_action": e.first_action, "sessions_to_first": e.sessions_to_first,
                     "actions": acts(e.actions)})
        names.append(n)
    out.append(records_table(
        "Overlay decisions per window", rows,
        columns=["n_decisions", "first_date", "first_action", "sessions_to_first", "actions"],
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
    return records_table("Overlay decisions", recs[:limit], anchor="decisions", note=note)


def _short_interest_tables(si: ShortInterest | None) -> list[Table]:
    """The crowding data and the junk-rally signal's basket, as built."""
    if si is None:
        return []
    rows = {}
    if si.signal_basket is not None:
        rows["Junk-rally signal basket"] = si.signal_basket.text
    if si.coverage is not None:
        rows["Short-interest coverage"] = si.coverage.text
    if si.file:
        rows.update({f"File: {k}": v for k, v in flatten(si.file).items()})
    body = [[Cell(k, "key"), cell(k, v)] for k, v in rows.items()]
    others = [n for n in si.notes if n not in rows.values()
              and n.removeprefix("junk-rally signal basket: ") not in rows.values()]
    return [Table("Crowding data and the signal's basket", ["Item", "Value"], body,
                  numeric=[False, False], anchor="short-interest",
                  note=" ".join(f"{n[:1].upper()}{n[1:]}." for n in others))]


def _reconciliation_tables(rec: Reconciliation | None) -> list[Table]:
    if rec is None:
        return []
    return [keyvalue_table("Engine vs vectorized twin", rec.to_json(),
                           kinds={"final_value.backtrader": "money2",
                                  "final_value.vectorized": "money2"},
                           note="Largest relative difference between the backtrader and the "
                                "vectorized twin's equity curves on the same targets.")]


# --------------------------------------------------------------------------- the page
def proxy_betas(m: Metrics) -> bool:
    """True when the run had no name betas, so the ex-ante beta is only the dollar net."""
    return m.exposures.beta_source == "none"


def _header(run: RunData, perf: Performance) -> dict[str, Any]:
    cfg, prov = run.config, run.provenance
    eq = run.equity
    start = prov.get("start") or (eq.index[0].strftime("%Y-%m-%d") if len(eq) else None)
    end = prov.get("end") or (eq.index[-1].strftime("%Y-%m-%d") if len(eq) else None)
    facts = [
        ("Data source", str(prov.get("source", (cfg.get("data") or {}).get("source", DASH)))),
        ("Period", f"{start} to {end} ({len(eq):,} sessions)"),
        ("Measured", measured_text(perf)),
    ]
    if warmup_text(perf):
        facts.append(("Warm-up", warmup_text(perf)))
    if isinstance(prov.get("index_label"), str):
        facts.append(("Index", prov["index_label"]))
    facts += [
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


def _thresholds(config: Mapping[str, Any]) -> dict[str, float]:
    """The overlay's entry/exit signal thresholds from config.json (numbers only)."""
    ov = config.get("overlay") if isinstance(config.get("overlay"), Mapping) else {}
    out = {}
    for key, name in (("threshold", "entry"), ("exit_threshold", "exit")):
        v = ov.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[name] = float(v)
    return out


def margin_call_dates(run: RunData) -> list[pd.Timestamp]:
    """Sessions a margin call cut the book (``margin_calls.csv``, rule ``max_leverage``: the
    fill date), none when the run folder has no such file."""
    calls = getattr(run, "margin_calls", None)
    if calls is None or calls.empty or "rule" not in calls.columns:
        return []
    cut = calls[calls["rule"].astype(str) == "max_leverage"]
    col = "fill_date" if "fill_date" in cut.columns else "date"
    return [pd.Timestamp(d) for d in pd.to_datetime(cut[col]).dropna()]


def _limit_tables(run: RunData) -> list[Table]:
    calls = getattr(run, "margin_calls", None)
    if calls is None or calls.empty:
        return []
    df = calls.copy()
    for col in ("date", "fill_date"):
        if col in df:
            df[col] = pd.to_datetime(df[col]).dt.strftime("%Y-%m-%d")
    df = df.astype(object).where(df.notna(), None)
    return [records_table("Margin calls and funding cuts", df.to_dict("records"),
                          anchor="margin-calls",
                          note="From margin_calls.csv: rule max_leverage = gross / equity above "
                               "execution.max_leverage at the close, every leg cut pro rata at the "
                               "next open (the fill date); rule cash = long buys cut to keep the "
                               "cash buffer. Marked on the equity and underwater figures.")]


def _figures(run: RunData, m: Metrics) -> list[Any]:
    eq, prov = run.equity, run.provenance
    calls = margin_call_dates(run)
    windows = episode_windows(m)
    leg_windows = windows or episode_windows(m, detected=True)[:4]
    warm = warmup_window(m.performance)
    shaded = windows + ([warm] if warm else [])
    labels = {c: _reference_label(c, prov) for c in REFERENCE_SERIES}
    proxy = proxy_betas(m)
    beta_caption = (f"Realized beta: {F.BETA_WINDOW}-day rolling OLS of book returns on index "
                    "returns; ")
    beta_caption += ("no ex-ante beta: the data has no name betas (a beta-adjusted net would "
                     "only repeat the dollar net). " if proxy else
                     "ex-ante beta: holdings \u00d7 name betas / equity"
                     + (" (some names have no beta and count as 1: partly a proxy). "
                        if m.exposures.beta_source == "partial" else ". "))
    return [
        embed("fig-equity", "Cumulative return",
              "Growth of 1 for the book and the reference series (equity.csv); named episode "
              "windows and the warm-up shaded" + ("; margin calls dotted." if calls else "."),
              F.equity_figure(eq, shaded, labels, margin_calls=calls),
              "equity.csv has no equity column."),
        embed("fig-underwater", "Underwater",
              "Drawdown from the running peak of equity; episode windows from metrics.json "
              "shaded.", F.underwater_figure(eq, shaded, margin_calls=calls),
              "equity.csv has no equity column."),
        embed("fig-beta", "Beta and exposures",
              beta_caption + "Exposures as fractions of equity.",
              F.beta_exposure_figure(eq, shaded, ex_ante=not proxy),
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


def tearsheet_context(run: RunData) -> dict[str, Any]:
    """Everything the tearsheet template shows, computed from a run folder's contents."""
    m = read_metrics(run.metrics)
    prov = run.provenance
    sections: list[dict[str, Any]] = []

    def add(anchor: str, title: str, ts: Iterable[Table | None], grid: bool = False) -> None:
        ts = [t for t in ts if t is not None]
        if ts:
            sections.append({"anchor": anchor, "title": title, "tables": ts, "grid": grid})

    if m.performance.start is not None:
        add("performance", "Performance", _performance_tables(m.performance), grid=True)
    add("episodes", "Episodes", _episode_tables(m.episodes, prov))
    add("drawdowns", "Top drawdowns", _drawdown_tables(m.drawdowns))
    add("names", "Single names per episode", _name_tables(m), grid=True)
    add("attribution", "Attribution", _attribution_tables(m))
    add("exposures", "Exposures per episode", _exposure_tables(m, proxy_betas(m)))
    add("borrow", "Borrow", borrow_tables(m.attribution.borrow))
    if m.overlay.n_decisions or m.overlay.episodes or not run.overlay_log.empty:
        add("overlay", "Overlay", _overlay_tables(m, run.overlay_log))
    add("short-interest", "Short interest", _short_interest_tables(m.short_interest))
    add("margin-calls", "Account limits", _limit_tables(run))
    add("reconciliation", "Reconciliation", _reconciliation_tables(m.reconciliation))
    for sec in sorted(m.extra):
        obj = m.extra[sec]
        if obj not in (None, {}, []):
            add(sec, label(sec), generic_tables(label(sec), obj, anchor=sec))
    lead = [sec for sec in sections if sec["anchor"] == "performance"]
    rest = [sec for sec in sections if sec["anchor"] != "performance"]
    return {"h": _header(run, m.performance), "figures": _figures(run, m), "lead_sections": lead,
            "sections": rest}


def render_tearsheet(run_folder: str | Path, out: str | Path | None = None) -> Path:
    """Render ``tearsheet.html`` (or ``out``) from a run folder's files and return its path.

    Works on a complete folder and on the temporary folder ``write_run`` passes to its ``render``
    callback (tearsheet.html not written yet). Self-contained and byte-deterministic.
    """
    run = load_run(run_folder)
    ctx = tearsheet_context(run)
    html = environment().get_template("tearsheet.html").render(**ctx)
    return write_html(html, Path(out) if out is not None else Path(run_folder) / "tearsheet.html")
