"""The parquet price cache: hits, partial extensions, refresh, corruption, location (no network)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.cache

from fixtures.yfdata import FakeYahoo, universe
from squeeze_lab.feeds.cache import (
    CACHE_ENV,
    PriceCache,
    cache_root,
    configure_yfinance_cache,
    missing_segments,
    safe_name,
)
from squeeze_lab.feeds.market import normalize_index
from squeeze_lab.feeds.yahoo import OVERLAP_DAYS, download_bars, yahoo_market

T = pd.Timestamp


@pytest.fixture
def yahoo(monkeypatch, tmp_path):
    yfinance.set_tz_cache_location(str(tmp_path / "yf-tz"))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    return FakeYahoo(universe(3)).install(monkeypatch)


def bars(n=5, start="2024-01-02"):
    idx = pd.bdate_range(start, periods=n)
    c = np.linspace(10, 11, n)
    return pd.DataFrame({"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 1e6 + np.arange(n)},
                        index=idx)


# ------------------------------------------------------------------ pure pieces
def test_missing_segments():
    assert missing_segments(None, None, T("2024-01-01"), T("2024-02-01")) == [(T("2024-01-01"), T("2024-02-01"))]
    assert missing_segments(T("2024-01-01"), T("2024-03-01"), T("2024-01-15"), T("2024-02-01")) == []
    assert missing_segments(T("2024-02-01"), T("2024-03-01"), T("2024-01-01"), T("2024-04-01")) == [
        (T("2024-01-01"), T("2024-01-31")), (T("2024-03-02"), T("2024-04-01"))]
    # disjoint later request: the gap is downloaded too so the block stays contiguous
    assert missing_segments(T("2024-01-01"), T("2024-01-31"), T("2024-03-01"), T("2024-03-31")) == [
        (T("2024-02-01"), T("2024-03-31"))]


def test_safe_name_is_file_safe_and_distinct():
    assert safe_name("BRK-B") == "BRK-B"
    assert safe_name("^GSPC") == "%5EGSPC"
    assert safe_name("A/B") != safe_name("A_B") and "/" not in safe_name("A/B")


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root().name == "squeeze-lab"


def test_yfinance_tz_cache_is_moved_under_our_cache(tmp_path):
    folder = configure_yfinance_cache(tmp_path / "c")
    assert folder == tmp_path / "c" / "yfinance" and folder.is_dir()
    assert yfinance.cache._TzDBManager.get_location() == str(folder)


def test_store_and_load_round_trip_with_checksum_sidecar(tmp_path):
    cache = PriceCache(tmp_path)
    b = bars()
    path = cache.store("AAA", b, T("2024-01-01"), T("2024-01-10"))
    entry, warn = cache.load("AAA")
    assert warn is None and entry is not None
    expect = b.copy()
    expect.index = normalize_index(b.index)
    pd.testing.assert_frame_equal(entry.frame, expect, check_freq=False)
    assert entry.frame.index.dtype == "datetime64[ns]"
    assert (entry.start, entry.end) == (T("2024-01-01"), T("2024-01-10"))
    side = json.loads(cache.sidecar_for("AAA").read_text())
    import hashlib
    assert side["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert side["rows"] == 5 and side["symbol"] == "AAA"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert cache.load("NOPE") == (None, None)


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar", "bad_sidecar"])
def test_damaged_file_is_reported_never_used(tmp_path, damage):
    cache = PriceCache(tmp_path)
    path = cache.store("AAA", bars(), T("2024-01-01"), T("2024-01-10"))
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        pos = len(raw) // 2
        path.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1:])
    elif damage == "no_sidecar":
        cache.sidecar_for("AAA").unlink()
    else:
        cache.sidecar_for("AAA").write_text("{not json")
    entry, warn = cache.load("AAA")
    assert entry is None
    assert str(path) in warn and "downloaded again" in warn and "\n" not in warn


def test_checksum_matching_but_unparseable_file(tmp_path):
    cache = PriceCache(tmp_path)
    path = cache.store("AAA", bars(), T("2024-01-01"), T("2024-01-10"))
    path.write_bytes(b"not parquet at all")
    side = cache.sidecar_for("AAA")
    meta = json.loads(side.read_text())
    import hashlib
    meta["sha256"] = hashlib.sha256(b"not parquet at all").hexdigest()
    side.write_text(json.dumps(meta))
    entry, warn = cache.load("AAA")
    assert entry is None and "could not be parsed" in warn


# ------------------------------------------------------------------ through the real feed code
def test_second_run_makes_no_download(yahoo, tmp_path):
    kw = dict(cache_dir=tmp_path / "c", today="2024-07-01")
    m1 = yahoo_market(["AAA", "BBB"], "2024-01-02", "2024-03-28", **kw)
    assert len(yahoo.calls) == 1
    m2 = yahoo_market(["AAA", "BBB"], "2024-01-02", "2024-03-28", **kw)
    assert len(yahoo.calls) == 1
    assert m1.content_hash == m2.content_hash
    # a sub-range is inside the cache too
    m3 = yahoo_market(["AAA", "BBB"], "2024-02-01", "2024-02-29", **kw)
    assert len(yahoo.calls) == 1 and m3.dates[0] == T("2024-02-01")
    assert sorted(m3.meta["cache"]["from_cache"]) == ["AAA", "BBB", "QQQ", "SPY"]


def test_extension_downloads_only_the_missing_part(yahoo, tmp_path):
    c = tmp_path / "c"
    download_bars(["AAA", "BBB"], "2024-02-01", "2024-02-29", cache_dir=c)
    assert yahoo.download_calls() == [(["AAA", "BBB"], "2024-02-01", "2024-03-01")]
    got = download_bars(["AAA", "BBB"], "2024-01-02", "2024-03-28", cache_dir=c)
    before = T("2024-02-01") - pd.Timedelta(days=1) + pd.Timedelta(days=OVERLAP_DAYS)
    after = T("2024-02-29") + pd.Timedelta(days=1) - pd.Timedelta(days=OVERLAP_DAYS)
    assert yahoo.download_calls()[1:] == [
        (["AAA", "BBB"], "2024-01-02", (before + pd.Timedelta(days=1)).strftime("%Y-%m-%d")),
        (["AAA", "BBB"], after.strftime("%Y-%m-%d"), "2024-03-29"),
    ]
    assert not got.failed and got.notes == []
    # the merged cache equals one full download
    full = download_bars(["AAA", "BBB"], "2024-01-02", "2024-03-28", cache_dir=tmp_path / "fresh")
    for s in ("AAA", "BBB"):
        pd.testing.assert_frame_equal(got.bars[s], full.bars[s], check_freq=False)
    entry, _ = PriceCache(c).load("AAA")
    assert (entry.start, entry.end) == (T("2024-01-02"), T("2024-03-28"))
    n = len(yahoo.calls)
    download_bars(["AAA", "BBB"], "2024-01-02", "2024-03-28", cache_dir=c)
    assert len(yahoo.calls) == n


def test_only_uncached_tickers_are_downloaded(yahoo, tmp_path):
    c = tmp_path / "c"
    download_bars(["AAA"], "2024-01-02", "2024-03-28", cache_dir=c)
    download_bars(["AAA", "BBB"], "2024-01-02", "2024-03-28", cache_dir=c)
    assert yahoo.download_calls()[1] == (["BBB"], "2024-01-02", "2024-03-29")


def test_refresh_forces_a_download(yahoo, tmp_path):
    kw = dict(cache_dir=tmp_path / "c", today="2024-07-01")
    yahoo_market(["AAA"], "2024-01-02", "2024-03-28", **kw)
    yahoo_market(["AAA"], "2024-01-02", "2024-03-28", refresh=True, **kw)
    assert len(yahoo.calls) == 2 and yahoo.download_calls()[0] == yahoo.download_calls()[1]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_cache_is_reported_and_downloaded_again(yahoo, tmp_path, damage):
    kw = dict(cache_dir=tmp_path / "c", today="2024-07-01")
    m1 = yahoo_market(["AAA", "BBB"], "2024-01-02", "2024-03-28", **kw)
    path = PriceCache(tmp_path / "c").path_for("BBB")
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[:100])
    else:
        path.write_bytes(raw[:200] + bytes([raw[200] ^ 0x01]) + raw[201:])
    m2 = yahoo_market(["AAA", "BBB"], "2024-01-02", "2024-03-28", **kw)
    assert yahoo.download_calls()[1] == (["BBB"], "2024-01-02", "2024-03-29")
    warn = [n for n in m2.notes if str(path) in n]
    assert len(warn) == 1 and "corrupt" in warn[0] and "downloaded again" in warn[0]
    pd.testing.assert_frame_equal(m1.close, m2.close)
    entry, w = PriceCache(tmp_path / "c").load("BBB")
    assert w is None and entry is not None  # repaired on disk


def test_readjusted_history_triggers_a_full_download(yahoo, tmp_path):
    c = tmp_path / "c"
    download_bars(["AAA", "BBB"], "2024-01-02", "2024-02-29", cache_dir=c)
    # a dividend after the cached range: Yahoo now returns all earlier AAA prices scaled down
    h = yahoo.histories["AAA"].copy()
    h[["Open", "High", "Low", "Close"]] *= 0.98
    yahoo.histories["AAA"] = h
    got = download_bars(["AAA", "BBB"], "2024-01-02", "2024-03-28", cache_dir=c)
    calls = yahoo.download_calls()
    assert calls[-1] == (["AAA"], "2024-01-02", "2024-03-29")
    assert any(n.startswith("AAA: cached prices were adjusted differently") for n in got.notes)
    close = got.bars["AAA"]["close"]
    fresh = h["Close"]
    fresh.index = fresh.index.tz_localize(None).astype("datetime64[ns]")
    np.testing.assert_array_equal(close.to_numpy(), fresh.loc["2024-01-02":"2024-03-28"].to_numpy())
    assert "BBB" in got.bars and len(calls) == 3


def test_failed_extension_is_not_cached_as_empty(yahoo, tmp_path):
    from yfinance.exceptions import YFRateLimitError

    c = tmp_path / "c"
    download_bars(["AAA", "BBB"], "2024-01-02", "2024-02-29", cache_dir=c)
    yahoo.errors["BBB"] = YFRateLimitError()
    got = download_bars(["AAA", "BBB"], "2024-01-02", "2024-03-28", cache_dir=c)
    assert "BBB" in got.failed and "Rate" in got.failed["BBB"]
    entry, _ = PriceCache(c).load("BBB")
    assert entry.end == T("2024-02-29")  # coverage not extended
    entry, _ = PriceCache(c).load("AAA")
    assert entry.end == T("2024-03-28")


def test_env_variable_moves_the_cache(yahoo, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "envcache"))
    download_bars(["AAA"], "2024-01-02", "2024-01-31")
    assert PriceCache(tmp_path / "envcache").path_for("AAA").is_file()
    assert (tmp_path / "envcache" / "yfinance").is_dir()


def test_info_cache_round_trip_and_corruption(tmp_path):
    cache = PriceCache(tmp_path)
    cache.store_info("AAA", {"sector": "Technology", "beta": 1.5}, "2024-07-01")
    data, warn = cache.load_info("AAA")
    assert warn is None and data["info"]["beta"] == 1.5 and data["fetched"] == "2024-07-01"
    p = tmp_path / "info" / "AAA.json"
    p.write_bytes(p.read_bytes().replace(b"1.5", b"2.5"))
    data, warn = cache.load_info("AAA")
    assert data is None and "corrupt" in warn
