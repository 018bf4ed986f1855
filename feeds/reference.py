"""The one builder of a market's reference series (daily simple returns, first row 0): the broad
index, the growth index and the two junk baskets, from given series or from the constituents.

Every feed calls :func:`build_reference` (the scenario through :func:`reference_series`, which
insists on shares outstanding); the signals call :func:`index_from_constituents` when a market has
no index series. The basket rules themselves live in :mod:`feeds.baskets`. Each choice made is
reported as a note, and the index and growth series carry a label saying what they are (shown in
the terminal, metrics.json and the tearsheet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import baskets
from .crowding import most_shorted
from .errors import SqueezeLabError
from .market import normalize_index

#: Labels of the index built from the constituents.
CAP_WEIGHTED_LABEL = "cap-weighted universe"
EQUAL_WEIGHTED_LABEL = "equal-weighted universe (rebalanced monthly)"
DAILY_EQUAL_WEIGHTED_LABEL = "equal-weighted universe (rebalanced daily)"


@dataclass
class References:
    """Reference series (dates x series), one note per choice made, and labels of index/growth."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class _Inputs:
    """What the builders share: prices, attributes, shares / market cap when known."""

    close: pd.DataFrame
    att: pd.DataFrame
    shares: pd.Series | None
    cap: pd.DataFrame | None
    listed: pd.DataFrame
    monthly: pd.DatetimeIndex


def returns_of(close: pd.Series, dates: pd.DatetimeIndex) -> pd.Series:
    """Daily simple returns of one price series on ``dates`` (carried over its own missing days)."""
    c = close.reindex(close.index.union(dates)).ffill().reindex(dates)
    return c.pct_change(fill_method=None)


def _first_zero(s: pd.Series, dates: pd.DatetimeIndex) -> pd.Series:
    s = pd.Series(s).reindex(dates).astype(np.float64)
    if len(s):
        s.iloc[0] = 0.0
    return s


def index_from_constituents(close: pd.DataFrame, attributes: pd.DataFrame,
                            rebalance: str = "monthly") -> tuple[pd.Series, str]:
    """The broad index built from the universe, and its label: cap-weighted when every name's
    shares outstanding are known, else equal-weighted, reset to equal weights ``"monthly"`` (the
    feeds' reference index) or ``"daily"`` (the signals' fallback for a market given without one).
    """
    if rebalance not in ("monthly", "daily"):
        raise SqueezeLabError(f"index rebalance {rebalance!r}: use 'monthly' or 'daily'")
    return _index(_inputs(close, attributes), daily=rebalance == "daily")


def _inputs(close: pd.DataFrame, attributes: pd.DataFrame) -> _Inputs:
    att = attributes.reindex(close.columns)
    shares = _complete_float(att, "shares")
    cap = baskets.market_cap(close, shares) if shares is not None else None
    return _Inputs(close, att, shares, cap, close.notna(),
                   baskets.rebalance_dates(close.index, "MS"))


def _index(inp: _Inputs, daily: bool = False) -> tuple[pd.Series, str]:
    dates = inp.close.index
    if inp.shares is not None:
        return _first_zero(baskets.cap_weighted_index(inp.close, inp.shares), dates), \
            CAP_WEIGHTED_LABEL
    every = dates if daily else inp.monthly
    return _first_zero(baskets.equal_weight_basket(inp.close, inp.listed, every), dates), \
        DAILY_EQUAL_WEIGHTED_LABEL if daily else EQUAL_WEIGHTED_LABEL


def _growth(inp: _Inputs, tech: pd.Series | None) -> tuple[pd.Series | None, str]:
    """Growth index over the is_tech names (cap- or equal-weighted), with its note."""
    if tech is None or not bool(tech.any()):
        return None, "reference growth unavailable: no growth ticker and no is_tech names"
    members = inp.listed & tech.to_numpy()[None, :]
    dates = inp.close.index
    if inp.shares is not None:
        return (_first_zero(baskets.cap_weighted_index(inp.close, inp.shares, members=members), dates),
                "reference growth: cap-weighted is_tech names")
    return (_first_zero(baskets.equal_weight_basket(inp.close, members, inp.monthly), dates),
            "reference growth: equal-weighted is_tech names, rebalanced monthly")


