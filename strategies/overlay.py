"""The junk-momentum overlay: de-risk a long-short book while a junk rally / short squeeze runs.

Composable with any book: :func:`apply_overlay` takes the book's :class:`Targets` and returns
adjusted targets (plus a hedge leg) and a log of every decision. Detection, computed once over all
dates with data up to each close (:func:`~strategies.signals.junk_rally_signal`), feeds a small
state machine (:func:`regime_switch`):

- off -> on when ``signal >= threshold`` (and, if ``breadth_min > 0``, at least that share of
  the book's current shorts rose over ``signal_lookback``) and ``cooloff`` sessions have passed
  since the last switch;
- on -> off (re-risk) when ``signal < exit_threshold`` and the overlay has been on for at least
  ``cooloff`` sessions (hysteresis + minimum time de-risked).

While on, the configured actions run, in the configured order, on the book's current targets, like
bt's ``Algo`` / ``AlgoStack``: each action is a small callable doing one job on a target-weights
state and returning whether the chain goes on. Available actions (:data:`ACTIONS`):

- ``degross``: scale the long and short legs by ``degross_to``;
- ``cover_crowded``: buy back the ``cover_fraction`` most squeezable shorts (ranked by
  :func:`~strategies.signals.squeeze_pressure`), their short weight set to 0 (not redistributed);
- ``hedge_basket``: hedge leg long ``hedge_size`` of equity in the most-shorted basket's current
  constituents, equal weight;
- ``neutralize_beta``: scale the short leg so its beta exposure matches the long side's
  (long leg plus any hedge leg built earlier in the chain);
- ``cover_expensive``: buy back every short whose borrow fee in force (the run's
  ``execution.borrow_model``, :mod:`strategies.borrow`) is at least ``cover_fee_bps``.

A new Targets row is emitted on every decision date: a switch on or off, and each book rebalance
date while on (actions re-applied to the new book). Book rebalance rows (on or off) resize every
name; overlay-only rows resize only the names whose target changed. Decisions start at the book's
first signal date and never on the last date (there is no next bar to trade on).

The log (:data:`OVERLAY_LOG_COLUMNS`) has one row per action per decision, and one ``re_risk`` row
per switch off; ``event`` says which (``on``, ``rebalance`` or ``off``, :data:`OVERLAY_EVENTS`) and
``detail`` explains it in words (starting with the same event).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from .signals import (
    junk_rally_signal,
    market_beta,
    most_shorted_members,
    short_breadth,
    squeeze_pressure,
)
from .spec import OVERLAY
from .targets import LEGS, Targets

#: Columns of the overlay log.
OVERLAY_LOG_COLUMNS = ("date", "signal", "action", "size", "detail", "event")
#: The ``event`` of a log row: the overlay switched ``on``, re-applied its actions at a book
#: ``rebalance`` while on, or switched ``off``. The overlay is de-risked from an ``on`` row's date
#: until the next ``off`` row's date (:func:`overlay_state`).
OVERLAY_EVENTS = ("on", "rebalance", "off")

#: What ``size`` means for each logged action.
OVERLAY_LOG_SIZE: dict[str, str] = {
    "degross": "the book's gross (long + short legs) after de-grossing",
    "cover_crowded": "short weight bought back (sum of |weights| covered)",
    "hedge_basket": "gross of the hedge leg (= hedge_size unless no member is tradable)",
    "neutralize_beta": "factor applied to the short leg",
    "cover_expensive": "short weight bought back (sum of |weights| covered)",
    "re_risk": "the book's gross restored",
}


def resolve_overlay_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults filled in, types and choices checked; ``exit_threshold`` None -> threshold / 2.

    (When the threshold is not positive, None means the threshold itself: no hysteresis.)
    """
    p = dict(OVERLAY.resolve(params))
    if p["exit_threshold"] is None:
        p["exit_threshold"] = min(p["threshold"], p["threshold"] / 2.0)
    return p


