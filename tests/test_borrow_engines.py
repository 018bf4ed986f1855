"""Borrow in both engines: per-name fees (file, crowding), locates and recalls, reconciled.

The issue's acceptance case: one shorted name at 10,000 bps (100% a year) for a month -> its
borrow.csv cost is fee x short value x days / 360 to 1e-9, and backtrader and the twin agree;
available shares below the position -> the short is cut (at a signal) or recalled (between
signals) at the next open, with the reason on the trade and in the events.
"""

from __future__ import annotations

import dataclasses

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from test_engines import assert_reconciled, random_market, random_targets

from squeeze_lab.feeds.borrow import borrow_table
from squeeze_lab.strategies import borrow as B
from squeeze_lab.strategies.array_broker import ArrayBroker
from squeeze_lab.strategies.bt_strategy import SqueezeBook
from squeeze_lab.strategies.engine import Recorder, make_cerebro, run_backtrader
from squeeze_lab.strategies.twin import run_vectorized

EX = dict(commission_bps=1.0, slippage_bps=5.0, borrow_bps=50.0)


@pytest.fixture(scope="module")
def market():
    return random_market(5, n_names=20, n_days=120, listing=False)


@pytest.fixture(scope="module")
def targets(market):
    return random_targets(market, seed=2, every=10, hedge=0.0)


def short_name_and_month(market, result):
    """A name held short on every session of some ~month-long stretch of the run."""
    short = result.shares.to_numpy() < 0
    n = 21
    for j in range(short.shape[1]):
        run = np.convolve(short[:, j].astype(int), np.ones(n, int), mode="valid")
        hit = np.flatnonzero(run == n)
        if len(hit):
            a = int(hit[0])
            return market.tickers[j], market.dates[a], market.dates[a + n - 1]
    raise AssertionError("no name is short for a month in this run")


def both(market, targets, terms, **ex):
    ex = {**EX, **ex}
    r = run_backtrader(market, ex, targets=targets, borrow=terms)[0]
    v = run_vectorized(market, targets, borrow=terms, **ex)
    return r, v


@pytest.fixture(scope="module")
def expensive(market, targets):
    flat = run_vectorized(market, targets, **EX)
    name, start, end = short_name_and_month(market, flat)
    days = pd.bdate_range(start, end)
    raw = pd.DataFrame({"date": days, "ticker": name, "fee_bps": 10_000.0})
    bf = borrow_table(raw, market.dates, market.tickers)
    terms = B.resolve_terms("file", market, EX["borrow_bps"], bf)
    return name, start, end, terms, both(market, targets, terms)