def _most_shorted(inp: _Inputs, short_interest: pd.DataFrame | None,
                  days_to_cover: pd.DataFrame | None, basket_size: int,
                  min_cap: float) -> tuple[pd.Series | None, str]:
    """Most-shorted basket (:func:`feeds.crowding.most_shorted`): by point-in-time short interest,
    else days to cover, else the static attribute; with its note."""
    close, att = inp.close, inp.att
    crowd, measure, static = None, None, False
    for name, hist in (("short_interest", short_interest), ("days_to_cover", days_to_cover)):
        if hist is not None and np.isfinite(hist.to_numpy(np.float64)).any():
            crowd, measure = hist, name
            break
    if crowd is None:
        for name in ("short_interest", "days_to_cover"):
            col = (pd.to_numeric(att[name], errors="coerce").astype(np.float64)
                   if name in att.columns else None)
            if col is not None and col.notna().any():
                crowd = pd.DataFrame(np.broadcast_to(col.to_numpy(), close.shape).copy(),
                                     index=close.index, columns=close.columns)
                measure, static = name, True
                break
    if crowd is None:
        return None, "reference most_shorted unavailable: no short-interest data"
    _, basket, src = most_shorted(close, crowd, measure, not static, inp.cap, n=basket_size,
                                  min_cap=min_cap)
    return (_first_zero(basket.fillna(0.0), close.index),
            f"reference most_shorted: equal-weighted {src.text}"
            + ("; static short interest, not point-in-time (look-ahead)" if static else ""))


def _unprofitable_tech(inp: _Inputs, tech: pd.Series | None, tech_unknown: pd.Series,
                       basket_size: int, min_cap: float | None) -> tuple[pd.Series | None, str]:
    """Unprofitable-tech basket (needs is_tech and profitable), with its note."""
    prof, prof_unknown = _known_bool(inp.att, "profitable", unknown_as=True)
    if prof is None or tech is None:
        return None, ("reference unprofitable_tech unavailable: needs the profitable and is_tech "
                      "attributes")
    rule = baskets.UNPROFITABLE_TECH_RULE
    floor = float(rule.get("min_cap", 0.0)) if min_cap is None else float(min_cap)
    a = inp.att.assign(profitable=prof, is_tech=tech)
    # without shares the size ranking uses price and no cap floor can apply
    members = baskets.unprofitable_tech_members(
        a, inp.cap if inp.cap is not None else inp.close, n=basket_size, freq=rule["freq"],
        min_cap=floor if inp.cap is not None else 0.0)
    if not members.to_numpy().any():
        return None, "reference unprofitable_tech unavailable: no unprofitable is_tech names"
    close = inp.close
    series = _first_zero(baskets.equal_weight_basket(
        close, members, baskets.rebalance_dates(close.index, rule["freq"])), close.index)
    unknown = int(((tech_unknown | prof_unknown) & ~(tech == False)).sum())  # noqa: E712
    return series, (f"reference unprofitable_tech: equal-weighted, up to {basket_size} "
                    "unprofitable is_tech names, rebalanced monthly"
                    + ("" if inp.cap is not None else " (no cap floor: shares unknown)")
                    + (f" ({unknown} ticker(s) with unknown profitability or sector left out)"
                       if unknown else ""))


