"""Crowding: the measure that ranks crowded shorts, and the most-shorted basket actually built.

Practitioners rank by short interest as a share of float; without float (FINRA's files give shares
short only) the ranking falls back to days to cover, and the basket says so. The basket is
described by data (:class:`BasketSource`), not by a sentence guessed from the settings: how many
names were asked for, how many were built, on how many sessions there was none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import baskets
from .short_interest import MEASURE_LABELS

#: Kinds of most-shorted basket.
BASKET_KINDS = ("short_interest", "days_to_cover", "reference", "junk_proxy", "given")


@dataclass(frozen=True)
class BasketSource:
    """Where the most-shorted basket came from and what was built (typed; reports print it).

    ``kind``: ranked by ``short_interest`` (% of float) or ``days_to_cover``, the market's
    ``reference`` series as given, a ``junk_proxy`` ranking on prices (no short-interest data), or a
    ``given`` series. Counts are over the sessions of the data (members known at each close).
    """

    kind: str
    requested: int | None           # names asked for (None for a series given as is)
    built_median: int | None        # median members over sessions with a basket
    built_max: int | None
    sessions_with_basket: int | None
    n_sessions: int
    covered: int | None             # names with crowding data
    n_names: int
    point_in_time: bool | None
    min_cap: float | None           # market-cap floor applied (None: none)
    rebalance: str | None           # "twice a month" | "daily"

    @property
    def text(self) -> str:
        """One line: the basket as built, e.g. ``top 50 requested by days to cover ..., built 5``."""
        if self.kind == "reference":
            return "the market's most_shorted reference series (as given)"
        if self.kind == "given":
            return "a basket series given by the caller"
        if self.kind == "junk_proxy":
            head = (f"no short-interest data: top {self.requested} by junk score on price proxies "
                    "(beta, volatility, low price, drawdown)")
        else:
            pit = "point-in-time" if self.point_in_time else "static, not point-in-time"
            head = (f"top {self.requested} by {MEASURE_LABELS[self.kind]} ({pit}; data for "
                    f"{self.covered} of {self.n_names} names)")
        if self.min_cap:
            head += f" above {self.min_cap:,.0f} market cap"
        built = (f"built with {self.built_median} names (median; at most {self.built_max})"
                 if self.built_median != self.built_max else f"built with {self.built_median} names")
        if not self.sessions_with_basket:
            built = "never built: no name qualified on any session"
        tail = ""
        if self.sessions_with_basket and self.sessions_with_basket < self.n_sessions:
            tail = (f"; no basket on {self.n_sessions - self.sessions_with_basket} of "
                    f"{self.n_sessions} sessions (no signal there)")
        return f"{head}, {built}, rebalanced {self.rebalance}{tail}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["text"] = self.text
        return out


def describe_members(members: np.ndarray, kind: str, requested: int | None, covered: int | None,
                     n_names: int, point_in_time: bool | None, min_cap: float | None,
                     rebalance: str | None) -> BasketSource:
    """A :class:`BasketSource` from a boolean members array (sessions x names)."""
    counts = np.asarray(members, bool).sum(axis=1)
    live = counts[counts > 0]
    return BasketSource(
        kind=kind, requested=requested,
        built_median=int(np.median(live)) if len(live) else 0,
        built_max=int(live.max()) if len(live) else 0,
        sessions_with_basket=int(len(live)), n_sessions=int(len(counts)), covered=covered,
        n_names=n_names, point_in_time=point_in_time, min_cap=min_cap, rebalance=rebalance,
    )


def most_shorted(close: pd.DataFrame, crowd: pd.DataFrame, measure: str, point_in_time: bool,
                 cap: pd.DataFrame | None, n: int = 50, min_cap: float = 1e9
                 ) -> tuple[pd.DataFrame, pd.Series, BasketSource]:
    """The most-shorted basket: top ``n`` by a crowding measure, twice a month, equal weight.

    Parameters
    ----------
    close : pd.DataFrame
        Closing prices (NaN where not listed).
    crowd : pd.DataFrame
        The crowding measure known on each date (:data:`feeds.short_interest.MEASURES`).
    measure : {"short_interest", "days_to_cover"}
    point_in_time : bool
        Whether ``crowd`` is point-in-time (False: a static attribute broadcast over dates).
    cap : pd.DataFrame or None
        Market caps; None: no cap floor (shares unknown).
    n, min_cap : int, float
        Basket size and cap floor.

    Returns
    -------
    (pd.DataFrame, pd.Series, BasketSource)
        Members (known at each close), daily returns (equal weight at each rebalance, drifting in
        between; NaN on sessions after a close with no member, never a fake 0), and the
        description of what was built.
    """
    members, src = most_shorted_membership(close, crowd, measure, point_in_time, cap, n, min_cap)
    mem = members.to_numpy(bool)
    ret = baskets.equal_weight_basket(close, members, baskets.rebalance_dates(
        close.index, baskets.MOST_SHORTED_RULE["freq"]))
    held = np.zeros(len(mem), bool)
    held[1:] = mem[:-1].any(axis=1)
    held[0] = True
    ret = ret.astype(np.float64).where(held)
    return members, ret.rename("most_shorted"), src


def most_shorted_membership(close: pd.DataFrame, crowd: pd.DataFrame, measure: str,
                            point_in_time: bool, cap: pd.DataFrame | None, n: int = 50,
                            min_cap: float = 1e9) -> tuple[pd.DataFrame, BasketSource]:
    """:func:`most_shorted`'s members and description without its returns: what the overlay's
    hedge needs (the basket's daily returns cost more than its membership)."""
    rule = baskets.MOST_SHORTED_RULE
    mcap, floor = (cap, float(min_cap)) if cap is not None else (close, 0.0)
    members = baskets.most_shorted_members(crowd.reindex_like(close), mcap, n=n, min_cap=floor,
                                           freq=rule["freq"])
    covered = int(np.isfinite(crowd.to_numpy(np.float64)).any(axis=0).sum())
    src = describe_members(members.to_numpy(bool), measure, n, covered, close.shape[1],
                           point_in_time, floor if cap is not None else None, "twice a month")
    return members, src
