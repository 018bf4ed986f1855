"""``metrics.json`` of a run: every analyzer's pure function applied to one ``BacktestResult``.

:func:`build_metrics` works the same on a backtrader run and on the vectorized twin (both give a
:class:`strategies.result.BacktestResult`). The output is plain JSON values only (str, int,
float, bool, None, lists, dicts with str keys), floats rounded to 12 significant digits, dates as
ISO ``YYYY-MM-DD``; the same inputs give the same bytes under ``json.dumps(..., sort_keys=True)``.
Returns and drawdowns are fractions (-0.031), money in the account currency.

The layout is typed in :mod:`analyzers.metrics` (one dataclass per section, its docstring has
the schema); :func:`build_metrics` checks its output against those types strictly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.episodes import Episode
from ..feeds.market import Market
from ..strategies.result import BacktestResult
from .attribution import (
    Attribution,
    attribute,
    factor_attribution,
    factor_frame,
    top_names,
    window_legs,
)
from .borrow import borrow_metrics
from .drawdowns import drawdown_summary
from .episodes import (
    DEFAULT_JUNK_THRESHOLD,
    DEFAULT_JUNK_WINDOW,
    KIND_NAMED,
    default_junk_signal,
    detect_episodes,
    episode_drawdown,
    session_mask,
    split_episodes,
)
from .exposures import exposures, summarize_exposures
from .jsonable import canonical as _canonical
from .metrics import Metrics
from .performance import performance_stats
from .warmup import first_invested_session, measured_equity, require_invested, warmup_record

#: Top-level sections written by :func:`build_metrics` (the CLI adds ``reconciliation``).
SECTIONS = ("performance", "episodes", "drawdowns", "attribution", "exposures", "overlay")
#: Exposure columns summarized per episode.
SUMMARY_COLUMNS = (
    "gross_exposure", "net_exposure", "long_exposure", "short_exposure", "beta_net_exposure",
    "hedge_exposure", "gross", "net", "hedge_gross", "n_long", "n_short", "n_hedge", "turnover",
)
#: Significant digits kept in floats (deterministic output, hides last-bit noise).
DIGITS = 12


def canonical(obj: Any) -> Any:
    """Plain JSON values with floats to :data:`DIGITS` significant digits (byte-stable output)."""
    return _canonical(obj, DIGITS)


def _iso(ts: Any) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def _drawdown_legs(attr: Attribution, dd: dict[str, Any]) -> dict[str, float] | None:
    """Leg contributions to the peak -> trough move, relative to the peak equity."""
    if dd["trough_date"] == dd["peak_date"]:
        return None
    start = attr.dates[attr.dates.get_loc(pd.Timestamp(dd["peak_date"])) + 1]
    legs = window_legs(attr, start, dd["trough_date"])
    return legs["contribution"]


def _reference_returns(reference: pd.DataFrame, start: Any, end: Any) -> dict[str, float]:
    if reference is None or reference.empty:
        return {}
    m = session_mask(pd.DatetimeIndex(reference.index), start, end)
    rows = reference.iloc[np.flatnonzero(m)]
    return {str(c): float(np.prod(1.0 + rows[c].fillna(0.0).to_numpy(np.float64)) - 1.0)
            for c in reference.columns}


def overlay_summary(overlay_log: pd.DataFrame | None, windows: Mapping[str, Episode],
                    dates: pd.DatetimeIndex) -> dict[str, Any]:
    """Counts of overlay decisions overall and per episode, and how fast the first one came.

    Parameters
    ----------
    overlay_log : pd.DataFrame or None
        Columns ``date``, ``signal``, ``action``, ``size``, ... (one row per decision).
    windows : mapping name -> Episode
    dates : pd.DatetimeIndex
        The run's trading dates (to count sessions).

    Returns
    -------
    dict
        See the ``overlay`` section of the module docstring.
    """
    out: dict[str, Any] = {"n_decisions": 0, "first_date": None, "last_date": None,
                           "actions": {}, "episodes": {}}
    if overlay_log is None or overlay_log.empty or "date" not in overlay_log.columns:
        for name in windows:
            out["episodes"][name] = {"n_decisions": 0, "first_date": None, "first_action": None,
                                     "sessions_to_first": None, "actions": {}}
        return out
    log = overlay_log.copy()
    log["date"] = pd.to_datetime(log["date"]).dt.normalize()
    log = log.sort_values("date", kind="stable").reset_index(drop=True)
    actions = log["action"].astype(str) if "action" in log.columns else pd.Series(
        "decision", index=log.index)

    def counts(a: pd.Series) -> dict[str, int]:
        return {str(k): int(v) for k, v in sorted(a.value_counts().items())}

    out.update({"n_decisions": int(len(log)), "first_date": _iso(log["date"].iloc[0]),
                "last_date": _iso(log["date"].iloc[-1]), "actions": counts(actions)})
    for name, ep in windows.items():
        m = session_mask(pd.DatetimeIndex(log["date"]), ep.start, ep.end)
        sub = log[m]
        first_session = dates[session_mask(dates, ep.start, ep.end)]
        rec: dict[str, Any] = {"n_decisions": int(m.sum()), "first_date": None,
                               "first_action": None, "sessions_to_first": None,
                               "actions": counts(actions[m])}
        if len(sub):
            d0 = sub["date"].iloc[0]
            rec["first_date"] = _iso(d0)
            rec["first_action"] = str(actions[m].iloc[0])
            if len(first_session):
                rec["sessions_to_first"] = int(
                    session_mask(dates, first_session[0], d0).sum() - 1)
        out["episodes"][name] = rec
    return out


def _episode_entry(ep: Episode, kind: str, equity: pd.Series, attr: Attribution,
                   returns: pd.Series, factors: pd.DataFrame, reference: pd.DataFrame
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """One window's drawdown entry for ``episodes``, and its legs and factor fit for attribution."""
    entry = episode_drawdown(equity, ep)
    legs = window_legs(attr, ep.start, ep.end)
    fac = factor_attribution(returns, factors, ep.start, ep.end) if not factors.empty else None
    entry.update({
        "kind": kind,
        "description": ep.description,
        "legs": legs["contribution"],
        "drawdown_legs": _drawdown_legs(attr, entry),
        "factors": None if fac is None else {k: fac[k] for k in
                                             ("contribution", "specific", "betas", "r2",
                                              "factor_returns")},
        "reference_returns": _reference_returns(reference, ep.start, ep.end),
    })
    return entry, {"legs": legs, "factors": fac}


