"""The crowded book written the way a backtrader user would write it (the benchmarks' baseline).

One ``bt.feeds.PandasData`` per name (plus one for the index), the book's per-name signals as
backtrader indicators and line operations built in ``__init__``, the cross-section scored, ranked
and sized with ``order_target_percent`` in ``next()``, a default ``bt.Cerebro()`` (stdstats
observers on, default broker) with a commission scheme for fractional shares.

What is replicated with backtrader indicators (per feed), and how it maps to
:func:`strategies.book.book_scores`:

=================  ===========================================  ================================
our signal         backtrader here                              equal because
=================  ===========================================  ================================
daily return       ``close / close(-1) - 1``                    same float operations
12-1 momentum      ``close(-skip) / close(-lookback) - 1``      same float operations
realized vol       ``bt.ind.StdDev(ret, vol_window)``           population vs sample std and the
                                                                sqrt(252) scale are constant
                                                                factors: z-scores are scale-free
rolling beta       ``bt.ind.SumN`` of r, m, r*m, m*m:           the same sums formula
                   ``(Sxy - Sx*Sy/n) / (Syy - Sy*Sy/n)``
low price          ``close[0] < low_price`` in ``next()``       same comparison
short interest,    two extra lines of the feed                  the market's point-in-time
days to cover      (``PandasData`` subclass)                    values, read at the bar
profitable         a static dict ticker -> bool (a              the same attribute
                   fundamentals table), a strategy param
=================  ===========================================  ================================

The cross-sectional parts (z-scores clipped at 3, the quality and junk composites, the short
score ``(1 - w) z(junk) + w z(-momentum)`` when the book has ``short_momentum_weight``, top-k
selection with ties broken by column order, equal weights) are NumPy over the indicator values
in ``next()``, on rebalance bars only, as a user would write them. The index return ``m`` comes
from an index *level* feed (``close / close(-1) - 1`` on the compounded reference returns), so
beta can differ from ours in the last bits; the composites only decide a ranking, so the book is
the same unless two names tie to ~1e-14 (the benchmarks print the final values to check it).

Scope: equal weighting, dollar-neutral, monthly rebalance, a universe listed on every bar (the
benchmark market is restricted to such names; delistings and IPOs are not handled here).
"""

from __future__ import annotations

import math
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

#: Fractional sizes are rounded toward zero to this quantum (as strategies.execution does):
#: without it a reversing order can leave a 1e-13-share remainder that backtrader fills a bar late.
QUANTUM = 2.0 ** -20

#: Name of the index feed in the naive Cerebro.
INDEX = "__index__"


class FractionalCommInfo(bt.CommInfoBase):
    """Stock commission in % of traded value, short borrow as ``interest``, fractional sizes.

    ``getsize`` is overridden (backtrader's own truncates to whole shares) so that
    ``order_target_percent`` can hit fractional targets.
    """

    params = (
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
        ("commission", 0.0),
        ("interest", 0.0),
        ("interest_long", False),
        ("leverage", 1.0),
    )

    def getsize(self, price: float, cash: float) -> float:
        return math.trunc(self.p.leverage * cash / price / QUANTUM) * QUANTUM


class BookData(bt.feeds.PandasData):
    """PandasData with the point-in-time short interest and days to cover as extra lines."""

    lines = ("short_interest", "days_to_cover")
    params = (("short_interest", -1), ("days_to_cover", -1))


def zscore(x: np.ndarray, clip: float = 3.0) -> np.ndarray:
    """Cross-sectional z-score over finite values (population std), clipped; NaN stays NaN."""
    ok = np.isfinite(x)
    n = ok.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, x, 0.0).sum() / n
        sd = np.sqrt(np.where(ok, (x - mean) ** 2, 0.0).sum() / n)
        z = (x - mean) / sd
    if not sd > 1e-12 * max(1.0, abs(mean)):
        z = np.where(ok, 0.0, z)
    return np.clip(np.where(ok, z, np.nan), -clip, clip)


def composite(*components: np.ndarray) -> np.ndarray:
    """Mean of the components' z-scores; NaN unless every one is finite."""
    z = np.stack([zscore(c) for c in components])
    return np.where(np.isfinite(z).all(axis=0), z.mean(axis=0), np.nan)


