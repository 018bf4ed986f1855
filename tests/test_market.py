"""Market validation: every rule rejects a hand-made bad frame with its own message."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.market import Market, normalize_index

DATES = pd.DatetimeIndex(["2026-01-02", "2026-01-05", "2026-01-06", "2026-01-07"], name="date")
TICKERS = ["AAA", "BBB", "CCC"]


def ohlcv(close: np.ndarray | None = None, dates: pd.DatetimeIndex = DATES) -> dict:
    c = np.array([[10.0, 20.0, np.nan],
                  [10.5, 19.0, 5.0],
                  [10.2, 19.5, 5.2],
                  [10.8, 20.5, 5.1]]) if close is None else close
    frames = {
        "close": c,
        "open": c * 0.99,
        "high": c * 1.02,
        "low": c * 0.97,
        "volume": np.where(np.isfinite(c), 1e6, np.nan),
    }
    return {k: pd.DataFrame(v, index=dates, columns=TICKERS) for k, v in frames.items()}


def attributes() -> pd.DataFrame:
    return pd.DataFrame({"sector": ["Technology", "Energy", "Health Care"],
                         "profitable": [True, True, False], "shares": [1e9, 5e8, 2e8]},
                        index=pd.Index(TICKERS, name="ticker"))


def build(**over) -> Market:
    kw = {**ohlcv(), "attributes": attributes(), **over}
    return Market(**kw)


def test_a_good_market_passes_and_has_shape():
    m = build(source="test", notes=("hand made",))
    assert m.n_names == 3 and len(m.dates) == 4
    assert m.tradable.loc["2026-01-02", "CCC"] == np.False_
    r = m.returns()
    assert r.iloc[0].eq(0).all() and np.isnan(r.loc["2026-01-05", "CCC"])


def with_close(c: np.ndarray, **over) -> Market:
    return Market(**{**ohlcv(c), "attributes": attributes(), **over})


GOOD = ohlcv()["close"].to_numpy()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: build(close=pd.DataFrame(dtype=float)), "no prices"),
    (lambda: Market(**{k: v.reset_index(drop=True) for k, v in ohlcv().items()},
                    attributes=attributes()), "not a DatetimeIndex"),
    (lambda: Market(**ohlcv(dates=pd.DatetimeIndex(
        ["2026-01-02", "2026-01-05", "2026-01-05", "2026-01-07"], name="date")),
        attributes=attributes()), "duplicate date on 2026-01-05"),
    (lambda: Market(**ohlcv(dates=pd.DatetimeIndex(
        ["2026-01-02", "2026-01-06", "2026-01-05", "2026-01-07"], name="date")),
        attributes=attributes()), "dates are not sorted"),
    (lambda: Market(**{k: v.set_axis(["AAA", "AAA", "CCC"], axis=1) for k, v in ohlcv().items()},
                    attributes=attributes()), "duplicate ticker column for AAA"),
    (lambda: build(fill_model="next_tuesday"), "unknown fill model 'next_tuesday'"),
    (lambda: build(open=ohlcv()["open"].iloc[:3]), "the open frame is not aligned with close"),
    (lambda: build(volume=ohlcv()["volume"][["CCC", "BBB", "AAA"]]),
     "the volume frame is not aligned with close"),
    (lambda: build(high=ohlcv()["high"].astype(np.float32)), "the high frame is not float64"),
    (lambda: with_close(np.where(np.arange(3) == 1, np.nan, GOOD)),
     "ticker has no prices at all for BBB"),
    (lambda: with_close(np.where((np.arange(4)[:, None] == 2) & (np.arange(3) == 0), np.nan, GOOD)),
     "missing price inside the listed period for AAA on 2026-01-06"),
    (lambda: with_close(np.where((np.arange(4)[:, None] == 3) & (np.arange(3) == 1), -1.0, GOOD)),
     "non-positive or NaN open price for BBB on 2026-01-07"),
    (lambda: build(open=ohlcv()["open"].mask(
        (ohlcv()["open"].index == "2026-01-06")[:, None] & (np.arange(3) == 0))),
     "non-positive or NaN open price for AAA on 2026-01-06"),
    (lambda: build(low=ohlcv()["low"].mask(
        (ohlcv()["low"].index == "2026-01-05")[:, None] & np.ones(3, bool), 0.0)),
     "non-positive or NaN low price for AAA on 2026-01-05"),
    (lambda: build(high=ohlcv()["close"] * 0.995), "OHLC inconsistent"),
    (lambda: build(low=ohlcv()["close"] * 1.001), "OHLC inconsistent"),
    (lambda: build(attributes=attributes().iloc[::-1]), "attributes are not indexed"),
    (lambda: build(short_interest=ohlcv()["close"].iloc[:2]),
     "short_interest history is not aligned"),
    (lambda: build(days_to_cover=ohlcv()["close"].iloc[:, :2]),
     "days_to_cover history is not aligned"),
    (lambda: build(reference=pd.DataFrame({"index": [0.0, 0.01]}, index=DATES[:2])),
     "reference series are not on the market's dates"),
    (lambda: build(factors=pd.DataFrame({"market": [0.0] * 4}, index=DATES + pd.Timedelta("1D"))),
     "factors series are not on the market's dates"),
])
def test_each_rule_rejects_a_bad_frame(make, message):
    with pytest.raises(SqueezeLabError, match="^market: ") as err:
        make()
    assert message in str(err.value)
    assert "\n" not in str(err.value) and ": " in str(err.value)


def test_nan_close_inside_listing_is_a_hole():
    c = GOOD.copy()
    c[1, 1] = np.nan
    with pytest.raises(SqueezeLabError, match="missing price inside the listed period for BBB"):
        with_close(c)


def test_slice_and_select():
    m = build()
    s = m.slice("2026-01-05", "2026-01-06")
    assert list(s.dates.strftime("%Y-%m-%d")) == ["2026-01-05", "2026-01-06"]
    early = m.slice(None, "2026-01-02")
    assert list(early.tickers) == ["AAA", "BBB"]      # CCC is not listed yet: dropped
    with pytest.raises(SqueezeLabError, match="outside the data"):
        m.slice("2025-01-01", "2025-12-31")
    with pytest.raises(SqueezeLabError, match="outside the data"):
        m.slice("2026-02-01", "2026-03-01")
    with pytest.raises(SqueezeLabError, match="is after end"):
        m.slice("2026-01-07", "2026-01-02")
    assert list(m.select(["CCC"]).tickers) == ["CCC"]
    with pytest.raises(SqueezeLabError, match="tickers not in the market: ZZZ"):
        m.select(["ZZZ"])
    with pytest.raises(SqueezeLabError, match="unknown price field"):
        m.frame("adj_close")


def test_content_hash_is_stable_and_sensitive():
    a, b = build(seed=1), build(seed=1)
    assert a.content_hash == b.content_hash
    assert len(a.content_hash) == 16
    assert a.content_hash == build(seed=1).content_hash          # not tied to object identity
    c = ohlcv()["close"].copy()
    c.iloc[3, 0] *= 1.0001
    assert build(close=c, high=c * 1.02).content_hash != a.content_hash
    assert replace(a, seed=2).content_hash != a.content_hash
    att = attributes()
    att.loc["AAA", "profitable"] = False
    assert build(seed=1, attributes=att).content_hash != a.content_hash


def test_provenance_is_plain_json():
    import json

    p = build(source="test", synthetic=True, seed=3, meta={"x": 1.5, "skip": {"a": 1}}).provenance()
    assert p["synthetic"] is True and p["seed"] == 3 and p["x"] == 1.5 and "skip" not in p
    json.dumps(p, allow_nan=False)


def test_normalize_index_gives_naive_ns_midnight():
    idx = pd.DatetimeIndex(["2026-01-02 15:30", "2026-01-05 09:00"], tz="US/Eastern")
    out = normalize_index(idx.as_unit("s"))
    assert out.tz is None and out.dtype == "datetime64[ns]" and out.name == "date"
    assert list(out.strftime("%Y-%m-%d %H:%M")) == ["2026-01-02 00:00", "2026-01-05 00:00"]


def test_infinite_price_is_rejected_not_taken_for_a_delisting():
    """An overflowed price (inf) must fail validation, even on the last day."""
    import numpy as np
    import pandas as pd
    import pytest

    from squeeze_lab.feeds.errors import SqueezeLabError
    from squeeze_lab.feeds.market import Market

    idx = pd.DatetimeIndex(pd.bdate_range("2024-01-02", periods=4), name="date")
    close = pd.DataFrame({"A": [10.0, 11.0, 12.0, np.inf], "B": [5.0, 5.0, 5.0, 5.0]}, index=idx)
    frames = {k: close.copy() for k in ("open", "high", "low", "close")}
    with pytest.raises(SqueezeLabError, match="A on 2024-01-05"):
        Market(**frames, volume=close * 0 + 100.0,
               attributes=pd.DataFrame({"sector": ["x", "y"]}, index=close.columns))
