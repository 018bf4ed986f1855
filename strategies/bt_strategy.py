"""``SqueezeBook``: the crowded long-short book (and its overlay) as a backtrader strategy.

Targets are computed once, vectorized, in ``start()`` (``book_targets`` + ``apply_overlay``) or
given (``targets=``); ``next()`` only acts on the precomputed signal bars, sizing with the shared
:func:`strategies.execution.target_shares` so the vectorized twin places the very same orders.
Drop it into any Cerebro: ``cerebro.addstrategy(SqueezeBook)`` builds a minimal market from the
datas when ``market`` is not given.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .borrow import BorrowBook, flat_terms, order_reason
from .bulk_orders import bulk_ready, deliver
from .execution import (
    SHARE_QUANTUM,
    dates_to_num,
    leg_labels,
    num_to_dates,
    order_sequence,
    plan_actions,
    price_arrays,
    target_shares,
)
from .limits import LIMIT_REASON, apply_limits, leverage, refusal_message
from .spec import BOOK, EXECUTION, OVERLAY
from .targets import LEGS, Targets

_EXEC = {p.name: p.default for p in EXECUTION.params}

#: The strategy's own params (besides the book's and the overlay's).
STRATEGY_PARAMS: tuple[tuple[str, Any], ...] = (
    ("fractional", _EXEC["fractional"]),          # execution.fractional
    ("max_leverage", _EXEC["max_leverage"]),      # execution.max_leverage (margin call)
    ("margin_call_to", _EXEC["margin_call_to"]),  # execution.margin_call_to
    ("cash_buffer", _EXEC["cash_buffer"]),        # execution.cash_buffer (funding)
    ("raise_on_reject", True),  # raise SqueezeLabError at stop() if any order was refused
    ("market", None),           # a feeds.market.Market (None: built from the datas)
    ("targets", None),          # Targets to execute as given (None: book + overlay from market)
    ("overlay_log", None),      # the overlay's log of those targets (default: an empty frame)
    ("borrow", None),           # strategies.borrow.BorrowTerms (None: flat, no availability limit)
)


def _merge_params(*groups: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    seen: dict[str, Any] = {}
    for group in groups:
        for name, default in group:
            if name in seen:
                raise SqueezeLabError(f"parameter {name!r} is declared twice: rename one of them")
            seen[name] = default
    return tuple(seen.items())


def flat_params(book: Mapping[str, Any] | None = None, overlay: Mapping[str, Any] | None = None,
                execution: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One flat params dict (what :func:`strategies.engine.run_backtrader` and the strategy take)
    from the book, overlay and execution config sections; a key in two sections is an error."""
    out: dict[str, Any] = {}
    for section, values in (("book", book), ("overlay", overlay), ("execution", execution)):
        for k, v in dict(values or {}).items():
            if k in out:
                raise SqueezeLabError(f"{section}.{k} collides with another section's {k}: rename one")
            out[k] = v
    return out


def market_from_datas(datas: list[Any]) -> Any:
    """A minimal :class:`feeds.market.Market` from preloaded backtrader datas (one per ticker).

    Dates are the union of the feeds' dates; bars an :class:`~strategies.bt_feed.ArrayFeed`
    marks as unlisted become NaN. Attributes only carry ``sector = "Unknown"``.
    """
    from ..feeds.market import FIELDS, Market, normalize_index

    names = [d._name or f"data{i}" for i, d in enumerate(datas)]
    if len(set(names)) != len(names):
        raise SqueezeLabError("SqueezeBook needs one data feed per ticker with distinct names: "
                              "pass name=TICKER to cerebro.adddata")
    cols: dict[str, dict[str, np.ndarray]] = {}
    stamps: list[np.ndarray] = []
    for d, name in zip(datas, names, strict=True):
        n = d.buflen()
        if n <= 0:
            raise SqueezeLabError(
                "SqueezeBook without a market needs preloaded data: use Cerebro(preload=True) "
                "or pass market=..."
            )
        nums = np.asarray(d.lines.datetime.array[:n], dtype=np.float64)
        vals = {f: np.asarray(getattr(d.lines, f).array[:n], dtype=np.float64) for f in FIELDS}
        listed = getattr(d, "listed", None)
        if listed is not None and len(listed) == n:
            for f in FIELDS:
                vals[f] = np.where(listed, vals[f], np.nan)
        cols[name] = {"datetime": nums, **vals}
        stamps.append(nums)
    all_nums = np.unique(np.concatenate(stamps))
    index = normalize_index(num_to_dates(all_nums))
    frames = {}
    for f in FIELDS:
        data = np.full((len(all_nums), len(names)), np.nan)
        for j, name in enumerate(names):
            rows = np.searchsorted(all_nums, cols[name]["datetime"])
            data[rows, j] = cols[name][f]
        frames[f] = pd.DataFrame(data, index=index, columns=pd.Index(names))
    frames["volume"] = frames["volume"].where(frames["close"].notna())
    attributes = pd.DataFrame({"sector": "Unknown"}, index=pd.Index(names))
    return Market(**frames, attributes=attributes, source="backtrader-datas")