def empty_log() -> pd.DataFrame:
    """An overlay log with no rows and the columns and dtypes of one with rows (:func:`_assemble`):
    a log cut to no rows compares equal to an empty one."""
    return pd.DataFrame({
        "date": pd.Series([], dtype="datetime64[ns]"),
        "signal": pd.Series([], dtype=np.float64),
        "action": pd.Series([], dtype="str"),
        "size": pd.Series([], dtype=np.float64),
        "detail": pd.Series([], dtype="str"),
        "event": pd.Series([], dtype="str"),
    })


def overlay_state(log: pd.DataFrame | None, dates: pd.DatetimeIndex) -> np.ndarray:
    """1 on the sessions the overlay is de-risked (from each ``on`` event to the next ``off``),
    else 0, read from the log's ``event`` column (a log without it: all 0)."""
    state = np.zeros(len(dates), dtype=np.int8)
    if log is None or log.empty or "event" not in log.columns:
        return state
    switches = log[log["event"].isin(("on", "off"))]
    for date, event in zip(pd.to_datetime(switches["date"]), switches["event"], strict=True):
        state[dates.searchsorted(date):] = 1 if event == "on" else 0
    return state


# --------------------------------------------------------------------------- state machine
def regime_switch(signal: np.ndarray, threshold: float, exit_threshold: float, cooloff: int,
                  start: int = 0, stop: int | None = None, gate: np.ndarray | None = None
                  ) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Hysteresis state machine over a signal: on at ``threshold``, off below ``exit_threshold``.

    Parameters
    ----------
    signal : np.ndarray
        One value per date (NaN: no switch that date).
    threshold, exit_threshold : float
        Switch on when ``signal >= threshold``; off when ``signal < exit_threshold``.
    cooloff : int
        Minimum sessions between two switches (so also the minimum time on).
    start, stop : int
        Positions where decisions may happen: ``start <= i < stop`` (default: all).
    gate : np.ndarray of bool, optional
        Extra condition needed to switch on (e.g. short-book breadth).

    Returns
    -------
    (np.ndarray, list)
        ``state[i]`` True while on (after the decision of date i), and the switches as
        ``(position, "on" | "off")``.
    """
    sig = np.asarray(signal, np.float64)
    n = len(sig)
    stop = n if stop is None else stop
    with np.errstate(invalid="ignore"):
        can_on = sig >= threshold
        can_off = sig < exit_threshold
    if gate is not None:
        can_on &= np.asarray(gate, bool)
    # where each switch is allowed, as sorted positions: the next one is a bisection away
    allowed = [(np.flatnonzero(a[start:stop]) + start).tolist() for a in (can_on, can_off)]
    events: list[tuple[int, str]] = []
    lo, on = start, False
    while (k := bisect.bisect_left(allowed[on], lo)) < len(allowed[on]):
        i = allowed[on][k]
        on = not on
        events.append((i, "on" if on else "off"))
        lo = max(i + 1, i + math.ceil(cooloff))   # cool-off: the next switch i2 - i >= cooloff
    return _switch_state(n, events), events


def _switch_state(n: int, events: list[tuple[int, str]]) -> np.ndarray:
    """True from each ``on`` switch up to (not including) the next ``off`` switch."""
    state = np.zeros(n, bool)
    ends = [i for i, _ in events[1:]] + [n]
    for (i, ev), end in zip(events, ends, strict=False):   # no events: no pairs
        if ev == "on":
            state[i:end] = True
    return state


# --------------------------------------------------------------------------- actions (bt-style)
@dataclass
class OverlayState:
    """The target-weights state an action works on, for one decision date."""

    date: pd.Timestamp
    pos: int
    signal: float
    event: str
    legs: dict[str, np.ndarray]
    tickers: pd.Index
    log: list[tuple[str, float, str]] = field(default_factory=list)

    def record(self, action: str, size: float, detail: str) -> None:
        self.log.append((action, float(size), f"{self.event}: {detail}"))


class Action:
    """One overlay step: ``action(state) -> bool`` (False stops the chain), like bt's ``Algo``."""

    name = "action"

    def __call__(self, state: OverlayState) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


