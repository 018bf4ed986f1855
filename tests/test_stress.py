"""squeeze-lab stress: replay arithmetic by hand, the generator's dials, Dask = local, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeeze_lab import run_backtest
from squeeze_lab.analyzers.stress import hold_book, loss_distribution, overlay_states
from squeeze_lab.feeds.squeeze_paths import PathSpec, generate_paths
from squeeze_lab.pipeline import stress as S

DEFAULT = str(Path(run_backtest.DEFAULT_CONFIG))
SMALL = ["--set", "data.n_names=100", "--set", "book.names_per_leg=20", "--set", "book.max_weight=0.1",
         "--start", "2024-01-02", "--end", "2026-03-31", "--quiet"]

# --------------------------------------------------------------------------- by hand
# A long 0.5, B short 0.3, C short 0.2 of equity; five sessions.
RET = np.array([[0.01, 0.05, 0.00],
                [0.02, 0.05, 0.10],
                [-0.01, 0.00, -0.05],
                [0.00, -0.02, 0.00],
                [0.03, 0.10, 0.00]])
W = np.array([[0.5, 0.0, 0.0], [0.0, -0.3, -0.2], [0.0, 0.0, 0.0]])


def test_replay_arithmetic_three_names_five_sessions() -> None:
    res = hold_book(RET[None], W, W * 0.5, np.zeros((1, 5), bool), False)
    # growth of each name: A 1.01, 1.0302, 1.019898, 1.019898, 1.05049494
    #                      B 1.05, 1.1025, 1.1025, 1.08045, 1.188495;  C 1, 1.1, 1.045, 1.045, 1.045
    expected = [1.0, 0.990, 0.96435, 0.970199, 0.976814, 0.95969897]
    np.testing.assert_allclose(res["equity"][0], expected, rtol=0, atol=1e-12)
    assert res["pnl"][0] == pytest.approx(-0.04030103, abs=1e-12)
    assert res["max_drawdown"][0] == pytest.approx(-0.04030103, abs=1e-12)
    np.testing.assert_allclose(res["legs"][0], [0.02524747, -0.0655485, 0.0], atol=1e-12)
    np.testing.assert_allclose(res["names"][0], [0.02524747, -0.0565485, -0.009], atol=1e-12)
    assert res["legs"][0].sum() == pytest.approx(res["pnl"][0], abs=1e-15)


def test_overlay_switch_rebalances_at_that_close() -> None:
    state = np.array([[False, True, True, True, True]])   # on after the close of session 2
    res = hold_book(RET[None], W, W * 0.5, state, False)
    e2 = 0.96435                                        # equity at the switch
    a, b, c = 0.25 * e2, -0.15 * e2, -0.10 * e2            # holdings set to the degrossed weights
    cash = e2 - (a + b + c)
    e3 = cash + a * 0.99 + b * 1.00 + c * 0.95
    e4 = cash + a * 0.99 + b * 0.98 + c * 0.95
    e5 = cash + a * 0.99 * 1.03 + b * 0.98 * 1.10 + c * 0.95
    np.testing.assert_allclose(res["equity"][0], [1.0, 0.990, e2, e3, e4, e5], atol=1e-12)
    assert res["max_drawdown"][0] == pytest.approx(min(e2, e3, e4, e5) - 1.0, abs=1e-12)


def test_overlay_states_hysteresis_and_cooloff() -> None:
    sig = np.array([[0.5, 2.5, 2.5, 0.4, 0.4, 0.4, 3.0, 3.0]])
    st_ = overlay_states(sig, False, 10 ** 6, threshold=2.0, exit_threshold=1.0, cooloff=2)
    # on at t1; below exit at t3 (2 sessions on: may switch off); on again at t6 only after cool-off
    assert st_[0].tolist() == [False, True, True, False, False, False, True, True]


def test_loss_distribution_by_hand() -> None:
    q = loss_distribution(np.arange(-10, 10) / 100.0)    # 20 paths: -0.10 .. 0.09
    assert q["worst"] == -0.10 and q["expected_shortfall_5"] == -0.10      # worst 1 of 20
    assert q["mean"] == pytest.approx(-0.005) and q["paths"] == 20


# --------------------------------------------------------------------------- generator
def small_spec(n: int = 30, b: int = 10) -> PathSpec:
    rng = np.random.default_rng(1)
    return PathSpec(beta=rng.uniform(0.6, 1.8, n), junk=np.r_[rng.uniform(0.5, 2.0, b), rng.uniform(-0.2, 0.4, n - b)],
                    mom=rng.uniform(-2, 2, n), other=np.zeros((n, 0)),
                    factor_vol=np.array([0.009, 0.006, 0.002]), resid_vol=rng.uniform(0.01, 0.03, n),
                    cap_w=np.full(n, 1.0 / n), basket=np.arange(b), crowd_p=np.full(b, 1.0 / b))


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(2, 30),
       st.floats(-0.1, 0.1), st.sampled_from(["offsets", "loses", "flat"]), st.integers(0, 10 ** 6))
def test_a_bigger_size_never_lowers_the_basket_rally(s1, s2, breadth, length, drift, mom, seed) -> None:
    lo, hi = sorted((s1, s2))
    spec = small_spec()
    a = generate_paths(spec, np.arange(3), seed, lo, length, breadth, drift, mom)
    b = generate_paths(spec, np.arange(3), seed, hi, length, breadth, drift, mom)
    assert (b["basket_total"] >= a["basket_total"] - 1e-9).all()
    if breadth > 0:   # single-name squeezes make the basket hit its size (or more, never less)
        assert (a["basket_total"] >= lo - 1e-9).all()
        squeezed = a["squeeze"] > 0
        np.testing.assert_allclose(a["basket_total"][squeezed], lo, atol=1e-9)


def test_dials_hit_their_targets_and_paths_are_their_own(tmp_path) -> None:
    spec = small_spec()
    g = generate_paths(spec, np.arange(6), 7, 0.25, 10, 0.3, -0.02, "loses")
    np.testing.assert_allclose(g["basket_total"], 0.25, atol=1e-9)
    np.testing.assert_allclose(g["index_total"], -0.02, atol=1e-6)
    assert (g["rippers"][:, spec.basket].sum(axis=1) == 3).all()
    assert not g["rippers"][:, 10:].any()
    one = generate_paths(spec, np.array([4]), 7, 0.25, 10, 0.3, -0.02, "loses")
    np.testing.assert_array_equal(one["returns"][0], g["returns"][4])   # chunking-invariant


# --------------------------------------------------------------------------- on a market
@pytest.fixture(scope="module")
def market_and_config():
    from squeeze_lab.pipeline.config import (
        apply_overrides,
        load_config_file,
        load_market,
        resolve_config,
    )

    raw = load_config_file(DEFAULT)
    raw.pop("study")
    raw = apply_overrides(raw, ["data.n_names=100", "book.names_per_leg=20", "book.max_weight=0.1",
                                'data.start="2024-01-02"'])
    config = resolve_config(raw)
    return load_market(config["data"]), config


def test_replay_matches_the_market_by_hand(market_and_config) -> None:
    market, config = market_and_config
    rep = S.build_stress(config, market, asof="2026-03-31", episodes=["jan_2026"])
    e = rep["replay"]["jan_2026"]
    w, _ = S.book_at(market, config, market.dates[-1])
    close = market.close.loc["2025-12-31":"2026-01-30"]
    growth = (close.iloc[-1] / close.iloc[0]).to_numpy()
    net = w.sum(axis=0)
    held = net != 0
    assert e["pnl"] == pytest.approx(float((net[held] * (growth[held] - 1)).sum()), abs=1e-12)
    legs = e["without_overlay"]["legs"]
    assert legs["long"] + legs["short"] + legs["hedge"] == pytest.approx(e["pnl"], abs=1e-12)
    assert e["max_drawdown"] <= min(0.0, e["pnl"])
    assert e["fallback_names"] == 0 and len(e["without_overlay"]["path"]) == e["sessions"] + 1


def test_dask_gives_the_same_numbers_as_local(market_and_config) -> None:
    from squeeze_lab.pipeline.sweep_executors import dask_client

    market, config = market_and_config
    local = S.build_stress(config, market, synthetic=150, seed=3, grid_paths=0)
    with dask_client(1) as client:
        remote = S.build_stress(config, market, synthetic=150, seed=3, grid_paths=0,
                                runner=S.dask_runner(client))
    a, b = local["synthetic"], remote["synthetic"]
    np.testing.assert_array_equal(a["pnl_without_overlay"], b["pnl_without_overlay"])
    np.testing.assert_array_equal(a["pnl_with_overlay"], b["pnl_with_overlay"])
    assert a["quantiles"] == b["quantiles"]


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stress")
    outs = []
    for k in range(2):
        out = tmp / f"o{k}"
        assert run_backtest.main(["stress", DEFAULT, "--episodes", "jan_2026,jun_jul_2025",
                                  "--synthetic", "120", "--grid-paths", "20", "--out", str(out),
                                  *SMALL]) == 0
        outs.append(out)
    return outs


def test_stress_json_contract_and_bytes(cli_run) -> None:
    a, b = cli_run
    assert (a / "stress.json").read_bytes() == (b / "stress.json").read_bytes()
    r = json.loads((a / "stress.json").read_text())
    assert set(r["replay"]) == {"jan_2026", "jun_jul_2025"}
    for e in r["replay"].values():
        assert isinstance(e["pnl"], float) and isinstance(e["max_drawdown"], float)
    q = r["synthetic"]["quantiles"]
    assert {"without_overlay", "with_overlay"} <= set(q)
    assert q["without_overlay"]["p5"] <= q["without_overlay"]["p50"]
    assert len(r["synthetic"]["grid"]) == len(S.GRID_SIZES) * len(S.GRID_BREADTHS)
    html = (a / "stress.html").read_text()
    assert "SYNTHETIC" in html and "data:image/png" in html


@pytest.mark.parametrize("args,words", [
    (["--episodes", "nope"], "unknown episode"),
    ([], "nothing to stress"),
    (["--synthetic", "10", "--size", "9"], "outside"),
    (["--synthetic", "10", "--breadth", "1.5"], "outside"),
    (["--episodes", "jun_jul_2025", "--start", "2025-09-01"], "not inside the data"),
    (["--episodes", "jan_2026", "--asof", "2026/01/05"], "not YYYY-MM-DD"),
    (["--episodes", "jan_2026", "--book", "/nonexistent.csv"], "book file"),
    (["--synthetic", "10", "--scheduler", "tcp://x:1"], "needs --executor dask"),
])
def test_stress_bad_input_one_line_exit_2(tmp_path, capsys, args, words) -> None:
    code = run_backtest.main(["stress", DEFAULT, *SMALL, "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_replay_falls_back_to_the_factor_model_for_a_name_listed_later(market_and_config) -> None:
    from dataclasses import replace

    from squeeze_lab.feeds.episodes import EPISODES
    from squeeze_lab.feeds.squeeze_paths import factor_returns, fit_factor_model

    market, config = market_and_config
    name = market.tickers[3]
    late = market.dates < "2025-09-01"        # listed only after the summer episode
    frames = {f: getattr(market, f).copy() for f in ("open", "high", "low", "close", "volume")}
    for f in frames.values():
        f.loc[late, name] = np.nan
    m = replace(market, **frames)
    w = np.zeros((3, m.n_names))
    w[0, 3] = 0.4
    w[1, 5] = -0.3                            # a name that traded through the window
    ov = S.overlay_setup(config)
    model = fit_factor_model(m, m.dates[-1])
    sig = np.full(len(m.dates), np.nan)
    e = S.replay_episode(m, config, w, EPISODES["jun_jul_2025"], model, sig, ov)
    assert e["names"][str(name)].startswith("factor model:") and e["names"][str(m.tickers[5])] == "actual"
    rows = np.flatnonzero((m.dates >= "2025-06-02") & (m.dates <= "2025-07-31"))
    fx, _ = factor_returns(m)
    fb = fx.to_numpy()[rows] @ model.loadings[3]
    close = m.close.iloc[:, 5].to_numpy()
    actual = close[rows[-1]] / close[rows[0] - 1] - 1.0
    expected = 0.4 * (np.prod(1 + fb) - 1) - 0.3 * actual
    assert e["pnl"] == pytest.approx(expected, abs=1e-12)
    assert e["fallback_names"] == 1


def test_user_episode_spec_is_replayed(market_and_config) -> None:
    market, config = market_and_config
    rep = S.build_stress(config, market, asof="2025-09-30", episodes=["oct:2025-10-01:2025-10-31"])
    e = rep["replay"]["oct"]
    assert e["sessions"] == 23 and e["description"] == "user-defined"