def test_ten_thousand_bps_for_a_month_is_fee_x_value_x_days_over_360(market, expensive):
    name, start, end, terms, (r, v) = expensive
    assert_reconciled(r, v)
    table = r.borrow_record.table(r.shares)
    assert list(table.columns[:5]) == ["date", "ticker", "shares_short", "fee_bps", "cost"]
    rows = table[(table["ticker"] == name) & (table["held_from"] >= start)
                 & (table["held_from"] <= end)]
    assert len(rows) >= 20 and (rows["fee_bps"] == 10_000.0).all()
    close = market.close[name].reindex(rows["held_from"]).to_numpy()
    expected = 1.0 * rows["shares_short"].to_numpy() * close * rows["days"].to_numpy() / 360.0
    np.testing.assert_allclose(rows["cost"].to_numpy(), expected, rtol=1e-9, atol=0)
    assert (rows["days"] == 3).any()  # weekends accrue
    # the same table from the twin, and per day the ledger is the costs' borrow
    tv = v.borrow_record.table(v.shares)
    np.testing.assert_allclose(tv["cost"].to_numpy(), table["cost"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(r.borrow_record.ledger.sum(axis=1), r.costs["borrow"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(v.borrow_record.ledger.sum(axis=1), v.costs["borrow"], rtol=1e-12, atol=1e-9)
    # other names pay borrow_bps on ACT/360 and the previous close
    other = table[table["ticker"] != name].iloc[:50]
    c = market.close.to_numpy()[market.dates.get_indexer(other["held_from"]),
                                market.tickers.get_indexer(other["ticker"])]
    np.testing.assert_allclose(other["cost"], 0.005 * other["shares_short"] * c * other["days"] / 360,
                               rtol=1e-12)


def test_expensive_month_drags_the_result(market, targets, expensive):
    name, start, end, terms, (r, _) = expensive
    flat_file = B.resolve_terms("file", market, EX["borrow_bps"],
                                borrow_table(pd.DataFrame({"date": [market.dates[0]],
                                                           "ticker": [name], "fee_bps": [50.0]}),
                                             market.dates, market.tickers))
    base = run_backtrader(market, EX, targets=targets, borrow=flat_file)[0]
    month = (r.costs.index >= start) & (r.costs.index <= end + pd.Timedelta(days=5))
    extra = r.costs["borrow"][month].sum() - base.costs["borrow"][month].sum()
    assert extra > 0
    assert r.equity.iloc[-1] < base.equity.iloc[-1]


def availability_case(market, targets):
    """A name short from the first signal: availability below the position on a non-signal day
    (recall), and a later signal that wants more than is available (locate cut)."""
    flat = run_vectorized(market, targets, **EX)
    sig_rows = set(market.dates.get_indexer(targets.dates).tolist())
    sh = flat.shares.to_numpy()
    for j in range(sh.shape[1]):
        for t in range(5, len(market.dates) - 25):
            if t in sig_rows or t + 1 in sig_rows or not (sh[t - 1:t + 2, j] < 0).all():
                continue
            held = -sh[t, j]
            rows = pd.DataFrame({"date": [market.dates[0], market.dates[t]],
                                 "ticker": market.tickers[j], "fee_bps": [100.0, 400.0],
                                 "available_shares": [None, np.floor(held / 3)]})
            # keep the cap in force for the rest of the run (daily rows)
            later = pd.DataFrame({"date": market.dates[t + 1:], "ticker": market.tickers[j],
                                  "fee_bps": 400.0, "available_shares": np.floor(held / 3)})
            return j, t, pd.concat([rows, later], ignore_index=True)
    raise AssertionError("no candidate")


@pytest.fixture(scope="module")
def limited(market, targets):
    j, t, raw = availability_case(market, targets)
    terms = B.resolve_terms("file", market, EX["borrow_bps"],
                            borrow_table(raw, market.dates, market.tickers))
    return j, t, terms, both(market, targets, terms)


def test_recall_buys_back_the_excess_at_the_next_open(market, limited):
    j, t, terms, (r, v) = limited
    assert_reconciled(r, v)
    name = market.tickers[j]
    ev = r.borrow_record.events
    pd.testing.assert_frame_equal(ev, v.borrow_record.events)
    recall = ev[(ev["event"] == "recall") & (ev["ticker"] == name)].iloc[0]
    assert recall["date"] == market.dates[t] and recall["fill_date"] == market.dates[t + 1]
    avail = np.floor(terms.available[t, j])
    assert recall["shares_available"] == avail
    assert recall["shares_bought_back"] == pytest.approx(recall["shares_wanted"] - avail, abs=1e-5)
    fill = r.trades[(r.trades["date"] == market.dates[t + 1]) & (r.trades["ticker"] == name)]
    assert len(fill) == 1 and fill["reason"].iloc[0] == "recall" and fill["size"].iloc[0] > 0
    # from the recall on, never more short than available
    held = -r.shares[name].to_numpy()[t + 1:]
    assert (held <= avail + 1e-6).all()


def test_later_signals_are_cut_to_the_locate(market, targets, limited):
    j, t, terms, (r, _) = limited
    ev = r.borrow_record.events
    cuts = ev[(ev["event"] == "locate_cut") & (ev["ticker"] == market.tickers[j])]
    if cuts.empty:  # the random book did not want this name short again
        pytest.skip("no later short signal on the name")
    assert (cuts["date"] > market.dates[t]).all()
    assert (cuts["date"].isin(targets.dates)).all()
    assert (cuts["shares_wanted"] > cuts["shares_available"]).all()
    fills = r.trades.merge(cuts[["fill_date", "ticker"]], left_on=["date", "ticker"],
                           right_on=["fill_date", "ticker"])
    assert fills["reason"].str.endswith("; locate_cut").all()


def test_crowding_model_reconciles_and_recalls_in_a_squeeze(market, targets):
    rng = np.random.default_rng(0)
    n_rows, n = market.close.shape
    si = np.clip(rng.lognormal(np.log(0.2), 0.5, n), 0.01, 0.6)
    si_t = np.tile(si, (n_rows, 1)) * np.linspace(0.8, 1.2, n_rows)[:, None]
    shares = np.full(n, 6e3)  # a tiny float: availability binds for the most crowded names
    attrs = market.attributes.assign(shares=shares, short_interest=si)
    mk = dataclasses.replace(market, attributes=attrs,
                             short_interest=pd.DataFrame(si_t, index=market.dates,
                                                         columns=market.tickers))
    terms = B.resolve_terms("crowding", mk, 50.0)
    assert terms.limited and terms.fee_bps.max() > 500
    r, v = both(mk, targets, terms)
    assert_reconciled(r, v)
    pd.testing.assert_frame_equal(r.borrow_record.events, v.borrow_record.events)
    assert len(r.borrow_record.events) > 0
    np.testing.assert_allclose(r.borrow_record.ledger.to_numpy(), v.borrow_record.ledger.to_numpy(),
                               rtol=1e-9, atol=1e-9)
    # the model through the config key gives the same run
    r2 = run_backtrader(mk, {**EX, "borrow_model": "crowding"}, targets=targets)[0]
    np.testing.assert_array_equal(r2.equity, r.equity)


def test_flat_model_is_the_old_single_interest_run(market, targets):
    """flat through per-name CommInfos = one SqueezeCommInfo with ``interest`` (bit for bit)."""
    r = run_backtrader(market, {**EX, "borrow_bps": 250.0}, targets=targets)[0]
    c = make_cerebro(market, **{**EX, "borrow_bps": 250.0})
    c.addstrategy(SqueezeBook, market=market, targets=targets)
    c.addanalyzer(Recorder, _name="rec")
    got = c.run()[0].analyzers.rec.get_analysis()
    np.testing.assert_array_equal(got["value"], r.equity.to_numpy())
    assert r.borrow_record.model == "flat" and r.borrow_record.ledger.to_numpy().sum() > 0


def test_backbroker_calls_the_commission_info_and_array_broker_matches(market, targets, limited):
    """backtrader's own credit hook (BackBroker) and ArrayBroker's vector step: same run."""
    _, _, terms, _ = limited

    def run(slow):
        c = make_cerebro(market, **EX, borrow=terms)
        if slow:
            old = c.broker
            c.broker = bt.brokers.BackBroker()
            c.broker.p.__dict__.update(old.p.__dict__)
            c.broker.comminfo = old.comminfo
        c.addstrategy(SqueezeBook, market=market, targets=targets, borrow=terms)
        c.addanalyzer(Recorder, _name="rec")
        s = c.run()[0]
        return s.analyzers.rec.get_analysis(), c.borrow_ledger, c.broker

    fast, led_f, br_f = run(False)
    slow, led_s, br_s = run(True)
    assert isinstance(br_f, ArrayBroker) and br_f._fast
    assert type(br_s) is bt.brokers.BackBroker
    np.testing.assert_allclose(fast["value"], slow["value"], rtol=1e-12)
    np.testing.assert_allclose(led_f, led_s, rtol=1e-12, atol=0)
    assert led_f.sum() > 0


def test_file_model_without_a_file_is_one_line(market, targets):
    from squeeze_lab.feeds.errors import SqueezeLabError

    with pytest.raises(SqueezeLabError, match="needs data.borrow"):
        run_backtrader(market, {**EX, "borrow_model": "file"}, targets=targets)
    with pytest.raises(SqueezeLabError, match="borrow_model=.fancy. is not valid"):
        run_vectorized(market, targets, **EX, borrow_model="fancy")


def test_cover_expensive_covers_shorts_at_or_above_the_fee_and_engines_agree():
    from squeeze_lab.pipeline.config import load_market, resolve_config

    cfg = resolve_config({"data": {"n_names": 60, "start": "2024-01-02", "end": "2025-08-29"},
                          "book": {"names_per_leg": 20},
                          "overlay": {"enabled": True, "actions": ["cover_expensive"],
                                      "threshold": 0.5, "cover_fee_bps": 500.0},
                          "execution": {"borrow_model": "crowding"}})
    mk = load_market(cfg["data"])
    params = {s: cfg[s] for s in ("book", "overlay", "execution")}
    r = run_backtrader(mk, params)[0]
    log = r.overlay_log
    acted = log[(log["action"] == "cover_expensive") & (log["size"] > 0)]
    assert len(acted) > 0, log["action"].value_counts()
    terms = B.resolve_terms("crowding", mk, cfg["execution"]["borrow_bps"])
    short = r.targets.legs["short"]
    for date in acted["date"]:
        row = mk.dates.get_loc(date)
        # after the action no short left at or above the threshold on that decision date
        assert (terms.fee_bps[row][short.loc[date].to_numpy() < 0] < 500.0).all()
    v = run_vectorized(mk, r.targets, overlay_log=log, max_net_long=cfg["overlay"]["max_net_long"],
                       **cfg["execution"])
    assert_reconciled(r, v)


@pytest.mark.parametrize("model", ["flat", "crowding", "file"])
def test_credit_by_blocks_of_bars_as_bar_by_bar(limited, model, monkeypatch):
    """ArrayBroker's charges made a block of bars at a time while the holdings stay (up to 64
    bars) or one bar at a time by the step's general branch: the same values, cash, credit
    totals and ledger, bit for bit (60 names: sums long enough for their order to show)."""
    mk = random_market(9, n_names=60, n_days=90, listing=False)
    tg = random_targets(mk, seed=4, every=15, hedge=0.0)
    terms = (B.resolve_terms(model, mk, EX["borrow_bps"]) if model != "file" else
             B.resolve_terms("file", mk, EX["borrow_bps"], borrow_table(
                 pd.DataFrame({"date": mk.dates[0], "ticker": mk.tickers,
                               "fee_bps": np.linspace(20, 900, 60)}), mk.dates, mk.tickers)))

    def run():
        c = make_cerebro(mk, **EX, borrow=terms)
        c.addstrategy(SqueezeBook, market=mk, targets=tg, borrow=terms)
        c.addanalyzer(Recorder, _name="rec")
        got = c.run()[0].analyzers.rec.get_analysis()
        assert c.broker._fast
        return [np.asarray(got[k]).copy() for k in ("value", "cash", "credit")], c.borrow_ledger

    blocks, ledger = run()
    step = ArrayBroker._credit_step

    def bar_by_bar(self):   # every bar through the step's general branch, as if held anew
        step(self)
        self._credit_key = None

    monkeypatch.setattr(ArrayBroker, "_credit_step", bar_by_bar)
    monkeypatch.setattr(ArrayBroker, "value_block", 1)
    by_bar, ledger_1 = run()
    for a, b in zip(blocks, by_bar, strict=True):
        assert np.array_equal(a.view(np.int64), b.view(np.int64))
    assert np.array_equal(ledger.view(np.int64), ledger_1.view(np.int64)) and ledger.sum() > 0