class ActionStack(Action):
    """Run actions in order while each returns True, like bt's ``AlgoStack``."""

    name = "stack"

    def __init__(self, *actions: Action) -> None:
        self.actions = actions

    def __call__(self, state: OverlayState) -> bool:
        return all(a(state) for a in self.actions)


class Degross(Action):
    """Scale the book's long and short legs by ``degross_to``."""

    name = "degross"

    def __init__(self, degross_to: float) -> None:
        self.degross_to = degross_to

    def __call__(self, state: OverlayState) -> bool:
        before = np.abs(state.legs["long"]).sum() + np.abs(state.legs["short"]).sum()
        state.legs["long"] = state.legs["long"] * self.degross_to
        state.legs["short"] = state.legs["short"] * self.degross_to + 0.0
        after = np.abs(state.legs["long"]).sum() + np.abs(state.legs["short"]).sum()
        state.record(self.name, after, f"book gross {before:.4f} -> {after:.4f} "
                     f"(x{self.degross_to:g})")
        return True


class CoverCrowded(Action):
    """Cover the most squeezable ``cover_fraction`` of the short names (weights set to 0)."""

    name = "cover_crowded"

    def __init__(self, pressure: np.ndarray, cover_fraction: float) -> None:
        self.pressure = pressure
        self.cover_fraction = cover_fraction

    def __call__(self, state: OverlayState) -> bool:
        short = state.legs["short"]
        names = np.flatnonzero(short < 0)
        n_cover = min(len(names), math.ceil(self.cover_fraction * len(names) - 1e-9))
        if n_cover == 0:
            state.record(self.name, 0.0, f"no short to cover ({len(names)} shorts)")
            return True
        pr = self.pressure[state.pos, names]
        key = np.where(np.isfinite(pr), pr, -np.inf)
        chosen = names[np.argsort(-key, kind="stable")[:n_cover]]
        covered = float(np.abs(short[chosen]).sum())
        new = short.copy()
        new[chosen] = 0.0
        state.legs["short"] = new
        shown = ", ".join(map(str, state.tickers[chosen][:10])) + (", ..." if n_cover > 10 else "")
        state.record(self.name, covered, f"covered {n_cover} of {len(names)} shorts, most "
                     f"squeezed first: {shown}")
        return True


class HedgeBasket(Action):
    """Hold ``hedge_size`` of equity long in the most-shorted basket's members, equal weight."""

    name = "hedge_basket"

    def __init__(self, members: np.ndarray, tradable_next: np.ndarray, hedge_size: float,
                 source: str) -> None:
        self.members = members
        self.tradable_next = tradable_next
        self.hedge_size = hedge_size
        self.source = source

    def __call__(self, state: OverlayState) -> bool:
        mem = self.members[state.pos] & self.tradable_next[state.pos]
        m = int(mem.sum())
        hedge = np.zeros(len(state.tickers))
        if m and self.hedge_size > 0:
            hedge[mem] = self.hedge_size / m
        state.legs["hedge"] = hedge
        state.record(self.name, float(hedge.sum()),
                     f"long {m} most-shorted names at {self.hedge_size / m if m else 0:.4f} each "
                     f"({self.source})" if m else f"no tradable most-shorted member ({self.source})")
        return True


class NeutralizeBeta(Action):
    """Scale the short leg so its beta exposure equals the long side's (long + hedge legs)."""

    name = "neutralize_beta"

    def __init__(self, beta: np.ndarray) -> None:
        self.beta = beta

    def __call__(self, state: OverlayState) -> bool:
        b = self.beta[state.pos]
        b = np.where(np.isfinite(b), b, 1.0)  # unknown beta counts as 1
        long_beta = float(((state.legs["long"] + state.legs["hedge"]) * b).sum())
        short_beta = float((-state.legs["short"] * b).sum())
        if long_beta <= 0 or short_beta <= 0:
            state.record(self.name, 1.0, f"skipped: long beta {long_beta:.4f}, short beta "
                         f"{short_beta:.4f} (both must be > 0)")
            return True
        scale = long_beta / short_beta
        state.legs["short"] = state.legs["short"] * scale + 0.0
        state.record(self.name, scale, f"short beta exposure {short_beta:.4f} -> {long_beta:.4f} "
                     f"(short leg x{scale:.4f})")
        return True


