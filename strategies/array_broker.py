"""A backtrader broker that keeps positions, closes and credit interest in NumPy arrays.

``BackBroker.next`` loops over every position on every bar in Python: credit interest through
``CommInfoBase.get_credit_interest`` (two ``num2date`` calls per position) and the valuation in
``_get_value`` (four CommInfo calls per position). Profiled, that is ~45% of a 500-name run.
:class:`ArrayBroker` does the same arithmetic as one vectorized step per bar (the valuation for
a block of bars at once while the positions stay as they are) and leaves orders,
fills, commission, slippage, margin checks and notifications to ``BackBroker`` untouched, so a
run through it gives the same fills and the same values (tests/test_array_broker.py checks them
equal to BackBroker's on the same runs).

Where it touches backtrader internals (backtrader is pinned in setup.cfg for this and
:class:`~strategies.bt_feed.ArrayFeed`), all read from ``backtrader/brokers/bbroker.py`` 1.9.78:

- it overrides ``next`` and ``_get_value`` (no ``datas``) and repeats their bookkeeping: the
  ``_toactivate`` / ``check_submitted`` / ``_process_order_history`` / ``pending`` loop, the
  ``_cash_addition`` queue, and the ``_value`` / ``_valuemkt`` / ``_valuelever`` /
  ``_valuemktlever`` / ``_leverage`` / ``_unrealized`` / ``_fundval`` attributes;
- sums are taken in the order of the ``positions`` dict, as ``BackBroker``'s loops take them,
  with a sequential ``np.cumsum`` (not NumPy's pairwise sum), so the values are the same floats;
- it wraps ``_execute`` to copy a filled position's size, price and fill date into its arrays;
- it overrides ``notify`` (the queue of order notifications, ``notifs``) to copy orders with
  :func:`clone_order`: ``Order.clone``'s result (``copy.copy`` of the order, ``executed``
  marked pending and copied) built directly from the instances' ``__dict__``, for order classes
  that do not customize copying (tests/test_array_broker.py checks it equal to ``clone()``);
- per-bar closes are read from the datas' ``lines.close.array`` (or, when given as the
  ``close_table`` param and equal to them, from that table in place), per-name borrow rates and
  marks from the tables :func:`strategies.bt_borrow.add_borrow` passes (``tables``);
- ``d_credit`` is a :class:`CreditBook`, a mapping that behaves as the ``defaultdict(float)``
  ``BackBroker`` uses (insertion order, ``pop``, missing keys read as 0.0) backed by an array;
- ``Position.datetime`` (the last credit date) lives in an array during the run and is written
  back to the held ``Position`` objects at ``stop()`` (and before leaving the fast path);
- order batches (:meth:`ArrayBroker.submit_batch`, :mod:`strategies.bulk_orders`) are checked
  where ``next`` calls ``check_submitted`` and filled after ``BackBroker``'s own pending orders
  (older than any batch: a strategy's own order in a bar with its batch turns the batch into
  orders first, :meth:`ArrayBroker.submit`),
  with ``BackBroker``'s ``_slip_up``/``_slip_down``, ``positions``, ``cash``, ``d_credit`` and
  the commission schemes, as ``_execute`` uses them.

The fast path needs what a preloaded project run has: every data preloaded in backtrader's
unbounded buffers on the same datetimes (so one bar index serves them all) with the same
timezone, no fund history, no ``_compensate`` data, and stock-like commission schemes that do not
override the credit, value or profit-and-loss methods — except a scheme that declares its credit
rule vectorizable (``vector_credit = True``, :class:`strategies.bt_borrow.BorrowCommInfo`: a
per-day rate per bar and optionally a mark price per bar, each charge also added to a ledger),
whose arithmetic this step repeats. Otherwise (checked at the first bar) every bar goes through
``BackBroker``'s own code.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator, MutableMapping
from typing import Any

import backtrader as bt
import numpy as np

from . import bulk_orders as bulk

#: CommInfo methods whose BackBroker behaviour the vectorized step replicates.
_COMMINFO_METHODS = ("get_credit_interest", "_get_credit_interest", "getvaluesize", "getvalue",
                     "profitandloss", "cashadjust", "get_leverage")

_MISSING = object()


def _seq_sum(values: np.ndarray) -> float:
    """Left-to-right sum from 0.0, the order of a Python ``acc += x`` loop (``np.cumsum``'s
    ``add.accumulate`` without its wrapper)."""
    return float(np.add.accumulate(values)[-1]) if len(values) else 0.0


def bar_days(nums: np.ndarray, tz: Any) -> np.ndarray:
    """``num2date(x, tz).date().toordinal()`` of each backtrader date number: the day a bar's
    credit step charges to. Without a timezone a stamp in the first half of its day is that
    day (``num2date``'s microsecond rounding can only move a stamp at 23:59:59 into the next);
    the others go through ``num2date``."""
    nums = np.asarray(nums, dtype=np.float64)
    days = np.floor(nums).astype(np.int64)
    slow = (nums - days >= 0.5) if tz is None else np.ones(len(nums), dtype=bool)
    for i in np.flatnonzero(slow).tolist():
        days[i] = bt.num2date(nums[i], tz=tz, naive=True).date().toordinal()
    return days


def _table(columns: list[Any], shared: Any = None, cols: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(table, column of each data): one rows x datas array holding every data's sequence.

    ``shared``: a table every sequence is already a column of (``cols``: which one), used in
    place (:func:`strategies.bt_borrow.add_borrow` passes the borrow terms' rate and mark
    tables); otherwise the sequences are stacked side by side.
    """
    if shared is not None:
        return shared, np.asarray(cols, dtype=np.int64)
    table = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    return table, np.arange(len(columns))


_PLAIN: dict[type, bool] = {}


def _plain_copyable(cls: type) -> bool:
    """``copy.copy`` of an instance is a new object with the same ``__dict__`` (no hooks, slots)."""
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = _check_plain(cls)
    return plain


def _check_plain(cls: type) -> bool:
    return (not hasattr(cls, "__copy__") and not hasattr(cls, "__slots__")
            and cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and getattr(cls, "__getstate__", None) is getattr(object, "__getstate__", None)
            and cls.__new__ is object.__new__)


def clone_order(order: Any) -> Any:
    """``order.clone()`` (backtrader's ``Order.clone``: ``copy.copy`` of the order with its
    ``executed`` marked pending and copied) without ``copy``'s generic reduce protocol.

    For plain classes ``copy.copy`` builds ``cls.__new__(cls)`` and updates its ``__dict__``
    from the original's; this does the same directly. Orders or order data that customize
    cloning or copying take their own ``clone()``.
    """
    cls, ex = type(order), order.executed
    if (cls.clone is not bt.Order.clone or type(ex).clone is not bt.OrderData.clone
            or not _plain_copyable(cls) or not _plain_copyable(type(ex))):
        return order.clone()
    ex.markpending()
    new_ex = object.__new__(type(ex))
    new_ex.__dict__.update(ex.__dict__)
    obj = object.__new__(cls)
    obj.__dict__.update(order.__dict__)
    obj.__dict__["executed"] = new_ex
    return obj


class CreditBook(MutableMapping):
    """Credit interest per data: a ``defaultdict(float)`` look-alike backed by arrays.

    Reading a missing key inserts 0.0 (as ``defaultdict`` does); iteration follows insertion
    order; ``pop(key, default)`` does not insert. :meth:`add` credits many datas at once.
    """

    def __init__(self) -> None:
        self._slot: dict[Any, int] = {}
        self._keys: list[Any] = []
        self._val = np.zeros(16)
        self._seq = np.full(16, -1, dtype=np.int64)   # insertion rank, -1 = absent
        self._next = 0
        self._ordered: np.ndarray | None = None      # _order() until a key comes or goes

    def bind(self, keys: list[Any]) -> None:
        """Give ``keys`` the slots 0..n-1 (the broker's data indices); only while empty."""
        for k in keys:
            self.slot(k)

    def slot(self, key: Any) -> int:
        j = self._slot.get(key)
        if j is None:
            j = self._slot[key] = len(self._keys)
            self._keys.append(key)
            if j >= len(self._val):
                self._val = np.concatenate([self._val, np.zeros(len(self._val))])
                self._seq = np.concatenate([self._seq, np.full(len(self._seq), -1, np.int64)])
        return j

    def _order(self) -> np.ndarray:
        if self._ordered is None:
            n = len(self._keys)
            present = np.flatnonzero(self._seq[:n] >= 0)
            self._ordered = present[np.argsort(self._seq[present], kind="stable")]
        return self._ordered

    def add(self, slots: np.ndarray, amounts: np.ndarray) -> None:
        """``self[key_j] += amount_j`` for each slot, new keys inserted in the given order."""
        new = slots[self._seq[slots] < 0]
        if len(new):
            self._seq[new] = self._next + np.arange(len(new))
            self._next += len(new)
            self._ordered = None
        self._val[slots] += amounts

    def total(self) -> float:
        """``sum(self.values())``, by the builtin ``sum`` itself: its float rule is the
        interpreter's (left to right up to 3.11, compensated from 3.12 on), as the recorder's
        borrow total has always been."""
        return sum(self._val[self._order()].tolist())

    def __getitem__(self, key: Any) -> float:
        j = self.slot(key)
        if self._seq[j] < 0:
            self._seq[j] = self._next
            self._next += 1
            self._val[j] = 0.0
            self._ordered = None
        return float(self._val[j])

    def __setitem__(self, key: Any, value: float) -> None:
        j = self.slot(key)
        if self._seq[j] < 0:
            self._seq[j] = self._next
            self._next += 1
            self._ordered = None
        self._val[j] = value

    def __delitem__(self, key: Any) -> None:
        j = self._slot.get(key)
        if j is None or self._seq[j] < 0:
            raise KeyError(key)
        self._seq[j] = -1
        self._val[j] = 0.0
        self._ordered = None

    def __contains__(self, key: object) -> bool:
        j = self._slot.get(key)
        return j is not None and bool(self._seq[j] >= 0)

    def __iter__(self) -> Iterator[Any]:
        return iter([self._keys[j] for j in self._order()])

    def __len__(self) -> int:
        return int((self._seq[:len(self._keys)] >= 0).sum())

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        if key in self:
            value = float(self._val[self._slot[key]])
            del self[key]
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def values(self) -> list[float]:  # type: ignore[override]
        """The values in insertion order (a list: ``sum(d_credit.values())`` stays cheap)."""
        return self._val[self._order()].tolist()


class ArrayBroker(bt.brokers.BackBroker):
    """``BackBroker`` with credit interest and valuation as one NumPy step per bar.

    Same params (plus ``close_table``: an optional bars x datas array equal to the datas'
    closes, read in place instead of a stacked copy when it matches them; ``run_backtrader``
    passes the market's carried closes), same methods, same results; see the module docstring
    for what it relies on.
    ``cerebro.broker = ArrayBroker()`` (before ``set_cash`` and the other settings).
    """

    params = (("close_table", None),)

    def init(self) -> None:
        super().init()
        self.d_credit = CreditBook()
        self._fast: bool | None = None     # decided on the first bar
        self._credit_at: int | None = None  # bar index of the last credit step
        # bulk orders (strategies.bulk_orders): batches to check, to fill; events per owner
        self._bsubmitted: collections.deque = collections.deque()
        self._bpending: collections.deque = collections.deque()
        self._bnotifs: dict[Any, list[tuple[str, Any]]] = {}

    # ------------------------------------------------------------------ set-up
    def _fast_ok(self) -> bool:
        cerebro = getattr(self, "cerebro", None)
        datas = list(getattr(cerebro, "datas", []) or [])
        if not datas or self._fundhist or not getattr(cerebro.p, "preload", False):
            return False
        first = datas[0].lines.datetime
        for d in datas:
            dt, close = d.lines.datetime, d.lines.close
            if (getattr(d, "_compensate", None) is not None
                    or dt.mode != dt.UnBounded or close.mode != close.UnBounded
                    or len(dt.array) != len(first.array) or len(close.array) != len(dt.array)
                    or dt._tz is not first._tz or dt.idx != first.idx):
                return False
        ref = np.frombuffer(first.array, dtype=np.float64)
        if not all(np.array_equal(np.frombuffer(d.lines.datetime.array, dtype=np.float64), ref)
                   for d in datas):
            return False
        base = bt.CommInfoBase
        for d in datas:
            ci = self.getcommissioninfo(d)
            vector = getattr(ci, "vector_credit", False)
            if not ci._stocklike or any(getattr(type(ci), m) is not getattr(base, m)
                                        for m in _COMMINFO_METHODS
                                        if not (vector and m == "_get_credit_interest")):
                return False
            if vector and len(ci.p.rate) != len(first.array):
                return False
        ledgers = {id(ci.p.ledger) for ci in map(self.getcommissioninfo, datas)
                   if getattr(ci, "vector_credit", False)}
        return len(ledgers) <= 1   # one shared ledger: booked as one array step

    def _setup_fast(self) -> bool:
        if not self._fast_ok():
            return False
        datas = list(self.cerebro.datas)
        n = len(datas)
        self._datas = datas
        self._slot_of = {d: j for j, d in enumerate(datas)}
        self._dtline = datas[0].lines.datetime
        closes = [np.frombuffer(d.lines.close.array, dtype=np.float64) for d in datas]
        table = self.p.close_table
        if not (table is not None and table.dtype == np.float64
                and table.shape == (len(closes[0]), n)
                and all(np.array_equal(table[:, j], c) for j, c in enumerate(closes))):
            table = np.column_stack(closes)
        self._close = table
        cis = [self.getcommissioninfo(d) for d in datas]
        self._rate = np.array([ci._creditrate for ci in cis], dtype=np.float64)
        # per-bar rates / marks of vectorizable credit schemes (BorrowCommInfo), else None
        self._vector = np.array([bool(getattr(ci, "vector_credit", False)) for ci in cis])
        self._rate_rows = self._mark_rows = self._has_mark = self._ledger = None
        if self._vector.any():
            n_bars = len(self._dtline.array)
            tables = [getattr(ci.p, "tables", None) if v else None
                      for ci, v in zip(cis, self._vector, strict=True)]
            shared = (tables[0] is not None and self._vector.all()
                      and all(t is not None and t[0] is tables[0][0] and t[1] is tables[0][1]
                              for t in tables))
            cols = [ci.p.col for ci in cis] if shared else None
            self._rate_rows, self._rate_col = _table(
                [ci.p.rate if v else np.full(n_bars, ci._creditrate)
                 for ci, v in zip(cis, self._vector, strict=True)],
                tables[0][0] if shared else None, cols)
            self._has_mark = np.array([bool(v and ci.p.mark is not None)
                                       for ci, v in zip(cis, self._vector, strict=True)])
            if self._has_mark.any():
                self._mark_rows, self._mark_col = _table(
                    [ci.p.mark if m else np.zeros(n_bars)
                     for ci, m in zip(cis, self._has_mark, strict=True)],
                    tables[0][1] if shared and self._has_mark.all() else None, cols)
            self._ledger = next(ci.p.ledger for ci, v in zip(cis, self._vector, strict=True) if v)
            self._ledger_col = np.array([ci.p.col if v else -1
                                         for ci, v in zip(cis, self._vector, strict=True)])
            booked = self._ledger_col[self._vector]
            self._ledger_unique = len(np.unique(booked)) == len(booked)
        self._charge_long = np.array([bool(ci.p.interest_long) for ci in cis])
        self._mult = np.array([ci.p.mult for ci in cis], dtype=np.float64)
        self._lev = np.array([ci.get_leverage() for ci in cis], dtype=np.float64)
        self._size = np.zeros(n)
        self._price = np.zeros(n)
        self._last_day = np.zeros(n, dtype=np.int64)
        self._porder = np.zeros(0, dtype=np.int64)   # slots in positions-dict order
        self._nkeys = 0
        self._version = 0          # bumped when a position's size or price changes
        self._held_cache: dict[str, Any] | None = None
        self._day = bar_days(np.frombuffer(self._dtline.array, dtype=np.float64),
                             self._dtline._tz).tolist()
        self._credit_key: Any = None   # the held cache's key at the last credit step
        self._vblock: tuple | None = None   # (key, first bar, stop, values...) of _valued
        self._cblock: dict[str, Any] | None = None   # the charges of _credit_row's block
        for data, pos in self.positions.items():   # positions opened before the first bar
            if data not in self._slot_of:
                return False
            self._copy_position(data, pos)
        if len(self.d_credit):
            return False
        self.d_credit.bind(datas)
        self._sync_order()
        return True

    def _sync_order(self) -> None:
        if len(self.positions) != self._nkeys:
            new = [self._slot_of[d] for d in itertools.islice(self.positions, self._nkeys, None)]
            self._porder = np.concatenate([self._porder, np.asarray(new, dtype=np.int64)])
            self._nkeys = len(self.positions)

    def _copy_position(self, data: Any, pos: Any) -> None:
        j = self._slot_of[data]
        if pos.size != self._size[j] or pos.price != self._price[j]:
            self._size[j] = pos.size
            self._price[j] = pos.price
            self._version += 1
            if pos.size and pos.datetime is not None:
                self._last_day[j] = pos.datetime.date().toordinal()

    def _leave_fast(self) -> None:
        """Write the credit dates back into the Position objects (stop, fallback)."""
        if not self._fast or self._credit_at is None:
            return
        line = self._dtline
        when = bt.num2date(line.array[self._credit_at], tz=line._tz, naive=True)  # .datetime()
        day = self._day[self._credit_at]
        for data, pos in self.positions.items():
            j = self._slot_of[data]
            if pos.size and self._last_day[j] == day:
                pos.datetime = when

    def stop(self) -> None:
        self._leave_fast()
        super().stop()

    def closes_of(self, datas: list[Any], nums: np.ndarray) -> np.ndarray | None:
        """``datas``' closes at the bars stamped ``nums`` (bars x datas), as the read-only table
        the broker values on (no copy), when that is what :func:`strategies.recorder.closes_at`
        reads from the feeds: the fast path, the broker's datas in its order, every bar
        (the table equals the feeds' closes, checked when the fast path was set up); else None."""
        if not self._fast or len(datas) != len(self._datas) or any(
                a is not b for a, b in zip(datas, self._datas, strict=True)):
            return None
        stamps = np.frombuffer(self._dtline.array, dtype=np.float64)
        if len(stamps) != len(nums) or not np.array_equal(stamps, nums):
            return None
        table = self._close.view()
        table.flags.writeable = False
        return table

    # ------------------------------------------------------------------ per bar
    def notify(self, order: Any) -> None:
        """``BackBroker.notify``: queue a copy of the order for the strategy (:func:`clone_order`)."""
        self.notifs.append(clone_order(order))

    def _execute(self, order: Any, ago: Any = None, price: Any = None, cash: Any = None,
                 position: Any = None, dtcoc: Any = None) -> Any:
        out = super()._execute(order, ago=ago, price=price, cash=cash, position=position,
                               dtcoc=dtcoc)
        if ago is not None and self._fast:
            data = order.data._compensate if order.data._compensate is not None else order.data
            if data not in self._slot_of:   # a data Cerebro does not list: leave the fast path
                self._leave_fast()
                self._fast = False
            else:
                self._copy_position(data, self.positions[data])
        return out

    def next(self) -> None:
        if self._fast is None:
            self._fast = self._setup_fast()
        if not self._fast:
            self._slow_next()
            return
        if self._dtline.idx != self._datas[-1].lines.datetime.idx:   # not in lockstep
            self._leave_fast()
            self._fast = False
            self._slow_next()
            return
        while self._toactivate:
            self._toactivate.popleft().activate()
        if self.p.checksubmit:
            self.check_submitted()
        if self._bsubmitted:
            self._bulk_check()
        self._credit_step()
        self._process_order_history()
        self.pending.append(None)
        while True:
            order = self.pending.popleft()
            if order is None:
                break
            if order.expire():
                self.notify(order)
                self._ococheck(order)
                self._bracketize(order, cancel=True)
            elif not order.active():
                self.pending.append(order)
            else:
                self._try_exec(order)
                if order.alive():
                    self.pending.append(order)
                elif order.status == bt.Order.Completed:
                    self._bracketize(order)
        if self._bpending:
            self._bulk_fill()
        # stock-like schemes: BackBroker's end-of-bar cashadjust adds 0.0 (adjbase is unused)
        self._get_value()

    def _slow_next(self) -> None:
        """``BackBroker.next`` off the fast path, with any order batches in flight checked
        before its credit step and filled after its own orders (then valued again)."""
        if self._bsubmitted:
            self._bulk_check()
        super().next()
        if self._bpending:
            self._bulk_fill()
            for data, pos in self.positions.items():
                if pos:
                    ci = self.getcommissioninfo(data)
                    self.cash += ci.cashadjust(pos.size, pos.adjbase, data.close[0])
                    pos.adjbase = data.close[0]
            self._get_value()

    # ------------------------------------------------------------------ bulk orders
    def bulk_ready(self) -> bool:
        """Can order batches (:mod:`strategies.bulk_orders`) be filled with ``BackBroker``'s
        results? The fast path, market fills that always find a price, no order history."""
        if self._fast is None:
            self._fast = self._setup_fast()
        p = self.p
        slips = bool((p.slip_perc or p.slip_fixed) and p.slip_open)
        return bool(self._fast and p.filler is None and not p.coc and not p.coo
                    and not self._userhist and (p.slip_match or not slips))

    def submit_batch(self, owner: Any, datas: list[Any], sizes: list[float], legs: list[str],
                     reasons: list[str]) -> None:
        """Submit one bar's market orders (``sizes`` > 0 buy), created at each data's close, in
        the given order; checked at this bar's ``next`` (``checksubmit``), filled at the next
        bar's open. Fills and refusals come back through :meth:`take_bulk`."""
        t = self._dtline.idx
        price = [float(self._close[t, self._slot_of[d]]) for d in datas]
        batch = bulk.OrderBatch(owner, datas, sizes, price, self._dtline[0], legs, reasons)
        if any(o.owner is owner for o in self.submitted):   # its own orders came first
            owner.trade_one_by_one([batch])
            return
        if self.p.checksubmit:
            self._bsubmitted.append(batch)
        else:
            batch.accepted = [True] * len(sizes)
            self._bpending.append(batch)

    def submit(self, order: Any, check: bool = True) -> Any:
        """``BackBroker.submit``; an order of a strategy that has a batch waiting this bar turns
        the batch into orders first (:meth:`_unbatch`)."""
        if self._bsubmitted or self._bpending:
            self._unbatch(order.owner)
        return super().submit(order, check)

    def _unbatch(self, owner: Any) -> None:
        """``owner``'s batches not yet filled become orders, placed before the one it submits
        now (its own orders beside the book's: one sequence, checked with the cash carried
        from order to order, as backtrader takes them); ``owner`` trades one by one from then."""
        mine = [b for b in (*self._bsubmitted, *self._bpending) if b.owner is owner]
        if not mine:
            return
        self._bsubmitted = collections.deque(b for b in self._bsubmitted if b.owner is not owner)
        self._bpending = collections.deque(b for b in self._bpending if b.owner is not owner)
        owner.trade_one_by_one(mine)

    def take_bulk(self, owner: Any) -> list[tuple[str, Any]]:
        """The owner's bulk events since the last call, in order: ``("fills", FillBatch)`` and
        ``("refused", record)`` (:func:`strategies.bulk_orders.refusal`)."""
        return self._bnotifs.pop(owner, [])

    def _bulk_check(self) -> None:
        """``check_submitted`` for the submitted batches: cash carried order to order."""
        cash = self.cash
        held: dict[Any, tuple[float, float]] = {}   # (size, price) of the position copies
        while self._bsubmitted:
            batch = self._bsubmitted.popleft()
            events = self._bnotifs.setdefault(batch.owner, [])
            for data, size, price in zip(batch.datas, batch.size, batch.price, strict=True):
                now = held.get(data)
                if now is None:
                    pos = self.positions[data]
                    now = (pos.size, pos.price if pos.size else 0.0)   # Position.clone()'s
                cash, held[data] = bulk.pseudo_execute(self, self.getcommissioninfo(data), now,
                                                       size, price, cash)
                batch.accepted.append(cash >= 0.0)
                if cash < 0.0:
                    events.append(("refused", bulk.refusal(data, size, batch.dt)))
            self._bpending.append(batch)

    def _bulk_fill(self) -> None:
        """The pending batches' accepted orders at this bar's open, in submission order (an
        order not yet past its creation bar waits, as ``_try_exec_market`` makes it)."""
        for _ in range(len(self._bpending)):
            batch = self._bpending.popleft()
            fills = bulk.FillBatch()
            events = self._bnotifs.setdefault(batch.owner, [])
            events.append(("fills", fills))
            wait = []
            when = self._bar_stamps()
            slips = bulk.slips_open(self)
            for k, data in enumerate(batch.datas):
                if not batch.accepted[k]:
                    continue
                dtn, at = when(data)
                if dtn <= batch.dt:
                    wait.append(k)
                    continue
                size = batch.size[k]
                ok = bulk.execute(self, data, size, bulk.fill_price(self, data, size > 0, slips),
                                  dtn, at, fills, batch.leg[k], batch.reason[k])
                if self._fast:
                    self._copy_position(data, self.positions[data])
                if not ok:
                    events.append(("refused", bulk.refusal(data, size, batch.dt)))
            if wait:
                self._bpending.append(bulk.OrderBatch(
                    batch.owner, [batch.datas[k] for k in wait], [batch.size[k] for k in wait],
                    [batch.price[k] for k in wait], batch.dt, [batch.leg[k] for k in wait],
                    [batch.reason[k] for k in wait], [True] * len(wait)))

    def _bar_stamps(self) -> Any:
        """``data -> (data.datetime[0], data.datetime.datetime())`` for this bar's fills: one
        read for all on the fast path (every data on the same bar and timezone), else per data
        (one conversion per date number and timezone)."""
        if self._fast:
            line = self._dtline
            stamp = (line[0], line.datetime())
            return lambda data: stamp
        seen: dict[Any, Any] = {}

        def read(data: Any) -> tuple[float, Any]:
            line = data.lines.datetime
            key = (line[0], id(line._tz))
            if key not in seen:
                seen[key] = data.datetime.datetime()
            return key[0], seen[key]
        return read

    def _held(self) -> dict[str, Any]:
        """The held slots (dict order) and what the credit step reads of them, kept until a
        fill or a new position changes them (``_version``)."""
        key = (self._version, self._nkeys)
        if self._held_cache is not None and self._held_cache["key"] == key:
            return self._held_cache
        held = self._porder[self._size[self._porder] != 0]
        size = self._size[held]
        c = {"key": key, "held": held, "abs_size": np.abs(size), "price": self._price[held],
             "charge": (size < 0) | self._charge_long[held], "rate": self._rate[held]}
        if self._rate_rows is not None:
            c["rate_col"] = self._rate_col[held]
            if self._mark_rows is not None:
                c["has_mark"], c["mark_col"] = self._has_mark[held], self._mark_col[held]
        if self._ledger is not None:
            c["vector"], c["ledger_col"] = self._vector[held], self._ledger_col[held]
        self._held_cache = c
        return c

    def _credit_step(self) -> None:
        """``BackBroker.next``'s credit loop: interest on every held position, in dict order."""
        self._sync_order()
        c = self._held()
        held = c["held"]
        if not len(held):
            return
        t = self._dtline.idx
        today = self._day[t]
        if c["key"] == self._credit_key:   # held as at the last step: rows of a block
            dcredit, paid, booked = self._credit_row(c, t)
            if booked is not None:
                self._book(dcredit, *booked)
        else:
            days = today - self._last_day[held]
            charged = c["charge"] & (days > 0)
            if self._rate_rows is None:
                rate, price = c["rate"], c["price"]
            else:  # BorrowCommInfo: the fee and mark of the previous bar (its _get_credit_interest)
                rate = self._rate_rows[t - 1][c["rate_col"]]   # (row view, then a 1-D take)
                price = (c["price"] if self._mark_rows is None else
                         np.where(c["has_mark"], self._mark_rows[t - 1, c["mark_col"]], c["price"]))
            dcredit = np.where(charged, days * rate * c["abs_size"] * price, 0.0)
            paid = _seq_sum(dcredit)
            if self._ledger is not None:
                book = charged & c["vector"]
                self._book(dcredit, book, c["ledger_col"][book])
        self.d_credit.add(held, dcredit)
        self._last_day[held] = today
        self._credit_at, self._credit_today, self._credit_key = t, today, c["key"]
        self.cash -= paid

    def _book(self, dcredit: np.ndarray, book: np.ndarray, cols: np.ndarray) -> None:
        """Add the booked charges to the ledger's row of this bar."""
        t = self._dtline.idx
        if self._ledger_unique:   # one column per data: a plain += is add.at
            row = self._ledger[t]
            row[cols] += dcredit[book]
        else:
            np.add.at(self._ledger, (t, cols), dcredit[book])

    #: Most bars charged at once while the holdings stay as they are (:meth:`_credit_row`).
    credit_block = 64

    def _credit_row(self, c: dict[str, Any], t: int) -> tuple[np.ndarray, float, Any]:
        """Bar ``t``'s charges, total and ledger booking (or None) with the holdings of the last
        step, from a block of bars charged at once while they stay (each bar one day count for
        all: its day less the last step's; 4 bars after a change, doubling up to
        :attr:`credit_block`)."""
        cb = self._cblock
        if (cb is None or cb["key"] != c["key"] or not cb["start"] <= t < cb["stop"]
                or (t > cb["start"] and self._credit_at != t - 1)):
            size = 2 * (cb["stop"] - cb["start"]) if cb and cb["key"] == c["key"] else 4
            stop = min(t + max(1, min(size, self.credit_block)), len(self._day))
            cb = self._cblock = self._credit_rows(c, t, stop)
        i = t - cb["start"]
        return cb["charges"][i], cb["paid"][i], cb["booked"] if cb["days"][i] > 0 else None

    def _credit_rows(self, c: dict[str, Any], start: int, stop: int) -> dict[str, Any]:
        """The charges of bars ``start:stop`` (rows) on the holdings ``c``, as the per-bar step
        makes them: ``days * rate * |size| * price`` where charged, the first bar's days counted
        from the last step, the others' from the bar before."""
        days = np.array(self._day[start:stop], dtype=np.int64)
        days[1:] -= days[:-1].copy()
        days[0] -= self._credit_today
        prev = slice(start - 1, stop - 1)
        if self._rate_rows is None:
            rate, price = c["rate"], c["price"]
        else:
            rate = self._rate_rows[prev][:, c["rate_col"]]
            price = (c["price"] if self._mark_rows is None else
                     np.where(c["has_mark"], self._mark_rows[prev][:, c["mark_col"]], c["price"]))
        charged = c["charge"] & (days > 0)[:, None]
        charges = np.where(charged, days[:, None] * rate * c["abs_size"] * price, 0.0)
        booked = None
        if self._ledger is not None:
            book = c["charge"] & c["vector"]
            booked = (book, c["ledger_col"][book])
        return {"key": c["key"], "start": start, "stop": stop, "charges": charges,
                "paid": np.add.accumulate(charges, axis=1)[:, -1].tolist(),
                "days": days.tolist(), "booked": booked}

    def _get_value(self, datas: Any = None, lever: bool = False) -> float:
        if datas is not None or not self._fast or self._fundhist:
            return super()._get_value(datas=datas, lever=lever)
        while self._cash_addition:
            c = self._cash_addition.popleft()
            self._fundshares += c / self._fundval
            self.cash += c
        self._sync_order()
        pos_value, unlever, unreal = self._valued(self._dtline.idx)
        self._value = self.cash + unlever
        self._fundval = self._value / self._fundshares
        self._valuemkt = unlever
        self._valuelever = self.cash + pos_value
        self._valuemktlever = pos_value
        self._leverage = pos_value / (unlever or 1.0)
        self._unrealized = unreal
        return self._value if not lever else self._valuelever

    #: Most bars valued at once while the positions stay as they are (:meth:`_valued`).
    value_block = 64

    def _valued(self, t: int) -> tuple[float, float, float]:
        """(position value, unlevered value, unrealized PnL) of the positions at bar ``t``,
        from a block of bars valued at once while the positions stay unchanged (4 bars after
        a change, doubling up to :attr:`value_block` while none comes)."""
        key = (self._version, self._nkeys)
        vb = self._vblock
        if vb is None or vb[0] != key or not vb[1] <= t < vb[2]:
            size = 2 * (vb[2] - vb[1]) if vb and vb[0] == key else 4
            stop = min(t + max(1, min(size, self.value_block)), len(self._close))
            vb = self._vblock = (key, t, stop, *self._value_rows(t, stop))
        i = t - vb[1]
        return vb[3][i], vb[4][i], vb[5][i]

    def _value_rows(self, start: int, stop: int) -> tuple[list[float], list[float], list[float]]:
        """``BackBroker._get_value``'s sums on bars ``start:stop`` (one row per bar), each in
        the order of the ``positions`` dict (a sequential ``add.accumulate`` along the row)."""
        j = self._porder
        if not len(j):
            zeros = [0.0] * (stop - start)
            return zeros, list(zeros), list(zeros)
        close = self._close[start:stop, j]
        size, price = self._size[j], self._price[j]
        if self.p.shortcash:
            dvalue = size * close
        else:   # CommInfoBase.getvalue, then abs (short selling adds value)
            dvalue = np.where(size >= 0, size * close, price * size + (price - close) * size)
            dvalue = np.abs(dvalue)
        unreal = size * (close - price) * self._mult[j]
        longs = dvalue > 0
        # BackBroker adds (dvalue - unrealized) / leverage and then unrealized for a long,
        # dvalue otherwise: the same two-step sequence, interleaved
        steps = np.empty((*dvalue.shape, 2))
        steps[..., 0] = np.where(longs, (dvalue - unreal) / self._lev[j], dvalue)
        steps[..., 1] = np.where(longs, unreal, 0.0)
        return tuple(np.add.accumulate(x, axis=1)[:, -1].tolist()   # type: ignore[return-value]
                     for x in (dvalue, steps.reshape(len(dvalue), -1), unreal))
