"""The one backtrader recorder: what a run did, per bar and per fill, ready for the result assembly.

``run_backtrader`` adds it to read its own run; the project's analyzers
(:mod:`analyzers.bt_analyzers`) subclass it, so a user's Cerebro is recorded the same way.
Per bar it stores the date, broker value, cash and the cumulative borrow the broker charged
(``BackBroker.d_credit``, plus what ``int2pnl`` folded into closing commissions), optionally every
data's close; per fill the execution bit with commission proper and the order's ``leg``/``reason``
labels. :meth:`Recorder.result` hands that to :meth:`strategies.result.BacktestResult.from_fills`.
"""

from __future__ import annotations

import re
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .execution import num_to_dates
from .result import BacktestResult, Fills

_FILL_KEYS = ("dt", "data", "size", "price", "comm", "leg", "reason")


class _Tape:
    """What one strategy's run did, recorded once and read by every :class:`Recorder` on it."""

    def __init__(self, datas: list[Any], broker: Any) -> None:
        n = max((d.buflen() for d in datas), default=0) or 256
        self.names = [d._name or f"data{i}" for i, d in enumerate(datas)]
        self.name_of = {id(d): name for d, name in zip(datas, self.names, strict=True)}
        self.value = np.full(n, np.nan)
        self.cash = np.full(n, np.nan)
        self.credit = np.full(n, np.nan)
        self.dt = np.full(n, np.nan)
        self.keep_closes = False
        self.per_bar = False  # closes copied per bar (memory-saving buffers only), set on bar one
        self.close_rows: list[list[float]] = []
        self.n = 0
        self.folded = 0.0  # borrow int2pnl moved into closing commissions
        self.start_cash = float(getattr(broker, "startingcash", broker.getcash()))
        self.fills: dict[str, list[Any]] = {k: [] for k in _FILL_KEYS}
        self.memo: dict[Any, Any] = {}   # values derived from the finished tape (see Recorder.once)

    def grow(self) -> None:
        for name in ("value", "cash", "credit", "dt"):
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.full_like(arr, np.nan)]))


class _MetaRecorder(type(bt.Analyzer)):
    """``bt.Analyzer``'s metaclass without the aliases of every data made up front.

    ``MetaAnalyzer.donew`` (backtrader 1.9.78, pinned) sets ``data{d}`` and
    ``data{d}_{line}`` (by alias and by index) for every data: 7,000 attributes per analyzer
    on 500 feeds. This repeats its steps and sets the first data's aliases (``data``,
    ``data_close``...) as it does; :meth:`Recorder.__getattr__` gives the others on first use,
    the same objects."""

    def donew(cls, *args: Any, **kwargs: Any) -> Any:
        _obj, args, kwargs = super(bt.analyzer.MetaAnalyzer, cls).donew(*args, **kwargs)
        _obj._children = []
        _obj.strategy = strategy = bt.metabase.findowner(_obj, bt.Strategy)
        _obj._parent = bt.metabase.findowner(_obj, bt.Analyzer)
        masterobs = bt.metabase.findowner(_obj, bt.Observer)
        if masterobs is not None:
            masterobs._register_analyzer(_obj)
        _obj.datas = strategy.datas
        if _obj.datas:
            _obj.data = data = _obj.datas[0]
            for i, line in enumerate(data.lines):
                alias = data._getlinealias(i)
                if alias:
                    setattr(_obj, f"data_{alias}", line)
                setattr(_obj, f"data_{i}", line)
        _obj.create_analysis()
        return _obj, args, kwargs


_DATA_ALIAS = re.compile(r"data(\d+)(?:_(\w+))?")