class CoverExpensive(Action):
    """Cover every short whose borrow fee in force is at least ``cover_fee_bps`` (weights to 0)."""

    name = "cover_expensive"

    def __init__(self, fee_bps: np.ndarray, cover_fee_bps: float) -> None:
        self.fee_bps = fee_bps
        self.cover_fee_bps = cover_fee_bps

    def __call__(self, state: OverlayState) -> bool:
        short = state.legs["short"]
        names = np.flatnonzero(short < 0)
        fee = self.fee_bps[state.pos, names]
        chosen = names[fee >= self.cover_fee_bps]
        if len(chosen) == 0:
            state.record(self.name, 0.0, f"no short at or above {self.cover_fee_bps:g} bps "
                         f"({len(names)} shorts)")
            return True
        chosen = chosen[np.argsort(-self.fee_bps[state.pos, chosen], kind="stable")]
        covered = float(np.abs(short[chosen]).sum())
        new = short.copy()
        new[chosen] = 0.0
        state.legs["short"] = new
        shown = ", ".join(f"{t} {f:,.0f}" for t, f in zip(
            state.tickers[chosen][:10], self.fee_bps[state.pos, chosen][:10], strict=True))
        state.record(self.name, covered, f"covered {len(chosen)} of {len(names)} shorts at "
                     f">= {self.cover_fee_bps:g} bps, dearest first (bps): {shown}"
                     + (", ..." if len(chosen) > 10 else ""))
        return True


class Fund(Action):
    """Keep the adjusted book fundable: trim long and hedge legs so net long <= ``max_net_long``.

    A stock account cannot hold more longs than equity plus short proceeds (backtrader refuses the
    order for cash); covering shorts or adding a hedge can cross that line, so this step always
    runs last, and logs when it acts.
    """

    name = "fund"

    def __init__(self, max_net_long: float) -> None:
        self.max_net_long = max_net_long

    def __call__(self, state: OverlayState) -> bool:
        longs = float(state.legs["long"].sum() + state.legs["hedge"].sum())
        shorts = float(-state.legs["short"].sum())
        net = longs - shorts
        if net <= self.max_net_long + 1e-12 or longs <= 0:
            return True
        scale = max(0.0, (self.max_net_long + shorts) / longs)
        state.legs["long"] = state.legs["long"] * scale
        state.legs["hedge"] = state.legs["hedge"] * scale
        state.record(self.name, scale, f"net long {net:.4f} > {self.max_net_long:g}: long and "
                     f"hedge legs x{scale:.4f}")
        return True


#: Action names -> classes.
ACTIONS: dict[str, type[Action]] = {
    "degross": Degross,
    "cover_crowded": CoverCrowded,
    "hedge_basket": HedgeBasket,
    "neutralize_beta": NeutralizeBeta,
    "cover_expensive": CoverExpensive,
}


def build_actions(market: Market, p: dict[str, Any], borrow_fees: np.ndarray | None = None,
                  rows: np.ndarray | None = None) -> ActionStack:
    """The configured actions, in order, with the frames they need computed once.

    ``borrow_fees``: the yearly fee (bps) in force per market row and name (``cover_expensive``);
    ``rows``: the only market rows the actions will be asked about (the decision dates), where
    the cross-sectional squeeze pressure is scored (None: every row).
    """
    _check_fees(p, borrow_fees)
    builders: dict[str, Callable[[], Action]] = {
        "degross": lambda: Degross(p["degross_to"]),
        "cover_crowded": lambda: CoverCrowded(_pressure(market, p, rows), p["cover_fraction"]),
        "hedge_basket": lambda: _hedge(market, p),
        "neutralize_beta": lambda: NeutralizeBeta(
            market_beta(market, p["overlay_beta_window"]).to_numpy()),
        "cover_expensive": lambda: CoverExpensive(borrow_fees, p["cover_fee_bps"]),
    }
    return ActionStack(*(builders[name]() for name in p["actions"]), Fund(p["max_net_long"]))