def _measured_episodes(episodes: Mapping[str, Episode], dates: pd.DatetimeIndex,
                       first: pd.Timestamp) -> tuple[dict[str, Episode], list[dict[str, Any]],
                                                     dict[str, Episode]]:
    """Episodes to measure (clipped to start at ``first``), skipped ones, and the originals of
    the clipped ones (an episode that began in the warm-up is measured from the first position)."""
    named, skipped = split_episodes(episodes, dates)
    keep: dict[str, Episode] = {}
    cut: dict[str, Episode] = {}
    for name, ep in named.items():
        if ep.end < first:
            skipped.append({"name": name, "start": _iso(ep.start), "end": _iso(ep.end),
                            "reason": f"in the warm-up (the book's first position: {_iso(first)})"})
        elif ep.start < first:
            keep[name] = dataclasses.replace(ep, start=first)
            cut[name] = ep
        else:
            keep[name] = ep
    return keep, skipped, cut


#: What ``performance.outside_episodes`` keeps: the overlay's cost in ordinary times.
OUTSIDE_KEYS = ("annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown")


def outside_episodes_stats(returns: pd.Series, episodes: Mapping[str, Episode],
                           benchmark: pd.Series | None = None) -> dict[str, Any]:
    """Performance on the days outside every named episode window (empyrical, like the rest).

    What a PM asks of an overlay: how much return and Sharpe it gives up in ordinary times.
    The first date (no return yet) and the sessions inside each episode are left out.
    """
    r = returns.iloc[1:]
    keep = np.ones(len(r), dtype=bool)
    for ep in episodes.values():
        keep &= ~((r.index >= ep.start) & (r.index <= ep.end))
    stats = performance_stats(r[keep], None, drop_first=False)
    out = {k: stats.get(k) for k in OUTSIDE_KEYS}
    out["n_days"] = int(keep.sum())
    out["excluded"] = sorted(episodes)
    return out