class Recorder(bt.Analyzer, metaclass=_MetaRecorder):
    """Broker value, cash and cumulative borrow per bar (preallocated arrays) and every fill.

    Params: ``closes`` (also keep every data's close per bar). ``get_analysis()``: ``dt``,
    ``value``, ``cash``, ``credit`` (arrays, one per bar) and ``fills`` {dt, data, size, price,
    comm, leg, reason} lists.

    Several recorders on one strategy (the engine's and the project's analyzers, which subclass
    it) share one recording: the first one started writes it, bar by bar and fill by fill, and
    the others read it at ``stop()`` (their ``next``/``notify_order`` do nothing), so adding an
    analyzer adds no per-bar work. The tape hangs on the strategy as ``_squeeze_tape``.
    """

    params = (("closes", False),)
    #: Subclasses that always need the closes set this.
    keep_closes = False

    def start(self) -> None:
        tape = getattr(self.strategy, "_squeeze_tape", None)
        self._writer = tape is None
        if tape is None:
            tape = self.strategy._squeeze_tape = _Tape(list(self.datas), self.strategy.broker)
        self._tape = tape
        tape.keep_closes = tape.keep_closes or bool(self.p.closes or self.keep_closes)
        self._keep_closes = bool(self.p.closes or self.keep_closes)

    # the recording, read through the shared tape
    _names = property(lambda self: self._tape.names)
    _value = property(lambda self: self._tape.value)
    _cash = property(lambda self: self._tape.cash)
    _credit = property(lambda self: self._tape.credit)
    _dt = property(lambda self: self._tape.dt)
    _n = property(lambda self: self._tape.n)
    _per_bar = property(lambda self: self._tape.per_bar)
    _start_cash = property(lambda self: self._tape.start_cash)
    fills = property(lambda self: self._tape.fills)

    def __getattr__(self, name: str) -> Any:
        """``data{d}`` and ``data{d}_{line}`` (alias or index), as ``bt.Analyzer`` sets them
        for every data (see :class:`_MetaRecorder`), made on first use."""
        m = _DATA_ALIAS.fullmatch(name)
        datas = self.__dict__.get("datas")
        if m is None or datas is None or int(m.group(1)) >= len(datas):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        data = datas[int(m.group(1))]
        value = data
        if m.group(2) is not None:
            part = m.group(2)
            aliases = [data._getlinealias(i) for i in range(data.lines.fullsize())]
            if part.isdigit() and int(part) < len(aliases):
                value = data.lines[int(part)]
            elif part in aliases and part:
                value = data.lines[aliases.index(part)]
            else:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        setattr(self, name, value)
        return value

    def once(self, key: Any, compute: Any) -> Any:
        """``compute()`` once per finished run for all the recorders of the strategy (results,
        closes frames: the same for each of them)."""
        memo = self._tape.memo
        key = (key, self._tape.n, len(self._tape.fills["dt"]))
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def next(self) -> None:
        if not self._writer:
            return
        tape = self._tape
        i = tape.n
        if i >= len(tape.value):
            tape.grow()
        broker = self.strategy.broker
        tape.value[i] = broker.getvalue()
        tape.cash[i] = broker.getcash()
        credit = broker.d_credit
        total = getattr(credit, "total", None)   # ArrayBroker's CreditBook: the same sum
        tape.credit[i] = (total() if total is not None else sum(credit.values())) + tape.folded
        tape.dt[i] = self.strategy.datetime[0]
        if tape.keep_closes:
            if i == 0:
                tape.per_bar = not all(_unbounded(d) for d in self.datas)
            if tape.per_bar:
                tape.close_rows.append([d.close[0] if len(d) else np.nan for d in self.datas])
        tape.n = i + 1

    def notify_order(self, order: bt.Order) -> None:
        if not self._writer or order.status not in (order.Completed, order.Partial):
            return
        int2pnl = self._int2pnl()
        cinfo = getattr(order, "comminfo", None)
        info = order.info
        for bit in order.executed.iterpending():
            if bit is None:
                break
            self._fill(order.data, bit.dt, bit.size, bit.price, bit.closedcomm + bit.openedcomm,
                       bit.closed, bit.openedcomm, cinfo if int2pnl else None,
                       info.get("leg", ""), info.get("reason", ""))

    def notify_fills(self, fills: Any) -> None:
        """The fills of a bar at once (:class:`strategies.bulk_orders.FillBatch`), recorded as
        :meth:`notify_order` records each order's executed bits."""
        if not self._writer or not fills.dt:
            return
        int2pnl = self._int2pnl()
        for k in range(len(fills.dt)):
            self._fill(fills.data[k], fills.dt[k], fills.size[k], fills.price[k], fills.comm[k],
                       fills.closed[k], fills.openedcomm[k],
                       fills.comminfo[k] if int2pnl else None, fills.leg[k], fills.reason[k])

    def _int2pnl(self) -> bool:
        return bool(getattr(getattr(self.strategy.broker, "p", None), "int2pnl", False))

    def _fill(self, data: Any, dt: float, size: float, price: float, comm: float, closed: float,
              openedcomm: float, cinfo: Any, leg: str, reason: str) -> None:
        """Record one executed bit; ``cinfo`` (int2pnl only): its scheme, to keep the accrued
        short interest int2pnl added to the closing commission as borrow."""
        tape = self._tape
        if closed and cinfo is not None:
            proper = cinfo.getcommission(closed, price) + openedcomm
            tape.folded += comm - proper
            comm = proper
        f = tape.fills
        f["dt"].append(dt)
        f["data"].append(tape.name_of.get(id(data), data._name))
        f["size"].append(size)
        f["price"].append(price)
        f["comm"].append(comm)
        f["leg"].append(leg)
        f["reason"].append(reason)

    def get_analysis(self) -> dict[str, Any]:
        n = self._n
        return {"dt": self._dt[:n], "value": self._value[:n], "cash": self._cash[:n],
                "credit": self._credit[:n], "fills": self.fills}

    # ----------------------------------------------------------------- views
    def _dates(self) -> pd.DatetimeIndex:
        """The bars' dates (normalized, named ``date``)."""
        return day_index(self._dt[:self._n])

    def closes(self, shared: bool = False) -> pd.DataFrame:
        """Every data's close per bar (needs ``closes=True``): read once from the feeds' line
        buffers (:func:`closes_at`), or as copied per bar when the buffers forget old bars.
        ``shared=True`` (the analyzers, which only read it): in place and read-only from the
        table an ArrayBroker values on when that is the same (``ArrayBroker.closes_of``)."""
        if not self._keep_closes:
            raise SqueezeLabError("Recorder was added without closes=True: closes were not kept")
        closes = None
        if self._per_bar:
            closes = np.asarray(self._tape.close_rows, dtype=np.float64).reshape(self._n,
                                                                              len(self._names))
        else:
            nums = self._dt[:self._n]
            read = getattr(self.strategy.broker, "closes_of", None) if shared else None
            if read is not None:
                closes = read(list(self.datas), nums)
            if closes is None:
                closes = closes_at(list(self.datas), nums)
        return pd.DataFrame(closes, index=self._dates(), columns=self._names, copy=False)

    def borrow(self) -> np.ndarray:
        """Borrow charged per bar (money): the change of the cumulative credit."""
        return np.diff(self._credit[:self._n], prepend=0.0)

    def fills_on(self, day_nums: np.ndarray, tickers: pd.Index, strict: bool = True) -> Fills:
        """The fills indexed by position in ``day_nums`` (integer day numbers of the rows) and
        ``tickers``. A fill on a day that is not a row is an error (every feed needs every date),
        or with ``strict=False`` goes to the last row before it."""
        f = self.fills
        days = np.floor(np.asarray(f["dt"], dtype=np.float64)).astype(np.int64)
        if not strict:
            rows = np.clip(np.searchsorted(day_nums, days, side="right") - 1, 0,
                           max(len(day_nums) - 1, 0))
            days = day_nums[rows] if len(day_nums) else days
        rows = np.searchsorted(day_nums, days)
        ok = (rows < len(day_nums)) & (day_nums[np.minimum(rows, len(day_nums) - 1)] == days)
        if len(days) and not ok.all():
            raise SqueezeLabError("a fill fell on a date without a bar: give every feed every "
                                  "market date (strategies.bt_feed.feeds_for does)")
        cols = pd.Index(tickers).get_indexer(pd.Index(f["data"], dtype=object))
        return Fills(rows=rows.astype(np.int64), cols=cols.astype(np.int64),
                     size=np.asarray(f["size"], dtype=np.float64),
                     price=np.asarray(f["price"], dtype=np.float64),
                     commission=np.asarray(f["comm"], dtype=np.float64),
                     leg=np.asarray(f["leg"], dtype=object),
                     reason=np.asarray(f["reason"], dtype=object))

    def result(self, legs: Any, strict: bool = True, **rest: Any) -> BacktestResult:
        """The run as a :class:`BacktestResult` on the recorded bars, one column per data
        (``legs`` and ``rest``: see :meth:`BacktestResult.from_fills`)."""
        dates = self._dates()
        tickers = pd.Index(self._names, dtype=object)
        day_nums = np.floor(self._dt[:self._n]).astype(np.int64)
        n = self._n
        return BacktestResult.from_fills(
            dates, tickers, equity=self._value[:n], cash=self._cash[:n], borrow=self.borrow(),
            fills=self.fills_on(day_nums, tickers, strict=strict), legs=legs, **rest)