def _check_fees(p: dict[str, Any], borrow_fees: np.ndarray | None) -> None:
    """``cover_expensive`` needs the run's borrow fees."""
    if "cover_expensive" in p["actions"] and borrow_fees is None:
        raise SqueezeLabError("overlay action cover_expensive needs the run's borrow fees: pass "
                              "borrow_fees= (strategies.borrow.resolve_terms(...).fee_bps)")


def _pressure(market: Market, p: dict[str, Any], rows: np.ndarray | None) -> np.ndarray:
    """Squeeze pressure (market rows x names) on ``rows`` (NaN on the others; None: all rows)."""
    if rows is None:
        return squeeze_pressure(market, lookback=p["signal_lookback"]).to_numpy()
    out = np.full(market.close.shape, np.nan)
    out[rows] = squeeze_pressure(market, lookback=p["signal_lookback"], rows=rows).to_numpy()
    return out


#: Actions scored on the decision rows only (``build_actions``' ``rows``: :func:`_pressure`): a
#: row's values may differ in the last bit with another set of decision rows, so
#: :class:`ActionRows` never reuses rows of a stack holding one.
ROW_SCORED = frozenset({"cover_crowded"})
#: The overlay params that decide when the overlay is on, not what its actions do to a row.
SWITCH_PARAMS = frozenset({"enabled", "threshold", "exit_threshold", "cooloff", "breadth_min"})


class ActionRows:
    """The rows the actions made, kept for later calls of :func:`apply_overlay` on the same
    market, book targets, borrow fees and action params (a sweep's points that differ only in
    when the overlay is on meet the same rows again): the row is copied, not recomputed.

    A row is keyed by its market row, event and signal; the last ``size`` setups are kept, and
    rows up to ``max_bytes`` in all (later rows are computed, not kept).
    """

    def __init__(self, size: int = 16, max_bytes: int = 64 * 2 ** 20) -> None:
        self.size, self.max_bytes, self.nbytes = size, max_bytes, 0
        self._tables: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], _Made]] = OrderedDict()

    def __len__(self) -> int:
        """Rows kept (all setups)."""
        return sum(len(made) for _, made in self._tables.values())

    def table(self, market: Market, targets: Targets, borrow_fees: np.ndarray | None,
              p: dict[str, Any]) -> _Made | None:
        """The rows made so far for this setup (a new table if none; None: not reusable)."""
        if ROW_SCORED.intersection(p["actions"]):
            return None
        held = (market, targets, borrow_fees)   # kept alive with the table: their ids stay theirs
        key = (*map(id, held), repr(sorted((k, v) for k, v in p.items() if k not in SWITCH_PARAMS)))
        if key in self._tables:
            self._tables.move_to_end(key)
        else:
            self._tables[key] = (held, _Made(self))
            while len(self._tables) > self.size:
                _, gone = self._tables.popitem(last=False)[1]
                self.nbytes -= sum(row.nbytes for row, _ in gone.values())
        return self._tables[key][1]


class _Made(dict):
    """One setup's rows (:class:`ActionRows`): (legs, log entries) by (market row, event,
    signal)."""

    __slots__ = ("owner",)

    def __init__(self, owner: ActionRows) -> None:
        super().__init__()
        self.owner = owner

    def keep(self, key: tuple[int, str, str], made: tuple[np.ndarray, tuple[Any, ...]]) -> None:
        """Keep a row while the owner's byte budget allows."""
        if self.owner.nbytes + made[0].nbytes <= self.owner.max_bytes:
            self[key] = made
            self.owner.nbytes += made[0].nbytes