def beta_source(betas: pd.Series | None, shares: pd.DataFrame) -> str:
    """Whether the names the book held have betas: "attributes", "partial" or "none"."""
    held = shares.columns[(np.nan_to_num(shares.to_numpy(np.float64)) != 0).any(axis=0)]
    if betas is None or not len(held):
        return "none"
    known = betas.reindex(held).notna()
    return "attributes" if known.all() else ("partial" if known.any() else "none")


def build_metrics(result: BacktestResult, market: Market, episodes: Mapping[str, Episode],
                  top_n: int = 5, top_k: int = 5, detect: bool = True,
                  junk_signal: pd.Series | None = None, *,
                  junk_threshold: float | None = None, junk_lookback: int | None = None,
                  detect_top: int | None = None, initial_equity: float | None = None
                  ) -> dict[str, Any]:
    """Every section of ``metrics.json`` for one run (see the module docstring for the schema).

    Parameters
    ----------
    result : BacktestResult
        A backtrader run or the vectorized twin.
    market : Market
        The market the run used (closes, attributes, reference, factors).
    episodes : mapping name -> Episode
        Named episodes (``feeds.episodes.resolve_episodes``); those with no session in the data
        are listed under ``episodes.skipped`` (check user ones first with
        :func:`analyzers.episodes.check_episodes_in_range` to make that an error).
    top_n : int
        Rows of the drawdown table.
    top_k : int
        Top contributors / detractors per window.
    detect : bool
        Add detected episodes (junk-rally spells + the ``detect_top`` worst drawdowns, merged).
    junk_signal : pd.Series, optional
        The rally signal; default: :func:`analyzers.episodes.default_junk_signal` on the
        market's reference series (most-shorted minus index, 10 sessions, threshold 0.10,
        spells extended back 9 sessions).
    junk_threshold : float, optional
        "On" when the signal is above it (default 0.5 for a boolean signal, else 0.10).
    junk_lookback : int, optional
        Sessions to extend each spell back (default 0 for a user signal).
    detect_top : int, optional
        Worst drawdowns to add as detected episodes (default ``top_n``).
    initial_equity : float, optional
        Capital before the first close (see :func:`analyzers.attribution.attribute`).

    Returns
    -------
    dict
        Sections :data:`SECTIONS`, canonical JSON values.
    """
    full_dates = pd.DatetimeIndex(result.equity.index)
    first, equity, returns = _measured(result, full_dates)
    dates = pd.DatetimeIndex(equity.index)
    reference, factors, fsource = _series_on(market, dates)
    bench = reference["index"] if "index" in reference.columns else None
    attr = attribute(result, market.close, initial_equity=initial_equity)
    betas = market.attributes["beta"] if "beta" in market.attributes.columns else None
    exp = exposures(result, market.close, betas=betas)

    named, skipped, cut = _measured_episodes(episodes, full_dates, first)
    junk = _junk_detection(junk_signal, junk_threshold, junk_lookback, reference) if detect else None
    top_dd = top_n if detect_top is None else detect_top
    windows = _windows(named, returns, junk, top_dd)
    sections = _window_sections(windows, cut, equity, attr, exp, returns, factors, reference,
                                market, top_k)

    metrics = {
        "performance": _performance(returns, bench, named, first, full_dates),
        "drawdowns": drawdown_summary(returns, top=top_n),
        "episodes": {
            "named": sections.named,
            "detected": sections.detected,
            "skipped": skipped,
            "detection": _detection_record(junk, top_dd),
        },
        "attribution": _attribution(result, attr, returns, factors, fsource, market, named,
                                    sections, top_k),
        "exposures": _exposures(exp, first, sections, betas, result.shares),
        "overlay": overlay_summary(result.overlay_log, {n: e for n, (e, _) in windows.items()},
                                   dates),
    }
    return Metrics.from_json(canonical(metrics), strict=True).to_json()


