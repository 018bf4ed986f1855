"""What borrowing cost, by name and by episode, and what locates and recalls did.

Pure functions over the run's borrow table (``borrow.csv``: one row per short position per session
charged, :data:`strategies.borrow.BORROW_COLUMNS`) and its locate/recall events
(:data:`strategies.borrow.EVENT_COLUMNS`). Fractions are of the equity at the close before the
window, like :func:`analyzers.attribution.window_legs`, so an episode's ``fraction`` is the same
number as its ``legs.borrow`` (with the sign of a cost: positive = paid).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .episodes import window_bounds


def _d(ts: Any) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def name_costs(table: pd.DataFrame, k: int | None = None) -> list[dict[str, Any]]:
    """Borrow per name, most expensive first: cost, sessions charged, average and highest fee."""
    if table.empty:
        return []
    g = table.groupby("ticker", sort=True)
    days = g["days"].sum()
    frame = pd.DataFrame({
        "cost": g["cost"].sum(),
        "sessions": g["cost"].size(),
        "days": days,
        # day-weighted average fee: what a name paid per calendar day on average
        "avg_fee_bps": (table["fee_bps"] * table["days"]).groupby(table["ticker"]).sum() / days,
        "max_fee_bps": g["fee_bps"].max(),
    }).sort_values(["cost"], ascending=False, kind="stable")
    if k is not None:
        frame = frame.head(k)
    return [{"ticker": str(t), "cost": float(r.cost), "sessions": int(r.sessions),
             "days": int(r.days), "avg_fee_bps": float(r.avg_fee_bps),
             "max_fee_bps": float(r.max_fee_bps)} for t, r in frame.iterrows()]


def window_cost(table: pd.DataFrame, equity: pd.Series, start: Any, end: Any,
                k: int = 5) -> dict[str, Any]:
    """Borrow paid on the sessions inside ``[start, end]`` and the names that paid most."""
    dates = pd.DatetimeIndex(equity.index)
    a, b = window_bounds(dates, start, end)
    base = float(equity.iloc[a - 1 if a > 0 else 0])
    first = dates[a] if a > 0 else dates[min(1, len(dates) - 1)]
    inside = table[(table["date"] >= first) & (table["date"] <= dates[b])]
    cost = float(inside["cost"].sum())
    return {"start": _d(dates[a]), "end": _d(dates[b]), "cost": cost,
            "fraction": cost / base if base else None, "by_name": name_costs(inside, k),
            "short_leg": None, "share_of_short_loss": None}


def event_counts(events: pd.DataFrame | None) -> dict[str, Any]:
    """Locate cuts and recalls: counts, shares bought back and the first rows (as plain data)."""
    if events is None or events.empty:
        return {"locate_cuts": 0, "recalls": 0, "shares_bought_back": 0.0, "rows": []}
    rows = []
    for r in events.head(50).itertuples(index=False):
        rows.append({"date": _d(r.date), "fill_date": _d(r.fill_date), "ticker": str(r.ticker),
                     "event": str(r.event), "shares_wanted": float(r.shares_wanted),
                     "shares_available": float(r.shares_available),
                     "shares_bought_back": float(r.shares_bought_back),
                     "fee_bps": float(r.fee_bps)})
    kind = events["event"].astype(str)
    return {"locate_cuts": int((kind == "locate_cut").sum()), "recalls": int((kind == "recall").sum()),
            "shares_bought_back": float(events["shares_bought_back"].sum()), "rows": rows}


def share_of_short_loss(legs: Mapping[str, Any]) -> float | None:
    """How much of the short side's loss was borrow: ``borrow / (short + borrow)``.

    ``legs``: an episode's leg contributions (``short`` = the short leg's price PnL, ``borrow``
    the borrow paid, negative). None unless the short side (price + borrow) lost money.
    """
    short, borrow = legs.get("short"), legs.get("borrow")
    if short is None or borrow is None or not short + borrow < 0:
        return None
    return float(borrow / (short + borrow))


def borrow_summary(table: pd.DataFrame, events: pd.DataFrame | None, equity: pd.Series,
                   episodes: Mapping[str, Any], model: str, k: int = 5,
                   legs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The ``attribution.borrow`` section of metrics.json.

    ``total``/``fraction``: all borrow paid and its share of the starting equity; ``by_name``: the
    ``k`` names that paid most; ``episodes``: per episode the same (:func:`window_cost`), plus,
    given the episodes' leg contributions (``legs``), ``short_leg`` (the short leg's price PnL
    as a fraction) and ``share_of_short_loss`` (:func:`share_of_short_loss`); ``events``: locate
    cuts and recalls (:func:`event_counts`).
    """
    total = float(table["cost"].sum()) if len(table) else 0.0
    eq0 = float(equity.iloc[0]) if len(equity) else np.nan
    eps = {}
    for name, ep in episodes.items():
        try:
            eps[name] = window_cost(table, equity, ep.start, ep.end, k)
        except ValueError:  # no session of the episode in the data
            continue
        lg = (legs or {}).get(name)
        if lg:
            eps[name]["short_leg"] = lg.get("short")
            eps[name]["share_of_short_loss"] = share_of_short_loss(lg)
    return {"model": model, "total": total, "fraction": total / eq0 if eq0 else None,
            "rows": int(len(table)), "by_name": name_costs(table, k), "episodes": eps,
            "events": event_counts(events)}


def borrow_metrics(result: Any, episodes: Mapping[str, Any], entries: Mapping[str, Any],
                   k: int = 5) -> dict[str, Any] | None:
    """``attribution.borrow`` for a run (None when the result has no borrow record).

    ``episodes``: the named episodes measured; ``entries``: their metrics entries (for the legs).
    """
    rec = getattr(result, "borrow_record", None)
    if rec is None:
        return None
    return borrow_summary(rec.table(result.shares), rec.events, result.equity,
                          {n: e for n, e in episodes.items() if n in entries}, rec.model, k=k,
                          legs={n: (e or {}).get("legs") or {} for n, e in entries.items()})
