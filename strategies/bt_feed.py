"""A backtrader data feed that loads all bars of one ticker at once from NumPy arrays.

``bt.feeds.PandasData`` reads one cell at a time through ``DataFrame.iloc`` (seconds for a few
hundred names); :class:`ArrayFeed` copies each whole column into the line buffers in one call.
``feeds_for(market)`` gives one feed per ticker, named by ticker, ready for ``cerebro.adddata``.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from .execution import carry_unlisted, dates_to_num

#: Line names filled from arrays (the datetime line is filled from ``dates``).
_VALUE_LINES = ("open", "high", "low", "close", "volume", "openinterest")


class ArrayFeed(bt.feed.DataBase):
    """One ticker's OHLCV from arrays, preloaded in one go.

    Params: ``dates`` (DatetimeIndex-like, sorted, naive), ``close`` (required), ``open``,
    ``high``, ``low`` (default: the close, i.e. close-only data), ``volume`` and
    ``openinterest`` (default NaN, as PandasData leaves a missing column), ``dataname`` (the
    ticker, also the feed's name). NaN closes are allowed only before listing / after delisting:
    those bars carry the first open / last close with volume 0 (backtrader needs a bar from every
    feed on every date); ``self.listed`` is the mask of real bars.

    This is the one place in the project that moves backtrader's LineBuffer internals
    (``array``, ``_idx``, ``lencount``, ``extension``, ``mode``; :mod:`strategies.array_broker`
    and :func:`strategies.recorder.closes_at` only read ``array``, ``idx`` and ``mode`` of
    preloaded feeds, and document it there): :meth:`preload` extends each
    line's ``array`` (an ``array.array('d')`` in the default unbounded mode) with the whole
    column at once, then homes the feed, exactly the state ``AbstractDataBase.preload`` leaves
    after loading bar by bar; :meth:`advance` / :meth:`advance_peek` move and read those pointers
    directly in runonce mode. backtrader is pinned (setup.cfg) for this reason. When the
    bar-by-bar machinery is needed (filters, resample, replay, ``tzinput``, memory-saving
    ``qbuffer`` mode, or ``preload=False``) the feed falls back to backtrader's own code and
    :meth:`_load`, one bar per call, with the same values.
    """

    params = (
        ("dates", None),
        ("open", None),
        ("high", None),
        ("low", None),
        ("close", None),
        ("volume", None),
        ("openinterest", None),
    )

    def __init__(self) -> None:
        super().__init__()
        if self.p.dates is None or self.p.close is None:
            raise SqueezeLabError("ArrayFeed needs dates and close: pass dates=..., close=...")
        nums = dates_to_num(self.p.dates)
        n = len(nums)
        if n and not (np.diff(nums) > 0).all():
            raise SqueezeLabError(f"ArrayFeed {self._name!r}: dates are not strictly increasing: sort them")

        def column(values: Any, default: np.ndarray | float) -> np.ndarray:
            if values is None:
                return np.array(np.broadcast_to(default, (n,)), dtype=np.float64)
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(arr) != n:
                raise SqueezeLabError(
                    f"ArrayFeed {self._name!r}: a column has {len(arr)} values for {n} dates: "
                    "pass arrays of the same length"
                )
            return arr

        close = column(self.p.close, np.nan)
        listed = np.isfinite(close)
        if listed.any():
            first = int(np.argmax(listed))
            last = n - 1 - int(np.argmax(listed[::-1]))
            if not listed[first:last + 1].all():
                raise SqueezeLabError(
                    f"ArrayFeed {self._name!r}: NaN close inside the listed period: fill or drop it"
                )
        o = column(self.p.open, close)
        prices, listed2 = carry_unlisted(
            o[:, None], column(self.p.high, close)[:, None], column(self.p.low, close)[:, None],
            close[:, None], column(self.p.volume, np.nan)[:, None],
        )
        self.listed: np.ndarray = listed2[:, 0]
        self._columns: dict[str, np.ndarray] = {k: v[:, 0] for k, v in prices.items()}
        self._columns["openinterest"] = column(self.p.openinterest, np.nan)
        self._columns["datetime"] = nums
        self._idx = -1
        self._lines_list: list[Any] = []
        self._unbounded: bool | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_market(cls, market: Any, ticker: str, **kwargs: Any) -> ArrayFeed:
        """The feed of one ticker of a :class:`feeds.market.Market`."""
        return cls(dataname=str(ticker), dates=market.dates,
                   **{f: market.frame(f)[ticker].to_numpy(np.float64)
                      for f in ("open", "high", "low", "close", "volume")}, **kwargs)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, name: str = "", **kwargs: Any) -> ArrayFeed:
        """A feed from a DataFrame with a DatetimeIndex and open/high/low/close[/volume] columns."""
        cols = {c.lower(): c for c in frame.columns if isinstance(c, str)}
        arrays = {f: frame[cols[f]].to_numpy(np.float64) for f in _VALUE_LINES if f in cols}
        return cls(dataname=name or "data", dates=frame.index, **arrays, **kwargs)

    # ------------------------------------------------------------------ loading
    def start(self) -> None:
        super().start()
        self._idx = -1
        self._lines_list = [getattr(self.lines, a) for a in self.lines.getlinealiases()]
        self._unbounded: bool | None = None  # read on the first advance (after any qbuffer)
        self._dt_line = self.lines.datetime
        self._tick_nullify()  # tick_* stay None in runonce mode (see advance)

    def _bars_in_range(self) -> np.ndarray:
        nums = self._columns["datetime"]
        return (nums >= self.fromdate) & (nums <= self.todate)

    def preload(self) -> None:
        lines = self._lines_list
        bulk_ok = (not self._filters and not self._ffilters and not self._tzinput
                   and self._idx == -1
                   and all(line.mode == line.UnBounded for line in lines))
        if not bulk_ok:
            super().preload()
            return
        keep = self._bars_in_range()
        for alias, line in zip(self.lines.getlinealiases(), lines, strict=True):
            line.array.frombytes(np.ascontiguousarray(self._columns[alias][keep]).tobytes())
        self._idx = len(keep)  # exhausted: a later load() delivers nothing
        self._last()
        self.home()

    def _fast_mode(self) -> bool:
        lines = self._lines_list
        return bool(lines) and lines[0].mode == lines[0].UnBounded

    def _fast(self) -> bool:
        """Unbounded buffers? Read once, on the first move (``qbuffer`` runs after ``start()``)."""
        fast = self._unbounded
        if fast is None:
            fast = self._unbounded = self._fast_mode()
        return fast

    def advance(self, size: int = 1, datamaster: Any = None, ticks: bool = True) -> None:
        """Move every line's pointer ``size`` bars (runonce mode), skipping the tick_* copies.

        ``AbstractDataBase.advance`` also clears and refills ``tick_open``... on every bar; the
        broker falls back to ``open[0]``/``high[0]``/... when those are None, so leaving them
        None gives the same fills for a fraction of the cost (profiled: two thirds of an empty
        strategy's run on 500 feeds).
        """
        if datamaster is not None or not self._fast():
            super().advance(size=size, datamaster=datamaster, ticks=ticks)
            return
        for line in self._lines_list:
            line._idx += size
            line.lencount += size

    def advance_peek(self) -> float:
        """The next bar's datetime (or +inf), read straight from the datetime buffer."""
        if not self._fast():
            return super().advance_peek()
        dt = self._dt_line
        if dt.lencount >= len(dt.array) - dt.extension:
            return super().advance_peek()
        return dt.array[dt._idx + 1]

    def _load(self) -> bool:
        self._idx += 1
        if self._idx >= len(self._columns["datetime"]):
            return False
        i = self._idx
        for alias in _VALUE_LINES:
            getattr(self.lines, alias)[0] = self._columns[alias][i]
        self.lines.datetime[0] = self._columns["datetime"][i]
        return True


def feeds_for(market: Any, tickers: Any = None) -> list[ArrayFeed]:
    """One :class:`ArrayFeed` per ticker of ``market`` (all of them by default), named by ticker."""
    names = market.tickers if tickers is None else pd.Index(tickers)
    cols = {f: market.frame(f)[names].to_numpy(np.float64)
            for f in ("open", "high", "low", "close", "volume")}
    return [ArrayFeed(dataname=str(t), dates=market.dates, **{f: a[:, j] for f, a in cols.items()})
            for j, t in enumerate(names)]