def book_and_overlay(market: Any, params: Mapping[str, Any], terms: Any) -> tuple[Targets, pd.DataFrame]:
    """(targets, overlay log) of the book and overlay params on ``market`` with borrow ``terms``
    (what :class:`SqueezeBook` executes when no targets are given)."""
    from .book import book_targets
    from .overlay import apply_overlay

    targets = book_targets(market, **{k: params[k] for k in BOOK.names if k in params})
    return apply_overlay(market, targets, borrow_fees=terms.fee_bps,
                         **{k: params[k] for k in OVERLAY.names if k in params})


class SqueezeBook(bt.Strategy):
    """Executes per-leg target weights at the next open; sells before buys; no order refused.

    Attributes after ``start()``: ``market``, ``targets``, ``overlay_log``, ``plan`` (the signal
    rows, :class:`strategies.execution.ActionPlan`), ``tickers``. During/after the run:
    ``leg_log``: one ``(signal date, leg shares array (legs x tickers))`` per signal row, the
    shares each leg holds once the orders are filled; ``leg_shares_log``: the same as
    ``{leg: DataFrame fill dates x tickers}`` of end-of-day shares from the fill on (change-only
    rows, the form :mod:`analyzers.bt_analyzers` reads); ``rejected`` (count) and ``rejections``
    (details) of orders refused by the broker (Margin/Rejected); ``margin_calls``: one record
    per account-limit action (:func:`strategies.limits.apply_limits`: at a signal close on the
    new targets, on any other close when gross / equity crosses ``max_leverage``).
    """

    params = _merge_params(BOOK.bt_params(), OVERLAY.bt_params(), STRATEGY_PARAMS)

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        market = self.p.market if self.p.market is not None else market_from_datas(list(self.datas))
        self.market = market
        terms = self.p.borrow if self.p.borrow is not None else flat_terms(*market.close.shape, 0.0)
        self.borrow_book = BorrowBook(terms, self.p.max_net_long,
                                      SHARE_QUANTUM if self.p.fractional else 1.0)
        if self.p.targets is not None:
            if not isinstance(self.p.targets, Targets):
                raise SqueezeLabError("SqueezeBook targets= must be a strategies.targets.Targets")
            self.targets = self.p.targets
            log = self.p.overlay_log
            self.overlay_log = log if log is not None else pd.DataFrame()
        else:
            self.targets, self.overlay_log = book_and_overlay(
                market, {k: getattr(self.p, k) for k in (*BOOK.names, *OVERLAY.names)}, terms)
        self.plan = plan_actions(market, self.targets)
        self.tickers = market.tickers
        by_name = {d._name: d for d in self.datas}
        missing = [t for t in self.tickers if str(t) not in by_name]
        if missing:
            raise SqueezeLabError(
                f"no data feed for {len(missing)} ticker(s) of the market (e.g. {missing[0]}): "
                "add one feed per ticker named by ticker (strategies.bt_feed.feeds_for)"
            )
        self._datas = [by_name[str(t)] for t in self.tickers]
        self._close = market.close.to_numpy(np.float64)
        self._value_close = price_arrays(market).close  # unlisted bars carried, as the broker values
        self._last_row = len(market.dates) - 1
        # by day number, so feeds stamped at a session end (CSV feeds: 23:59:59) map too
        self._row_of = {int(x): i for i, x in enumerate(dates_to_num(market.dates))}
        self._action_of = {int(r): k for k, r in enumerate(self.plan.rows)}
        self._recall_check = set(self.borrow_book.check_rows.tolist())
        self._legs = np.zeros((len(LEGS), len(self.tickers)))
        self._net = self._legs.sum(axis=0)   # net shares of self._legs (read on every bar)
        self._holding = False                # self._legs.any()
        self._gross_bound: tuple[int, np.ndarray] | None = None   # see _over_leverage
        self.leg_log: list[tuple[pd.Timestamp, np.ndarray]] = []
        self.rejected = 0
        self.rejections: list[dict[str, Any]] = []
        self.margin_calls: list[dict[str, Any]] = []
        self._minper_settled = False
        self._bulk: bool | None = None   # orders in batches? (strategies.bulk_orders; first order)
        self._limits = {k: getattr(self.p, k) for k in
                        ("fractional", "max_leverage", "margin_call_to", "cash_buffer")}

    def _commission_rate(self) -> float:
        """The broker's percentage commission (what the funding rule budgets for)."""
        ci = self.broker.getcommissioninfo(self._datas[0]) if self._datas else None
        p = getattr(ci, "p", None)
        if p is None or p.commtype != bt.CommInfoBase.COMM_PERC or not p.percabs:
            return 0.0
        return float(p.commission)

    # ------------------------------------------------------------------ trading
    def prenext(self) -> None:
        self.next()  # feeds that start later only restrict what is tradable (market.tradable)

    def next(self) -> None:
        row = self._row_of.get(int(self.datetime[0]))
        if row is None:
            return
        k = self._action_of.get(row)
        plan = self.plan
        value = self.broker.getvalue()
        resized = None
        if k is not None:
            new_legs, _ = target_shares(plan.weights[k], value, self._close[row], self._legs,
                                        plan.resize[k], self.p.fractional)
            reason, exits, resized = plan.reasons[k], plan.exits[k], plan.resize[k]
        elif row < self._last_row and self._holding:
            # no signal: only a margin call (checked like the twin's first_breach) or a borrow
            # recall (like the twin's BorrowBook.first_recall) can trade
            breach = bool(self.p.max_leverage) and self._over_leverage(row, value)
            recall = (row in self._recall_check
                      and self.borrow_book.first_recall(row, row, self._legs) is not None)
            if not (breach or recall):
                return
            new_legs, reason, exits = self._legs, "margin_call" if breach else "", None
        else:
            return
        # locates and recalls (strategies.borrow): shorts above what can be borrowed are cut
        new_legs, why = self.borrow_book.adjust(row, new_legs, self._close[row], value, resized)
        new_legs, acted = apply_limits(new_legs, self._legs, self._value_close[row],
                                       self._close[row], value,
                                       self.broker.getcash(), plan.tradable_next[row],
                                       self._limits, self._commission_rate())
        dates = self.market.dates
        for rec in acted:
            self.margin_calls.append({"date": dates[row], "fill_date": dates[row + 1], **rec})
        if acted:
            reason = LIMIT_REASON[acted[0]["rule"]]
        net = new_legs.sum(axis=0)
        self._submit(net - self._net, leg_labels(self._legs, new_legs), reason, exits, why)
        self._legs, self._net = new_legs, net
        self._holding, self._gross_bound = bool(new_legs.any()), None
        self.leg_log.append((self.market.dates[row], new_legs))

    def _over_leverage(self, row: int, value: float) -> bool:
        """gross / equity above ``max_leverage`` at this close (:func:`leverage` on the held net
        shares: the twin's first_breach test). Closes are not negative, so ``close @ |net|`` is
        the gross up to summation order; a row under the limit by more than that (1e-9 of it)
        skips the exact sum. The bound is computed for up to 64 rows at once, until the book
        trades."""
        bound = self._gross_bound
        if bound is None or not bound[0] <= row < bound[0] + len(bound[1]):
            rows = self._value_close[row:min(row + 64, self._last_row + 1)]
            bound = self._gross_bound = (row, rows @ np.abs(self._net))
        max_lev = self.p.max_leverage
        if value > 0 and bound[1][row - bound[0]] < (max_lev * (1 - 1e-9)) * value:
            return False
        _, lev = leverage(self._net, self._value_close[row], value)
        return bool(lev > max_lev)

    def _submit(self, delta: np.ndarray, labels: np.ndarray, reason: str, exits: Any,
                why: Any) -> None:
        """The orders taking the book by ``delta`` shares, sells then buys: one batch for the
        broker when nothing needs them one by one (:mod:`strategies.bulk_orders`), else
        ``sell``/``buy`` per name."""
        seq = order_sequence(delta)
        legs = labels[seq].tolist()
        reasons = ["delist_exit" if exits is not None and exits[j] else
                   order_reason(reason, why[j] if why is not None else "") for j in seq]
        if self._bulk is None:
            self._bulk = bulk_ready(self, SqueezeBook)
        datas, sizes = [self._datas[j] for j in seq], delta[seq].tolist()
        if self._bulk and self.broker.bulk_ready():   # the broker may have left its fast path
            self.broker.submit_batch(self, datas, sizes, legs, reasons)
            return
        self._place(datas, sizes, legs, reasons)

    def _place(self, datas: list[Any], sizes: list[float], legs: list[str],
               reasons: list[str]) -> None:
        """Orders one by one through backtrader (``sell``/``buy``), in the given order."""
        for data, size, leg, why in zip(datas, sizes, legs, reasons, strict=True):
            if size < 0:
                self.sell(data=data, size=-size, leg=leg, reason=why)
            else:
                self.buy(data=data, size=size, leg=leg, reason=why)

    def trade_one_by_one(self, batches: list[Any]) -> None:
        """Leave bulk mode for good, placing ``batches`` (not yet checked) as orders: the broker
        calls this when the strategy places orders of its own beside the book's in one bar, so
        all are checked and filled in one sequence, as backtrader would have them."""
        self._bulk = False
        for b in batches:
            self._place(b.datas, b.size, b.leg, b.reason)

    def _notify(self, qorders: Any = [], qtrades: Any = []) -> None:  # noqa: B006 (backtrader's)
        """``Strategy._notify``, after delivering the broker's bulk fills (to the analyzers)
        and refusals (to :meth:`_refused`) where the per-order notifications would be."""
        take = getattr(self.broker, "take_bulk", None) if self._bulk else None
        if take is not None:
            for kind, event in take(self):
                if kind == "fills":
                    deliver(itertools.chain(self.analyzers, self._slave_analyzers), event)
                else:
                    self._refused(event["data"]._name, event["size"], event["dt"],
                                  bt.Order.Status[event["status"]])
        super()._notify(qorders, qtrades)

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Margin, order.Rejected):
            self._refused(order.data._name, order.created.size, order.created.dt,
                          order.getstatusname())

    def _refused(self, ticker: str, size: float, dt: float, status: str) -> None:
        """Count a refused order; keep the first 20 with the equity they were refused at."""
        self.rejected += 1
        if len(self.rejections) < 20:
            self.rejections.append({
                "ticker": ticker, "size": float(size),
                "date": bt.num2date(dt).date().isoformat(),
                "status": status, "equity": float(self.broker.getvalue()),
            })

    def _getminperstatus(self) -> int:
        """``Strategy._getminperstatus`` (max over datas of minperiod - bars seen, a loop over
        every data on every bar) until it turns negative, then that value: bars seen only grow,
        so it stays negative, and backtrader only reads its sign (next / nextstart / prenext)."""
        if self._minper_settled:
            return self._minperstatus
        status = super()._getminperstatus()
        self._minper_settled = status < 0
        return status

    def clear(self) -> None:
        """``Strategy.clear`` without its ``_orders`` archive: backtrader appends every order
        notification (a clone per status change, three per filled order) to ``_orders`` and never
        reads it; the book keeps what it needs (``leg_log``, the recorder's fills)."""
        self._orderspending = []
        self._tradespending = []

    def stop(self) -> None:
        if self.rejected and self.p.raise_on_reject:
            first = self.rejections[0]
            raise SqueezeLabError(refusal_message(self.rejected, first["ticker"], first["size"],
                                                  first["date"], first["equity"],
                                                  self.p.cash_buffer))

    # ------------------------------------------------------------------ outputs
    @property
    def leg_shares_log(self) -> dict[str, pd.DataFrame]:
        """{leg: DataFrame fill dates x tickers}: shares per leg from each fill bar on."""
        log = getattr(self, "leg_log", [])
        dates = self.market.dates
        rows = dates.get_indexer(pd.DatetimeIndex([d for d, _ in log])) + 1
        states = (np.stack([s for _, s in log]) if log
                  else np.zeros((0, len(LEGS), len(self.tickers))))
        index = pd.DatetimeIndex(dates[rows], name="date")
        return {leg: pd.DataFrame(states[:, i, :], index=index, columns=self.tickers)
                for i, leg in enumerate(LEGS)}
