"""A plain, JSON-able summary of a market: provenance, and the reference series over each window.

``squeeze-lab market`` prints it (as a table, or as JSON with ``--json``). Windows are the built-in
episodes inside the data (:func:`feeds.episodes.applicable_episodes`); on the scenario market also
every distinct window of :data:`feeds.episodes.MARKET_TARGETS`, each target row saying what the
market gives and whether it is inside the target's bounds (real data has no calibration targets).
A series the data cannot give is ``None``, never NaN.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .episodes import MARKET_TARGETS, applicable_episodes, window_return
from .market import REFERENCE_SERIES, Market


def _num(x: float | None) -> float | None:
    """A plain float, or None for a missing / non-finite value."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _covers(market: Market, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """True when the data spans the whole window [start, end]."""
    d = market.dates
    return bool(len(d)) and d[0] <= start and d[-1] >= end


def _window(market: Market, name: str, start: str | pd.Timestamp, end: str | pd.Timestamp,
            description: str) -> dict[str, Any]:
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    covered = _covers(market, s, e)
    sessions = int(((market.dates >= s) & (market.dates <= e)).sum())

    def returns(frame: pd.DataFrame, columns: list[str]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for c in columns:
            out[c] = _num(window_return(frame[c], s, e)) if covered and c in frame else None
        return out

    series = [c for c in REFERENCE_SERIES if c in market.reference.columns]
    factors = [str(c) for c in market.factors.columns]
    return {
        "name": name,
        "start": s.strftime("%Y-%m-%d"),
        "end": e.strftime("%Y-%m-%d"),
        "sessions": sessions,
        "covered": covered,
        "description": description,
        "returns": returns(market.reference, series),
        "factor_returns": returns(market.factors, factors),
    }


def market_summary(market: Market) -> dict[str, Any]:
    """Provenance plus reference-series returns over the episodes and the calibration windows.

    Parameters
    ----------
    market : Market

    Returns
    -------
    dict
        JSON-able: the keys of :meth:`Market.provenance` (source, synthetic, seed, market_hash,
        start, end, n_names, n_days, fill_model, notes, ...), ``series`` and ``factors`` (column
        names), ``windows`` (one dict per episode / target window: name, start, end, sessions,
        covered, description, returns, factor_returns) and ``targets`` (one dict per
        MARKET_TARGETS row: series, start, end, what, target, low, high, got, ok).
    """
    out: dict[str, Any] = dict(market.provenance())
    out["series"] = [c for c in REFERENCE_SERIES if c in market.reference.columns]
    out["factors"] = [str(c) for c in market.factors.columns]
    windows = [_window(market, ep.name, ep.start, ep.end, ep.description)
               for ep in applicable_episodes(market.dates, synthetic=market.synthetic).values()]
    seen = {(w["start"], w["end"]) for w in windows}
    by_window: dict[tuple[str, str], list[str]] = {}
    calibrated = market.synthetic   # the scenario market (or an export of it) has targets
    for t in MARKET_TARGETS if calibrated else ():
        key = (pd.Timestamp(t.start).strftime("%Y-%m-%d"), pd.Timestamp(t.end).strftime("%Y-%m-%d"))
        by_window.setdefault(key, []).append(t.series)
    for (s, e), names in by_window.items():
        if (s, e) not in seen:
            windows.append(_window(market, "target:" + ",".join(names), s, e,
                                   "calibration window of " + ", ".join(names)))
            seen.add((s, e))
    out["windows"] = windows
    targets = []
    for t in MARKET_TARGETS if calibrated else ():
        s, e = pd.Timestamp(t.start), pd.Timestamp(t.end)
        got = None
        if t.series in market.reference.columns and _covers(market, s, e):
            got = _num(window_return(market.reference[t.series], s, e))
        targets.append({
            "series": t.series, "start": s.strftime("%Y-%m-%d"), "end": e.strftime("%Y-%m-%d"),
            "what": t.what, "target": float(t.value), "low": float(t.low), "high": float(t.high),
            "got": got, "ok": None if got is None else bool(t.low <= got <= t.high),
        })
    out["targets"] = targets
    return out
