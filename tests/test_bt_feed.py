"""ArrayFeed against backtrader's own PandasData: same lines on every bar, same fills, same value."""

from __future__ import annotations

import datetime

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.market import Market, normalize_index
from squeeze_lab.strategies.bt_feed import ArrayFeed, feeds_for
from squeeze_lab.strategies.execution import dates_to_num, num_to_dates

ALIASES = ("datetime", "open", "high", "low", "close", "volume", "openinterest")


def ohlcv_frame(seed: int, n: int = 60, start: str = "2024-01-02") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range(start, periods=n)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.02)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.02)
    vol = rng.integers(1_000, 100_000, n).astype(float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol},
                        index=idx)


class LineRecorder(bt.Strategy):
    """Records every line of every data on every bar."""

    def start(self) -> None:
        self.rows: list[list[list[float]]] = []

    def next(self) -> None:
        self.rows.append([[getattr(d.lines, a)[0] for a in ALIASES] for d in self.datas])


def record_lines(feeds: list[bt.feed.DataBase], **cerebro_kw) -> np.ndarray:
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    for f in feeds:
        cerebro.adddata(f)
    cerebro.addstrategy(LineRecorder)
    strat = cerebro.run()[0]
    return np.asarray(strat.rows)  # bars x datas x lines


@pytest.mark.parametrize("mode", [dict(preload=True, runonce=True), dict(preload=True, runonce=False),
                                  dict(preload=False, runonce=False)])
def test_lines_identical_to_pandasdata_on_every_bar(mode):
    frames = [ohlcv_frame(s) for s in range(3)]
    ours = record_lines([ArrayFeed.from_frame(df, f"A{i}") for i, df in enumerate(frames)], **mode)
    theirs = record_lines([bt.feeds.PandasData(dataname=df, name=f"P{i}")
                           for i, df in enumerate(frames)], **mode)
    assert ours.shape == theirs.shape == (60, 3, len(ALIASES))
    np.testing.assert_array_equal(ours, theirs)  # NaN openinterest on both sides compares equal


def test_fromdate_todate_filters_like_pandasdata():
    df = ohlcv_frame(5)
    kw = dict(fromdate=datetime.datetime(2024, 1, 15), todate=datetime.datetime(2024, 2, 20))
    ours = record_lines([ArrayFeed.from_frame(df, "A", **kw)])
    theirs = record_lines([bt.feeds.PandasData(dataname=df, **kw)])
    assert 0 < len(ours) < len(df)
    np.testing.assert_array_equal(ours, theirs)


class FixedOrders(bt.Strategy):
    """Submits a fixed script of market orders: {bar: [(data index, signed size)]}."""

    params = (("script", None),)

    def start(self) -> None:
        self.fills: list[tuple[str, float, float, float, float]] = []
        self.values: list[tuple[float, float]] = []

    def next(self) -> None:
        for j, size in self.p.script.get(len(self) - 1, []):
            (self.buy if size > 0 else self.sell)(data=self.datas[j], size=abs(size))
        self.values.append((self.broker.getvalue(), self.broker.getcash()))

    def notify_order(self, order) -> None:
        if order.status == order.Completed:
            self.fills.append((order.data._name[1:], order.executed.dt, order.executed.size,
                               order.executed.price, order.executed.comm))


def run_script(feeds, script):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.set_cash(100_000.0)
    cerebro.broker.set_slippage_perc(0.002)
    cerebro.broker.setcommission(commission=0.0005, interest=0.03)
    for f in feeds:
        cerebro.adddata(f)
    cerebro.addstrategy(FixedOrders, script=script)
    strat = cerebro.run()[0]
    return strat.fills, strat.values, cerebro.broker.getvalue()