def _measured(result: BacktestResult, dates: pd.DatetimeIndex
              ) -> tuple[pd.Timestamp, pd.Series, pd.Series]:
    """The first invested session, and equity and returns over the measured period: statistics
    start at the last warm-up close (the base, return 0), not in the warm-up."""
    first = require_invested(first_invested_session(result.shares, result.trades), dates)
    equity = measured_equity(result.equity.astype(np.float64), first)
    returns = equity.pct_change(fill_method=None)
    returns.iloc[0] = 0.0
    return first, equity, returns


def _series_on(market: Market, dates: pd.DatetimeIndex
               ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The market's reference series and the factors to regress on, both on the measured dates."""
    reference = market.reference.reindex(dates) if not market.reference.empty else market.reference
    factors, fsource = factor_frame(market.factors, market.reference)
    if not factors.empty:
        factors = factors.reindex(dates)
    return reference, factors, fsource


def _windows(named: Mapping[str, Episode], returns: pd.Series, junk: _JunkDetection | None,
             top_drawdowns: int) -> dict[str, tuple[Episode, str]]:
    """The windows measured: the named episodes, then the detected ones (none: detection off)."""
    detected = detect_episodes(
        returns, junk.signal, threshold=junk.threshold, lookback=junk.lookback or 0,
        top=top_drawdowns,
    ) if junk is not None else []
    windows: dict[str, tuple[Episode, str]] = {n: (e, KIND_NAMED) for n, e in named.items()}
    for e in detected:
        windows[e.name] = (e, e.description)
    return windows


def _exposures(exp: pd.DataFrame, first: pd.Timestamp, sections: _WindowSections,
               betas: pd.Series | None, shares: pd.DataFrame) -> dict[str, Any]:
    """``exposures``: the summary columns over the run and per window, and where betas came from."""
    return {
        "columns": list(SUMMARY_COLUMNS),
        "overall": summarize_exposures(exp, first, None, columns=SUMMARY_COLUMNS),
        "episodes": sections.exposures,
        "beta_source": beta_source(betas, shares),
    }


def _performance(returns: pd.Series, bench: pd.Series | None, named: Mapping[str, Episode],
                 first: pd.Timestamp, dates: pd.DatetimeIndex) -> dict[str, Any]:
    """``performance``: the statistics (vs the index), outside the episodes, and the warm-up."""
    performance = performance_stats(returns, benchmark=bench,
                                    benchmark_name="index" if bench is not None else None)
    performance["outside_episodes"] = outside_episodes_stats(returns, named, bench)
    performance["invested_from"] = _iso(first)
    performance["warmup"] = warmup_record(dates, first)
    return performance


def _attribution(result: BacktestResult, attr: Attribution, returns: pd.Series,
                 factors: pd.DataFrame, fsource: str, market: Market,
                 named: Mapping[str, Episode], sections: _WindowSections, top_k: int
                 ) -> dict[str, Any]:
    """``attribution``: legs, names and factors over the run and per window, and borrow."""
    return {
        "factor_source": fsource,
        "max_abs_residual": float(np.abs(attr.daily["residual"].to_numpy()).max())
        if len(attr.daily) else 0.0,
        "overall": {
            "legs": window_legs(attr),
            "top_names": top_names(attr, k=top_k, attributes=market.attributes),
            "factors": factor_attribution(returns, factors) if not factors.empty else None,
        },
        "episodes": sections.attribution,
        "borrow": borrow_metrics(result, named, sections.named, k=top_k),
    }


@dataclasses.dataclass(frozen=True)
class _JunkDetection:
    """The junk-rally signal episodes are detected from, its threshold, lookback and origin."""

    signal: pd.Series | None
    threshold: float
    lookback: int | None
    kind: str                 # "user", "default", or "none" (no reference to build it from)
    description: str | None


def _junk_detection(junk_signal: pd.Series | None, threshold: float | None,
                    lookback: int | None, reference: pd.DataFrame) -> _JunkDetection:
    """The user's signal with its defaults, else the default one built from the reference."""
    if junk_signal is not None:
        if threshold is None:
            threshold = 0.5 if junk_signal.dtype == bool else DEFAULT_JUNK_THRESHOLD
        return _JunkDetection(junk_signal, threshold, 0 if lookback is None else lookback,
                              "user", "user-supplied junk signal")
    sig = default_junk_signal(reference, DEFAULT_JUNK_WINDOW)
    kind, desc = "none", None
    if len(sig):
        kind = "default"
        desc = f"most_shorted minus index, compounded over {DEFAULT_JUNK_WINDOW} sessions"
    return _JunkDetection(sig, DEFAULT_JUNK_THRESHOLD if threshold is None else threshold,
                          DEFAULT_JUNK_WINDOW - 1 if lookback is None else lookback, kind, desc)


def _detection_record(junk: _JunkDetection | None, top_drawdowns: int) -> dict[str, Any]:
    """``episodes.detection``: how episodes were detected (all None when detection is off)."""
    return {
        "enabled": junk is not None,
        "signal": junk.kind if junk is not None else "none",
        "signal_description": junk.description if junk is not None else None,
        "threshold": junk.threshold if junk is not None else None,
        "lookback": junk.lookback if junk is not None else None,
        "top_drawdowns": top_drawdowns if junk is not None else None,
    }


@dataclasses.dataclass(frozen=True)
class _WindowSections:
    """Per-window entries of the episodes, attribution and exposures sections."""

    named: dict[str, Any]
    detected: list[dict[str, Any]]
    attribution: dict[str, Any]
    exposures: dict[str, Any]


def _window_sections(windows: Mapping[str, tuple[Episode, str]], cut: Mapping[str, Episode],
                     equity: pd.Series, attr: Attribution, exp: pd.DataFrame, returns: pd.Series,
                     factors: pd.DataFrame, reference: pd.DataFrame, market: Market, top_k: int
                     ) -> _WindowSections:
    """Each window's drawdown entry, legs, factors, top names and exposures, in window order."""
    out = _WindowSections({}, [], {}, {})
    for name, (ep, kind) in windows.items():
        entry, extra = _episode_entry(ep, kind, equity, attr, returns, factors, reference)
        if name in cut:  # the window began in the warm-up: measured from the first position on
            entry.update({"start": _iso(cut[name].start), "truncated": True})
        if kind == KIND_NAMED:
            out.named[name] = entry
        else:
            out.detected.append(entry)
        out.attribution[name] = {
            "legs": extra["legs"],
            "factors": extra["factors"],
            "top_names": top_names(attr, ep.start, ep.end, k=top_k,
                                   attributes=market.attributes,
                                   short_interest=market.short_interest,
                                   days_to_cover=market.days_to_cover),
        }
        out.exposures[name] = summarize_exposures(exp, ep.start, ep.end, SUMMARY_COLUMNS)
    return out


def daily_table(result: BacktestResult, market: Market,
                initial_equity: float | None = None) -> pd.DataFrame:
    """One row per trading day for ``equity.csv``: equity, cash, return, drawdown, exposures, PnL.

    Parameters
    ----------
    result : BacktestResult
    market : Market
    initial_equity : float, optional
        See :func:`analyzers.attribution.attribute`.

    Returns
    -------
    pd.DataFrame
        Index ``date``; columns ``equity``, ``cash``, ``return``, ``drawdown``, the exposure
        columns of :func:`analyzers.exposures.exposures` (money and fractions), and
        ``pnl_long``, ``pnl_short``, ``pnl_hedge``, ``pnl_commission``, ``pnl_borrow``,
        ``pnl_total``, ``pnl_residual``.
    """
    from .drawdowns import underwater

    betas = market.attributes["beta"] if "beta" in market.attributes.columns else None
    exp = exposures(result, market.close, betas=betas)
    attr = attribute(result, market.close, initial_equity=initial_equity)
    out = pd.DataFrame(index=pd.DatetimeIndex(result.equity.index, name="date"))
    out["equity"] = result.equity.to_numpy(np.float64)
    out["cash"] = result.cash.reindex(out.index).to_numpy(np.float64)
    out["return"] = result.returns().to_numpy(np.float64)
    out["drawdown"] = np.asarray(underwater(out["equity"].to_numpy()))
    for c in exp.columns:
        if c != "equity":
            out[c] = exp[c].to_numpy()
    for c in attr.daily.columns:
        out[f"pnl_{c}"] = attr.daily[c].to_numpy()
    return out