def top_k(score: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
    """Mask of the ``k`` best scores among ``allowed`` (ties: first column first)."""
    key = np.where(allowed, score, -np.inf)
    order = np.argsort(-key, kind="stable")
    out = np.zeros(len(score), dtype=bool)
    out[order[:k]] = True
    return out & allowed


class NaiveBook(bt.Strategy):
    """Long quality + 12-1 momentum, short junk; monthly, equal weight, via order_target_percent."""

    params = (
        ("momentum_lookback", 252),
        ("momentum_skip", 21),
        ("vol_window", 63),
        ("beta_window", 126),
        ("names_per_leg", 50),
        ("gross", 2.0),
        ("quality_weight", 0.5),
        ("low_price", 5.0),
        ("short_momentum_weight", 0.0),  # short rank: (1-w) z(junk) + w z(-momentum); 0: junk
        ("profitable", None),     # {ticker: bool}
    )

    def __init__(self) -> None:
        p = self.p
        self.index = self.getdatabyname(INDEX)
        self.names = [d for d in self.datas if d._name != INDEX]
        m = self.index.close / self.index.close(-1) - 1.0
        w = p.beta_window
        sy = bt.ind.SumN(m, period=w)
        syy = bt.ind.SumN(m * m, period=w)
        self.mom, self.vol, self.beta = [], [], []
        for d in self.names:
            r = d.close / d.close(-1) - 1.0
            self.mom.append(d.close(-p.momentum_skip) / d.close(-p.momentum_lookback) - 1.0)
            self.vol.append(bt.ind.StdDev(r, period=p.vol_window))
            sx = bt.ind.SumN(r, period=w)
            sxy = bt.ind.SumN(r * m, period=w)
            self.beta.append((sxy - sx * sy / w) / (syy - sy * sy / w))
        prof = p.profitable or {}
        self.profitable = np.array([float(prof.get(d._name, np.nan)) for d in self.names])

    def next(self) -> None:
        dt = self.index.datetime.date(0)
        prev = self.index.datetime.date(-1)
        if (dt.year, dt.month) == (prev.year, prev.month):
            return  # rebalance on the first session of each month only
        p = self.p
        names = self.names
        mom = np.array([x[0] for x in self.mom])
        vol = np.array([x[0] for x in self.vol])
        beta = np.array([x[0] for x in self.beta])
        close = np.array([d.close[0] for d in names])
        si = np.array([d.short_interest[0] for d in names])
        dtc = np.array([d.days_to_cover[0] for d in names])
        prof = self.profitable
        quality = composite(prof, -beta, -vol)
        qw = p.quality_weight
        long_score = qw * zscore(quality) + (1 - qw) * zscore(mom)
        junk = composite(1.0 - prof, si, dtc, beta, (close < p.low_price).astype(np.float64), -mom)
        sw = p.short_momentum_weight
        if sw:
            short_score = (1 - sw) * zscore(junk) + sw * zscore(np.where(np.isfinite(junk), -mom, np.nan))
        else:
            short_score = junk
        cand = np.isfinite(long_score) & np.isfinite(short_score)
        k = min(p.names_per_leg, int(cand.sum()) // 2)
        longs = top_k(long_score, k, cand)
        shorts = top_k(short_score, k, cand & ~longs)
        weight = np.zeros(len(names))
        if k >= 1:
            weight[longs] = p.gross / 2 / k
            weight[shorts] = -(p.gross / 2 / k)
        value = self.broker.getvalue()
        held = np.array([self.getposition(d).size * d.close[0] for d in names])
        selling = weight * value < held
        for j in np.flatnonzero(selling):          # sells first: the buys need their cash
            self.order_target_percent(names[j], target=weight[j])
        for j in np.flatnonzero(~selling):
            if weight[j] * value != held[j]:
                self.order_target_percent(names[j], target=weight[j])


class Empty(bt.Strategy):
    """Does nothing: what backtrader itself costs for the feeds and the loop."""


def name_frames(market: Any, with_extra: bool = True) -> dict[str, pd.DataFrame]:
    """One OHLCV(+short interest, days to cover) DataFrame per ticker, plus the index level.

    This is the user's data preparation (what they would read from per-ticker files); the
    benchmarks do it before the timed part.
    """
    frames: dict[str, pd.DataFrame] = {}
    cols = {f: market.frame(f).to_numpy(np.float64) for f in ("open", "high", "low", "close", "volume")}
    extra = {}
    if with_extra:
        for f in ("short_interest", "days_to_cover"):
            src = getattr(market, f)
            extra[f] = (src.to_numpy(np.float64) if src is not None
                        else np.broadcast_to(market.attributes[f].to_numpy(np.float64),
                                             market.close.shape))
    for j, t in enumerate(market.tickers):
        data = {f: a[:, j] for f, a in cols.items()}
        data.update({f: a[:, j] for f, a in extra.items()})
        frames[str(t)] = pd.DataFrame(data, index=market.dates)
    level = np.cumprod(1.0 + market.reference["index"].to_numpy(np.float64)) * 100.0
    frames[INDEX] = pd.DataFrame({f: level for f in ("open", "high", "low", "close")}
                                 | {"volume": np.zeros(len(level))}, index=market.dates)
    return frames


def naive_cerebro(frames: dict[str, pd.DataFrame], *, cash: float = 1_000_000.0,
                  commission_bps: float = 1.0, borrow_bps: float = 50.0,
                  strategy: type = NaiveBook, **strategy_params: Any) -> bt.Cerebro:
    """A default ``bt.Cerebro()`` with one PandasData per frame and the fractional commission."""
    cerebro = bt.Cerebro()
    cerebro.broker.set_cash(cash)
    cerebro.broker.addcommissioninfo(FractionalCommInfo(commission=commission_bps / 1e4,
                                                        interest=borrow_bps / 1e4))
    feed_cls = BookData if strategy is NaiveBook else bt.feeds.PandasData
    for name, df in frames.items():
        if name == INDEX and strategy is not NaiveBook:
            continue
        if feed_cls is BookData and name == INDEX:
            cerebro.adddata(bt.feeds.PandasData(dataname=df), name=name)
        else:
            cerebro.adddata(feed_cls(dataname=df), name=name)
    cerebro.addstrategy(strategy, **strategy_params)
    return cerebro