def day_index(nums: np.ndarray) -> pd.DatetimeIndex:
    """Normalized dates of backtrader date numbers, named ``date``."""
    return pd.DatetimeIndex(num_to_dates(np.floor(np.asarray(nums, dtype=np.float64))), name="date")



def _unbounded(data: Any) -> bool:
    line = data.lines.close
    return line.mode == line.UnBounded and data.lines.datetime.mode == line.UnBounded


def closes_at(datas: list[Any], nums: np.ndarray) -> np.ndarray:
    """Each data's close as ``data.close[0]`` read at the bars stamped ``nums`` (bars x datas).

    Read from the datas' line buffers (every bar loaded so far): the close of the data's last
    bar at or before each stamp, NaN before its first bar, which is what a per-bar read in
    ``next()`` sees. Needs unbounded buffers (not ``exactbars``/``qbuffer``). backtrader
    internals read (pinned in setup.cfg): ``LineBuffer.array`` (an ``array.array('d')`` with
    every bar in the unbounded mode), ``LineBuffer.mode`` and ``buflen()``.
    """
    nums = np.asarray(nums, dtype=np.float64)
    out = np.full((len(nums), len(datas)), np.nan)
    for j, d in enumerate(datas):
        n = d.buflen()
        if n <= 0:
            continue
        dts = np.frombuffer(d.lines.datetime.array, dtype=np.float64)[:n]
        close = np.frombuffer(d.lines.close.array, dtype=np.float64)[:n]
        if len(dts) == len(nums) and np.array_equal(dts, nums):
            out[:, j] = close
            continue
        k = np.searchsorted(dts, nums, side="right") - 1
        out[:, j] = np.where(k >= 0, close[np.clip(k, 0, None)], np.nan)
    return out