def _hedge(market: Market, p: dict[str, Any]) -> HedgeBasket:
    members, src = most_shorted_members(market, n=p["basket_names"], min_cap=p["basket_min_cap"])
    return HedgeBasket(members.to_numpy(bool), market.tradable_next.to_numpy(), p["hedge_size"],
                       src.text)


# --------------------------------------------------------------------------- apply
def apply_overlay(market: Market, targets: Targets, *, signal: pd.Series | None = None,
                  borrow_fees: np.ndarray | None = None, action_rows: ActionRows | None = None,
                  **params: Any) -> tuple[Targets, pd.DataFrame]:
    """Adjust a book's targets with the junk-momentum overlay.

    Parameters
    ----------
    market : Market
    targets : Targets
        The book's targets (signal dates must be market dates, tickers the market's).
    signal : pd.Series, optional
        A precomputed detection signal on the market's dates (default:
        :func:`~strategies.signals.junk_rally_signal` with the overlay's signal params).
    borrow_fees : np.ndarray, optional
        Yearly borrow fee (bps) per market row and name, needed by ``cover_expensive``.
    action_rows : ActionRows, optional
        Rows the actions made in earlier calls on the same market, targets (unchanged since),
        borrow fees and action params, reused bit for bit (a sweep's points).
    **params
        Any key of the ``[overlay]`` table of :mod:`strategies.spec`.

    Returns
    -------
    (Targets, pd.DataFrame)
        Adjusted targets (book rows plus overlay decision rows) and the overlay log
        (:data:`OVERLAY_LOG_COLUMNS`). With ``enabled=False``: the targets unchanged and an empty
        log.

    Steps: :func:`_book_rows` (the targets checked against the market), :func:`detection_signal`,
    :func:`_breadth_gate`, :func:`regime_switch`, then :func:`_decide` (the actions of
    :func:`build_actions` on the rows where the overlay is on) and :func:`_assemble`.
    """
    p = resolve_overlay_params(params)
    if not p["enabled"]:
        return targets, empty_log()
    book_pos = _book_rows(market, targets)
    if len(book_pos) == 0:
        return targets, empty_log()
    sig = detection_signal(market, p) if signal is None else signal
    sig_arr = sig.reindex(market.dates).to_numpy(np.float64)
    book = _Book.of(targets, book_pos, len(market.dates))
    _, events = regime_switch(sig_arr, p["threshold"], p["exit_threshold"], p["cooloff"],
                              start=int(book_pos[0]), stop=len(market.dates) - 1,
                              gate=_breadth_gate(market, p, book))
    switch = dict(events)
    decisions = np.asarray(sorted(set(book_pos.tolist()) | set(switch)), dtype=np.int64)
    _check_fees(p, borrow_fees)
    build = functools.partial(build_actions, market, p, borrow_fees, rows=decisions)
    made = None if action_rows is None else action_rows.table(market, targets, borrow_fees, p)
    # with rows to reuse, the stack is built on the first row not made yet (maybe never)
    actor = _Actor(build, made, None if made is not None else build())
    return _assemble(market, targets, _decide(market, p, book, actor, decisions, switch, sig_arr))


def detection_signal(market: Market, p: dict[str, Any]) -> pd.Series:
    """The junk-rally signal the overlay's resolved params ``p`` ask for (point-independent in a
    sweep over thresholds, cool-offs and actions)."""
    return junk_rally_signal(market, lookback=p["signal_lookback"],
                             vol_window=p["signal_vol_window"], mode=p["signal_mode"],
                             n_names=p["basket_names"], min_cap=p["basket_min_cap"])