def test_same_fills_and_final_value_as_pandasdata():
    frames = [ohlcv_frame(s) for s in range(10, 13)]
    script = {0: [(0, 100), (1, -150)], 5: [(2, 30.5), (0, -250)], 17: [(1, 150), (1, 80)],
              30: [(2, -60.5)], 44: [(0, 150)], 59: [(0, 10)]}  # the last never fills
    a = run_script([ArrayFeed.from_frame(df, f"A{i}") for i, df in enumerate(frames)], script)
    p = run_script([bt.feeds.PandasData(dataname=df, name=f"P{i}")
                    for i, df in enumerate(frames)], script)
    assert len(a[0]) == 8
    assert a[0] == p[0]
    assert a[1] == p[1]
    assert a[2] == p[2]


def test_unlisted_bars_carry_first_open_and_last_close_with_zero_volume():
    df = ohlcv_frame(3, n=20)
    df.iloc[:4] = np.nan
    df.iloc[15:] = np.nan
    lines = record_lines([ArrayFeed.from_frame(df, "X")])[:, 0, :]
    o, h, lo, c, v = (lines[:, ALIASES.index(k)] for k in ("open", "high", "low", "close", "volume"))
    first_open, last_close = df["open"].iloc[4], df["close"].iloc[14]
    for arr in (o, h, lo, c):
        assert (arr[:4] == first_open).all()
        assert (arr[15:] == last_close).all()
    assert (v[:4] == 0).all() and (v[15:] == 0).all()
    np.testing.assert_array_equal(c[4:15], df["close"].iloc[4:15].to_numpy())
    feed = ArrayFeed.from_frame(df, "X")
    np.testing.assert_array_equal(feed.listed, df["close"].notna().to_numpy())


def test_close_only_data_sets_open_high_low_to_close():
    df = ohlcv_frame(4, n=10)[["close"]]
    lines = record_lines([ArrayFeed.from_frame(df, "C")])[:, 0, :]
    for k in ("open", "high", "low"):
        np.testing.assert_array_equal(lines[:, ALIASES.index(k)], df["close"].to_numpy())


def test_feeds_for_names_every_ticker_and_covers_every_date():
    frames = {t: ohlcv_frame(i, n=30) for i, t in enumerate(["AAA", "BBB", "CCC"])}
    wide = {f: pd.DataFrame({t: df[f] for t, df in frames.items()}) for f in
            ("open", "high", "low", "close", "volume")}
    for f in wide:
        wide[f].index = normalize_index(wide[f].index)
        wide[f].loc[wide[f].index[:5], "CCC"] = np.nan  # lists late
    market = Market(**wide, attributes=pd.DataFrame({"sector": "x"}, index=wide["close"].columns))
    feeds = feeds_for(market)
    assert [f._name for f in feeds] == ["AAA", "BBB", "CCC"]
    lines = record_lines(feeds)
    assert lines.shape[:2] == (30, 3)
    np.testing.assert_array_equal(lines[:, 2, ALIASES.index("close")][5:],
                                  market.close["CCC"].to_numpy()[5:])
    assert (lines[:, 2, ALIASES.index("volume")][:5] == 0).all()


def test_bad_arrays_raise_one_line_errors():
    dates = pd.bdate_range("2024-01-01", periods=5)
    with pytest.raises(SqueezeLabError, match="inside the listed period"):
        ArrayFeed(dataname="X", dates=dates, close=[1.0, np.nan, 2.0, 3.0, 4.0])
    with pytest.raises(SqueezeLabError, match="same length"):
        ArrayFeed(dataname="X", dates=dates, close=[1.0, 2.0])
    with pytest.raises(SqueezeLabError, match="increasing"):
        ArrayFeed(dataname="X", dates=dates[::-1], close=np.ones(5))


def test_date_numbers_match_backtrader_date2num_including_intraday():
    stamps = pd.DatetimeIndex(["2024-01-02", "2024-03-04 15:59:59.999990", "1999-12-31 09:30"])
    expected = [bt.date2num(s.to_pydatetime()) for s in stamps]
    assert dates_to_num(stamps).tolist() == expected
    back = num_to_dates(dates_to_num(stamps))
    assert (abs(back - stamps) < pd.Timedelta("10us")).all()
