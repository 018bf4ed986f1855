"""export_market writes exactly what csv_market reads: a round trip gives the same market."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pandas.errors import Pandas4Warning

from squeeze_lab.feeds.csv_feed import csv_market
from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.feeds.export import export_market
from squeeze_lab.feeds.market import FIELDS, Market, normalize_index


def hand_market(close_only: bool = False, volume: bool = True, seed: int = 5) -> Market:
    rng = np.random.default_rng(seed)
    dates = normalize_index(pd.bdate_range("2024-01-02", periods=45))
    tickers = pd.Index(["AAA", "BBB", "CCC", "DDD", "EEE"], name="ticker")
    c = pd.DataFrame(30 * np.exp(np.cumsum(rng.normal(0, 0.03, (45, 5)), axis=0)), index=dates,
                     columns=tickers)
    c.iloc[:7, 2] = np.nan            # CCC lists late
    c.iloc[33:, 3] = np.nan           # DDD delists
    c.iloc[5, 0] = 0.1 + 0.2          # a float that prints badly at low precision
    if close_only:
        o = h = lo = c
    else:
        o = c * np.exp(rng.normal(0, 0.01, c.shape))
        h = np.maximum(o, c) * (1 + rng.uniform(0, 0.02, c.shape))
        lo = np.minimum(o, c) * (1 - rng.uniform(0, 0.02, c.shape))
    v = (pd.DataFrame(rng.integers(1e4, 1e7, c.shape).astype(float), index=dates, columns=tickers)
         .where(c.notna()) if volume else pd.DataFrame(np.nan, index=dates, columns=tickers))
    att = pd.DataFrame({
        "sector": ["Technology", "Energy", "Technology", "Health Care, Equipment", "Utilities"],
        "profitable": [False, True, False, True, True],
        "beta": [1.9, 0.7, 2.2, np.nan, 0.5],
        "short_interest": [0.31, 0.02, 0.44, 0.08, 0.01],
        "days_to_cover": [7.5, 1.0, 9.25, 2.0, 0.5],
        "shares": [3e8, 5e9, 1.2e8, 8e8, 2e9],
        "is_tech": [True, False, True, False, False],
    }, index=tickers)
    si = pd.DataFrame(rng.uniform(0, 0.5, c.shape), index=dates, columns=tickers).where(c.notna())
    si.iloc[:10] = np.nan
    ref = pd.DataFrame(rng.normal(0, 0.01, (45, 4)), index=dates,
                       columns=["index", "growth", "most_shorted", "unprofitable_tech"])
    ref.iloc[0] = 0.0
    fac = pd.DataFrame(rng.normal(0, 0.005, (45, 4)), index=dates,
                       columns=["market", "junk", "momentum", "quality"])
    return Market(o, h, lo, c, v, att, reference=ref, factors=fac, short_interest=si,
                  days_to_cover=si * 20, source="scenario", synthetic=True, seed=7,
                  fill_model="next_close" if close_only else "next_open",
                  notes=("SYNTHETIC market for a test",), suspicious="keep")


def assert_same_market(a: Market, b: Market) -> None:
    for f in FIELDS:
        pd.testing.assert_frame_equal(a.frame(f), b.frame(f), check_freq=False)
    pd.testing.assert_frame_equal(a.attributes, b.attributes)
    for name in ("reference", "factors", "short_interest", "days_to_cover"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or (isinstance(x, pd.DataFrame) and x.empty):
            assert y is None or y.empty, name
        else:
            pd.testing.assert_frame_equal(x, y, check_freq=False, check_names=False)
    assert a.fill_model == b.fill_model
    # the content hash differs only through the source label
    assert replace(b, source=a.source).content_hash == a.content_hash


@pytest.mark.parametrize("gzip", [False, True])
def test_round_trip_full_market(tmp_path, gzip):
    m = hand_market()
    out = export_market(m, tmp_path / "exp", gzip=gzip)
    ext = ".csv.gz" if gzip else ".csv"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["README.md", "manifest.json"] + [f"{s}{ext}" for s in (
        "prices", "attributes", "short_interest", "days_to_cover", "reference", "factors")])
    back = csv_market(out)
    assert_same_market(m, back)
    assert back.source == "csv" and back.synthetic is True and back.seed == 7
    assert back.notes[0].startswith("SYNTHETIC data: exported from a scenario market")
    assert back.meta["exported_from"] == "scenario"
    assert back.content_hash != m.content_hash
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["market_hash"] == m.content_hash and manifest["synthetic"] is True


def test_prices_file_is_the_long_format_csv_feed_reads(tmp_path):
    m = hand_market()
    out = export_market(m, tmp_path / "exp")
    lines = (out / "prices.csv").read_text().splitlines()
    assert lines[0] == "date,ticker,open,high,low,close,volume"
    assert len(lines) - 1 == int(m.close.notna().to_numpy().sum())   # listed cells only
    assert lines[1].startswith("2024-01-02,AAA,")
    assert "0.30000000000000004" in (out / "prices.csv").read_text()
    # the file alone (no manifest, attributes given separately) reads back to the same prices
    alone = csv_market(out / "prices.csv", attributes=out / "attributes.csv", suspicious="keep")
    for f in FIELDS:
        pd.testing.assert_frame_equal(alone.frame(f), m.frame(f), check_freq=False, check_names=False)
    assert alone.synthetic is False  # without the manifest nothing says it was synthetic


def test_round_trip_close_only_market(tmp_path):
    m = hand_market(close_only=True)
    out = export_market(m, tmp_path / "exp")
    assert (out / "prices.csv").read_text().splitlines()[0] == "date,ticker,close,volume"
    back = csv_market(out)
    assert back.fill_model == "next_close"
    assert_same_market(m, back)


def test_round_trip_without_volume(tmp_path):
    m = hand_market(volume=False)
    out = export_market(m, tmp_path / "exp")
    assert (out / "prices.csv").read_text().splitlines()[0] == "date,ticker,open,high,low,close"
    back = csv_market(out)
    assert not back.has_volume
    assert_same_market(m, back)


def test_round_trip_keeps_attribute_types_and_minimal_markets(tmp_path):
    m = hand_market()
    att = m.attributes.copy()
    att["profitable"] = pd.array([True, None, False, True, None], dtype="boolean")
    att["cluster"] = np.arange(5, dtype=np.int64)
    att = att.drop(columns=["days_to_cover"])
    m2 = replace(m, attributes=att, short_interest=None, days_to_cover=None,
                 reference=pd.DataFrame(), factors=pd.DataFrame(), synthetic=False, seed=None)
    back = csv_market(export_market(m2, tmp_path / "exp"))
    assert_same_market(m2, back)
    assert back.synthetic is False and back.reference.empty and back.short_interest is None


def test_round_trip_scenario_market(tmp_path):
    from squeeze_lab.feeds.scenario import scenario_market

    with warnings.catch_warnings():  # exchange_calendars under pandas 3.1 (not our code)
        warnings.simplefilter("ignore", Pandas4Warning)
        m = scenario_market(seed=3, n_names=50, start="2025-05-01", end="2025-07-31")
    back = csv_market(export_market(m, tmp_path / "exp"))
    assert_same_market(m, back)
    assert back.synthetic is True and "SYNTHETIC" in back.notes[0]


def test_existing_folder_is_not_overwritten_by_accident(tmp_path):
    m = hand_market()
    out = export_market(m, tmp_path / "exp")
    with pytest.raises(SqueezeLabError, match="already exists"):
        export_market(m, out)
    export_market(replace(m, seed=9), out, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 9
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(SqueezeLabError, match="not a squeeze-lab export"):
        export_market(m, other, overwrite=True)
    assert (other / "keep.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