def _book_rows(market: Market, targets: Targets) -> np.ndarray:
    """Market rows of the book's signal dates, after checking tickers and dates fit."""
    if not targets.tickers.equals(market.tickers):
        raise SqueezeLabError("overlay: the targets' tickers are not the market's: build the book "
                              "targets from the same market")
    if not targets.dates.is_monotonic_increasing or targets.dates.has_duplicates:
        raise SqueezeLabError("overlay: the targets' dates are not sorted and unique: sort the "
                              "book targets by date")
    book_pos = market.dates.get_indexer(targets.dates)
    if (book_pos < 0).any():
        bad = targets.dates[book_pos < 0][0]
        raise SqueezeLabError(f"overlay: target date {bad.date()} is not a market date: build the "
                              "book targets from the same market")
    return book_pos


@dataclass(frozen=True)
class _Book:
    """The book's targets as arrays: weights (per leg: row, ticker; the frames' own values, not
    copied), resize, reasons, and the book row in force at each market date (-1 before the first)."""

    weights: tuple[np.ndarray, ...]
    resize: np.ndarray
    reasons: list[Any] | None
    is_book: np.ndarray
    in_force: np.ndarray

    @classmethod
    def of(cls, targets: Targets, book_pos: np.ndarray, n_dates: int) -> _Book:
        """The arrays of ``targets`` whose rows sit at market rows ``book_pos``."""
        w_book = tuple(targets.legs[leg].to_numpy(np.float64) for leg in LEGS)
        rs_book = targets.resize.to_numpy(bool)
        in_force = np.full(n_dates, -1)
        in_force[book_pos] = np.arange(len(book_pos))
        is_book = np.zeros(n_dates, bool)
        is_book[book_pos] = True
        reasons = targets.reasons.tolist() if len(targets.reasons) else None
        return cls(w_book, rs_book, reasons, is_book, np.maximum.accumulate(in_force))


def _breadth_gate(market: Market, p: dict[str, Any], book: _Book) -> np.ndarray | None:
    """Where enough of the book's shorts rose to let the overlay switch on (``breadth_min``)."""
    if p["breadth_min"] <= 0:
        return None
    in_force = book.in_force
    held = np.where(in_force[:, None] >= 0,
                    book.weights[LEGS.index("short")][np.maximum(in_force, 0)] < 0, False)
    short_held = pd.DataFrame(held, index=market.dates, columns=market.tickers)
    br = short_breadth(market.close, short_held, p["signal_lookback"]).to_numpy()
    return np.where(np.isfinite(br), br >= p["breadth_min"], False)


@dataclass(frozen=True)
class _Decided:
    """The decision rows: weights (leg, row, ticker), resize (row, ticker), each row's reason,
    and the log entries."""

    rows: np.ndarray
    weights: np.ndarray
    resize: np.ndarray
    reasons: list[str]
    log: list[tuple[int, float, str, float, str, str]]


def _decide(market: Market, p: dict[str, Any], book: _Book, actor: _Actor,
            decisions: np.ndarray, switch: dict[int, str], sig: np.ndarray) -> _Decided:
    """Every decision row: the book in force (gathered at once), the actions run on the rows
    where the overlay is on, the re-risk logged where it switches off."""
    js = book.in_force[decisions]
    w = np.empty((len(LEGS), len(js), book.resize.shape[1]))   # (leg, row, ticker)
    for k, leg_w in enumerate(book.weights):
        w[k] = leg_w[js]   # the book row in force
    log: list[tuple[int, float, str, float, str, str]] = []
    rows = decisions.tolist()
    evs = [switch.get(i) for i in rows]
    ons = list(itertools.accumulate(evs, lambda on, ev: ev == "on" or (ev != "off" and on),
                                    initial=False))[1:]
    whys = [""] * len(rows)   # the book's rows while off: nothing to do
    dates = iter(market.dates.take(decisions[ons]))   # boxed only where the actions run
    for r in [r for r, (ev, on) in enumerate(zip(evs, ons, strict=True)) if on or ev == "off"]:
        i, ev, s = rows[r], evs[r], float(sig[rows[r]])
        if ons[r]:
            whys[r] = _act(market, p, actor, w[:, r], (i, next(dates), s, ev), log)
        else:
            restored = float(np.abs(w[LEGS.index("long"), r]).sum()
                             + np.abs(w[LEGS.index("short"), r]).sum())
            log.append((i, s, "re_risk", restored, f"off: signal {s:.4f} < exit "
                        f"{p['exit_threshold']:g}; book targets restored, hedge closed", "off"))
            whys[r] = "overlay off: re-risk"
    return _Decided(decisions, w, _resize(book, js, decisions, w),
                    _reasons(book, js, decisions, whys), log)


