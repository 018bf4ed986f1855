"""The tearsheet's Borrow section: what shorts cost to borrow, and the locate cuts and recalls.

Reads ``metrics.json``'s ``attribution.borrow`` (typed: :class:`analyzers.metrics.Borrow`, from
:func:`analyzers.borrow.borrow_summary`); a run folder without it (older runs) shows no section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .formatting import Table, keyvalue_table, records_table

MODEL_TEXT = {
    "flat": "flat: execution.borrow_bps on every short (days x fee / 365 x |shares| x average "
            "short price, backtrader's rule)",
    "file": "file: per-name daily fees and availability from data.borrow (ACT/360: days x fee / "
            "360 x |shares| x previous close)",
    "crowding": "crowding: fees from short interest, days to cover and squeezes (ACT/360: days x "
                "fee / 360 x |shares| x previous close)",
}

NAME_COLUMNS = ("ticker", "cost", "sessions", "days", "avg_fee_bps", "max_fee_bps")
NAME_LABELS = {"ticker": "Ticker", "cost": "Borrow paid", "sessions": "Sessions",
               "days": "Days charged", "avg_fee_bps": "Avg fee (bps/yr)",
               "max_fee_bps": "Max fee (bps/yr)"}
NAME_KINDS = {"cost": "money", "sessions": "int", "days": "int", "avg_fee_bps": "num1",
              "max_fee_bps": "num1"}
EVENT_COLUMNS = ("date", "fill_date", "ticker", "event", "shares_wanted", "shares_available",
                 "shares_bought_back", "fee_bps")
EVENT_LABELS = {"date": "Decided (close)", "fill_date": "Bought back (open)", "ticker": "Ticker",
                "event": "Event", "shares_wanted": "Short wanted/held",
                "shares_available": "Available", "shares_bought_back": "Bought back",
                "fee_bps": "Fee (bps/yr)"}
EVENT_KINDS = {"shares_wanted": "int", "shares_available": "int", "shares_bought_back": "int",
               "fee_bps": "num1"}


def borrow_tables(borrow: Any) -> list[Table]:
    """Summary, per episode, most expensive names, and the locate-cut/recall log.

    ``borrow``: ``Metrics.attribution.borrow`` (:class:`analyzers.metrics.Borrow`) or its JSON.
    """
    b = borrow.to_json() if hasattr(borrow, "to_json") else borrow
    if not isinstance(b, Mapping) or not b:
        return []
    ev = b.get("events") or {}
    out = [keyvalue_table(
        "Borrow", {"model": MODEL_TEXT.get(str(b.get("model")), b.get("model")),
                   "total_paid": b.get("total"), "share_of_starting_equity": b.get("fraction"),
                   "short_position_days": b.get("rows"), "locate_cuts": ev.get("locate_cuts"),
                   "recalls": ev.get("recalls"), "shares_bought_back": ev.get("shares_bought_back")},
        kinds={"total_paid": "money", "share_of_starting_equity": "pct",
               "short_position_days": "int", "locate_cuts": "int", "recalls": "int",
               "shares_bought_back": "int"}, anchor="borrow",
        note="One row per short position per session in borrow.csv; each charge covers the "
             "calendar days since the previous session (a weekend accrues 3 days) at the fee in "
             "force at the previous close.")]
    eps = b.get("episodes") or {}
    if eps:
        names = list(eps)
        recs = [{"cost": e.get("cost"), "fraction": -(e.get("fraction") or 0.0)
                 if e.get("fraction") is not None else None, "short_leg": e.get("short_leg"),
                 "share_of_short_loss": e.get("share_of_short_loss"),
                 "top": ", ".join(f"{x['ticker']} {x['cost']:,.0f}" for x in
                                  (e.get("by_name") or [])[:3])} for e in eps.values()]
        out.append(records_table(
            "Borrow per episode", recs,
            columns=["cost", "fraction", "short_leg", "share_of_short_loss", "top"],
            labels={"cost": "Borrow paid", "fraction": "Borrow drag", "short_leg": "Short leg (price)",
                    "share_of_short_loss": "Borrow share of short-side loss",
                    "top": "Most expensive names"},
            kinds={"cost": "money", "fraction": "spct", "short_leg": "spct",
                   "share_of_short_loss": "pct"},
            index=("Window", names), anchor="borrow-episodes",
            note="Borrow drag: borrow paid / equity at the close before the window (the episode "
                 "table's borrow leg). Share of short-side loss: borrow / (short leg + borrow) "
                 "when the short side lost money."))
    top = b.get("by_name") or []
    if top:
        out.append(records_table("Most expensive shorts (whole run)", top, columns=NAME_COLUMNS,
                                 labels=NAME_LABELS, kinds=NAME_KINDS, anchor="borrow-names"))
    rows = ev.get("rows") or []
    if rows:
        n = (ev.get("locate_cuts") or 0) + (ev.get("recalls") or 0)
        out.append(records_table(
            "Locate cuts and recalls", rows, columns=EVENT_COLUMNS, labels=EVENT_LABELS,
            kinds=EVENT_KINDS, anchor="borrow-events",
            note="Locate cut: a signal wanted a larger short than the shares available at its "
                 "close; recall: availability fell below a held short. Either way the excess is "
                 "bought back at the next open (trades.csv reason 'locate_cut' / 'recall')"
                 + (f"; the first {len(rows)} of {n} shown (borrow_events.csv has all)."
                    if n > len(rows) else ".")))
    return out