def build_reference(
    close: pd.DataFrame,
    attributes: pd.DataFrame,
    short_interest: pd.DataFrame | None = None,
    index: pd.Series | None = None,
    growth: pd.Series | None = None,
    basket_size: int = 50,
    min_cap: float = 1e9,
    index_label: str | None = None,
    growth_label: str | None = None,
    tech_min_cap: float | None = None,
    days_to_cover: pd.DataFrame | None = None,
) -> References:
    """Reference series (daily returns) from the universe: index, growth and the two junk baskets.

    ``index`` / ``growth`` are return series given by the caller (an ETF or a user's column, named
    by ``index_label`` / ``growth_label``); when missing the index is cap-weighted (shares known) or
    equal-weighted (rebalanced monthly), growth likewise over the ``is_tech`` names. The baskets
    follow :mod:`feeds.baskets` (most shorted: :func:`feeds.crowding.most_shorted`, top
    ``basket_size`` by short interest % of float, else by days to cover, above ``min_cap``, twice
    a month; unprofitable tech: monthly, above ``tech_min_cap``, default the rule's) and need short
    interest (point-in-time history, else the static attribute) and profitability. A series whose
    inputs are missing is left out, never faked.
    """
    inp = _inputs(close, attributes)
    dates = close.index
    out = pd.DataFrame(index=dates)
    notes: list[str] = []
    labels: dict[str, str] = {}
    if index is not None:
        out["index"] = _first_zero(index, dates)
        labels["index"] = index_label or "given index series"
    else:
        out["index"], labels["index"] = _index(inp)
        notes.append("reference index: cap-weighted universe (shares x close)"
                     if labels["index"] == CAP_WEIGHTED_LABEL else
                     "reference index: equal-weighted universe, rebalanced monthly (no shares "
                     "outstanding known for every ticker)")
    tech, tech_unknown = _known_bool(inp.att, "is_tech", unknown_as=False)
    if growth is not None:
        out["growth"] = _first_zero(growth, dates)
        labels["growth"] = growth_label or "given growth series"
    else:
        series, note = _growth(inp, tech)
        if series is not None:
            out["growth"] = series
            labels["growth"] = note.removeprefix("reference growth: ")
        notes.append(note)
    for name, (series, note) in (
        ("most_shorted", _most_shorted(inp, short_interest, days_to_cover, basket_size, min_cap)),
        ("unprofitable_tech", _unprofitable_tech(inp, tech, tech_unknown, basket_size, tech_min_cap)),
    ):
        if series is not None:
            out[name] = series
        notes.append(note)
    out.index = normalize_index(out.index)
    return References(out.astype(np.float64), notes, labels)


def reference_series(close: pd.DataFrame, attributes: pd.DataFrame,
                     short_interest: pd.DataFrame | None = None, *, n: int = 50,
                     min_cap: float = 1e9) -> pd.DataFrame:
    """The reference series of a market whose shares outstanding are all known (the scenario's).

    ``index``: cap-weighted, all listed names. ``growth``: cap-weighted, ``is_tech`` names.
    ``most_shorted``: equal weight, top ``n`` by point-in-time short interest above ``min_cap``,
    twice a month. ``unprofitable_tech``: equal weight, top ``n`` unprofitable tech names by
    market cap above ``min_cap``, monthly. A series whose inputs are missing (no ``is_tech``, no
    short interest) is left out rather than faked. Returns daily returns, first row 0.
    """
    if "shares" not in attributes.columns or attributes["shares"].reindex(close.columns).isna().all():
        raise SqueezeLabError("attributes have no 'shares' (shares outstanding): add it to build "
                              "cap-weighted reference series")
    ref = build_reference(close, attributes, short_interest, basket_size=n, min_cap=min_cap,
                          tech_min_cap=min_cap).frame
    ref.index = close.index.rename("date")
    return ref


def _complete_float(att: pd.DataFrame, name: str) -> pd.Series | None:
    if name not in att.columns:
        return None
    s = pd.to_numeric(att[name], errors="coerce").astype(np.float64)
    return s if bool((np.isfinite(s) & (s > 0)).all()) else None


def _known_bool(att: pd.DataFrame, name: str, unknown_as: bool) -> tuple[pd.Series | None, pd.Series]:
    """A boolean attribute with unknown cells set to ``unknown_as`` (None when nothing is known)."""
    if name not in att.columns:
        return None, pd.Series(True, index=att.index)
    unknown = att[name].isna()
    if unknown.all():
        return None, unknown
    filled = att[name].astype(object).where(~unknown, unknown_as)
    return filled.astype(bool), unknown