@dataclass
class _Actor:
    """The action stack (built on first use) and the rows earlier calls made (``made``: an
    :class:`ActionRows` table, None: none kept)."""

    build: Callable[[], ActionStack]
    made: _Made | None
    stack: ActionStack | None = None

    def run(self, state: OverlayState) -> None:
        """Run the stack on ``state`` (building it first if needed)."""
        if self.stack is None:
            self.stack = self.build()
        self.stack(state)


def _act(market: Market, p: dict[str, Any], actor: _Actor, legs: np.ndarray,
         at: tuple[int, pd.Timestamp, float, str | None],
         log: list[tuple[int, float, str, float, str, str]]) -> str:
    """Run the actions on one row's legs (written back in place; or the row an earlier call
    made, copied), log them; the row's reason."""
    i, date, sig, ev = at
    event = "on" if ev == "on" else "rebalance"
    key = (i, event, sig.hex())
    made = actor.made.get(key) if actor.made is not None else None
    if made is None:
        state = OverlayState(date=date, pos=i, signal=sig, event=event,
                             legs={leg: legs[k] for k, leg in enumerate(LEGS)},
                             tickers=market.tickers)
        actor.run(state)
        for k, leg in enumerate(LEGS):
            legs[k] = state.legs[leg]
        made = (legs.copy(), tuple(state.log))
        if actor.made is not None:
            actor.made.keep(key, made)
    else:
        legs[...] = made[0]
    log.extend((i, sig, action, size, detail, event) for action, size, detail in made[1])
    return f"overlay {event}: {'+'.join(p['actions'])}"


def _resize(book: _Book, js: np.ndarray, decisions: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Resize masks: the book's on its rebalance rows, else the names whose target changed
    since the previous decision row."""
    rs = book.resize[js]
    for r in np.flatnonzero(~book.is_book[decisions]).tolist():
        rs[r] = (w[:, r] != w[:, r - 1]).any(axis=0) if r else True
    return rs


def _reasons(book: _Book, js: np.ndarray, decisions: np.ndarray, whys: list[str]) -> list[str]:
    """Each row's reason: the book's on its rebalance rows (then the overlay's), else the
    overlay's."""
    out = []
    for j, is_book, why in zip(js.tolist(), book.is_book[decisions].tolist(), whys, strict=True):
        if is_book:
            br = book.reasons[j] if book.reasons is not None else "rebalance"
            why = f"{br}; {why}" if why else str(br)
        out.append(why)
    return out


def _assemble(market: Market, targets: Targets, dec: _Decided) -> tuple[Targets, pd.DataFrame]:
    """The adjusted :class:`Targets` and the overlay log from the decision rows."""
    idx = market.dates[dec.rows].rename(targets.dates.name)
    legs = {leg: pd.DataFrame(dec.weights[k], index=idx, columns=market.tickers, copy=False)
            for k, leg in enumerate(LEGS)}
    out = Targets(legs=legs, resize=pd.DataFrame(dec.resize, index=idx, columns=market.tickers,
                                                  copy=False),
                  reasons=pd.Series(dec.reasons, index=idx, dtype=object))
    if not dec.log:
        return out, empty_log()
    at, signal, action, size, detail, event = zip(*dec.log, strict=True)
    return out, pd.DataFrame({   # built by column (the dtypes a frame of the tuples infers:
        "date": market.dates.take(np.asarray(at)).as_unit("ns"), "signal": np.array(signal, np.float64),
        "action": pd.array(action, dtype="str"), "size": np.array(size, np.float64),   # str
        "detail": pd.array(detail, dtype="str"), "event": pd.array(event, dtype="str")})
