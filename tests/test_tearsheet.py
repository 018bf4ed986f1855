"""Tearsheet, comparison and sweep pages rendered from run folders written by ``write_run``.

The fixtures are synthetic but shaped like a real run: a year of daily equity with a book that
earns a little, then loses in the two episode windows while the most-shorted basket rallies; leg
PnL, exposures, a junk-rally signal and overlay decisions; metrics.json in the analyzers' schema.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from squeeze_lab.feeds.errors import SqueezeLabError
from squeeze_lab.tearsheet.render import (
    comparison_table,
    config_diff,
    fmt_value,
    render_comparison,
    render_sweep,
    render_tearsheet,
)
from squeeze_lab.tearsheet.rundir import RunArtifacts, read_run, write_run

EPISODES = {"jun_jul_2025": ("2025-06-02", "2025-07-31"), "jan_2026": ("2026-01-02", "2026-01-30")}


def base_config(**changes: dict) -> dict:
    cfg = {
        "name": "crowded_book",
        "data": {"source": "scenario", "seed": 7, "n_names": 120, "start": "2025-03-03",
                 "end": "2026-03-31"},
        "book": {"gross": 2.0, "net": 0.0, "n_long": 30, "n_short": 30, "rebalance": "W-FRI",
                 "weighting": "equal"},
        "overlay": {"enabled": True, "threshold": 1.5, "lookback": 10,
                    "actions": ["degross", "cover_crowded"], "degross_to": 0.5},
        "execution": {"commission_bps": 1.0, "slippage_bps": 2.0, "borrow_bps": 50.0},
        "analysis": {"episodes": [], "top_n": 5, "top_k": 3, "reconcile": True},
    }
    for sec, kv in changes.items():
        if isinstance(kv, dict):
            cfg[sec] = {**cfg[sec], **kv}
        else:
            cfg[sec] = kv
    return cfg


def make_artifacts(seed: int = 0, synthetic: bool = True, config: dict | None = None,
                   baskets: bool = True, shock: float = 1.0) -> RunArtifacts:
    """A run's artifacts: ~280 sessions with episode losses driven by the short leg."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2025-03-03", "2026-03-31", name="date")
    n = len(dates)
    in_ep = np.zeros(n, bool)
    for start, end in EPISODES.values():
        in_ep |= (dates >= start) & (dates <= end)
    index_r = rng.normal(0.0004, 0.009, n)
    growth_r = index_r * 1.2 + rng.normal(0, 0.004, n)
    shorted_r = index_r * 1.5 + rng.normal(0, 0.012, n) + np.where(in_ep, 0.008, -0.0005)
    unprof_r = index_r * 1.4 + rng.normal(0, 0.011, n) + np.where(in_ep, 0.005, -0.0003)
    for r in (index_r, growth_r, shorted_r, unprof_r):
        r[0] = 0.0
    v0 = 1_000_000.0
    long_r = 0.0003 + rng.normal(0, 0.004, n)
    short_r = 0.0002 + rng.normal(0, 0.004, n) - np.where(in_ep, 0.0045 * shock, 0.0)
    hedge_r = np.where(in_ep, 0.0004, 0.0)
    cost_r = -np.full(n, 0.00004)
    ret = long_r + short_r + hedge_r + cost_r
    ret[0] = 0.0
    equity = v0 * np.cumprod(1 + ret)
    prev = np.r_[v0, equity[:-1]]
    pnl = {k: r * prev for k, r in (("pnl_long", long_r), ("pnl_short", short_r),
                                    ("pnl_hedge", hedge_r), ("pnl_costs", cost_r))}
    for v in pnl.values():
        v[0] = 0.0
    on = np.zeros(n)
    for start, _end in EPISODES.values():
        i = int(np.searchsorted(dates, pd.Timestamp(start)))
        on[i + 5: i + 20] = 1.0
    signal = pd.Series(np.where(in_ep, 2.0, 0.0) + rng.normal(0, 0.4, n), index=dates)
    signal = signal.rolling(5, min_periods=1).mean().to_numpy()
    scale = np.where(on > 0, 0.5, 1.0)
    long_v = equity * 1.0 * scale
    short_v = -equity * 1.0 * scale
    hedge_v = np.where(on > 0, equity * 0.1, 0.0)
    eq = pd.DataFrame({
        "equity": equity, "returns": ret, "cash": equity - long_v - short_v - hedge_v,
        "long_value": long_v, "short_value": short_v, "hedge_value": hedge_v,
        "gross": (long_v - short_v + hedge_v) / equity, "net": (long_v + short_v + hedge_v) / equity,
        "beta_net": 0.05 + rng.normal(0, 0.03, n), "drawdown": equity / np.maximum.accumulate(equity) - 1,
        **pnl,
        "index": index_r, "growth": growth_r, "most_shorted": shorted_r,
        "unprofitable_tech": unprof_r, "junk_signal": signal, "overlay_on": on.astype(int),
    }, index=dates)
    if not baskets:
        eq = eq.drop(columns=["growth", "most_shorted", "unprofitable_tech"])
    tickers = [f"T{i:03d}" for i in range(8)]
    trades = pd.DataFrame({
        "date": np.repeat(dates[[1, 60, 200]], 4),
        "ticker": tickers[:4] * 3,
        "size": rng.integers(-500, 500, 12).astype(float),
        "price": rng.uniform(5, 80, 12).round(2),
        "commission": rng.uniform(0.5, 3, 12).round(4),
        "leg": ["long", "short", "long", "short"] * 3,
    })
    positions = pd.DataFrame(rng.integers(-1000, 1000, (n, len(tickers))).astype(float),
                             index=dates, columns=tickers)
    log_dates = [dates[int(np.searchsorted(dates, pd.Timestamp(s))) + k]
                 for s, _ in EPISODES.values() for k in (5, 20)]
    overlay_log = pd.DataFrame({
        "date": log_dates, "signal": [2.1, 0.4, 2.3, 0.3],
        "action": ["degross", "re-risk", "degross", "re-risk"], "size": [0.5, 1.0, 0.5, 1.0],
        "detail": ["gross 2.0 -> 1.0", "cool-off over", "gross 2.0 -> 1.0", "cool-off over"],
    })
    metrics = make_metrics(eq, seed)
    prov = {"source": "scenario" if synthetic else "csv", "synthetic": synthetic, "seed": 7 if synthetic else None,
            "market_hash": f"abc{seed:05d}deadbeef", "start": "2025-03-03", "end": "2026-03-31",
            "n_names": 120, "versions": {"python": "3.11", "backtrader": "1.9.78.123"},
            "command": "squeeze-lab run configs/default.toml",
            "notes": ["attributes are today's values, not point-in-time"] if synthetic else []}
    return RunArtifacts(config or base_config(), prov, metrics, eq, trades, positions, overlay_log)


def _entry(eq: pd.DataFrame, name: str, start: str, end: str, k: int) -> dict:
    w = eq.loc[start:end]
    base = float(eq["equity"].loc[:pd.Timestamp(start) - pd.Timedelta(days=1)].iloc[-1])
    legs = {leg: float(w[f"pnl_{leg}"].sum() / base) for leg in ("long", "short", "hedge")}
    legs.update({"commission": float(w["pnl_costs"].sum() / base) * 0.6,
                 "borrow": float(w["pnl_costs"].sum() / base) * 0.4,
                 "costs": float(w["pnl_costs"].sum() / base), "residual": 0.0})
    legs["total"] = legs["long"] + legs["short"] + legs["hedge"] + legs["costs"]
    trough = w["drawdown"].idxmin().strftime("%Y-%m-%d")
    return {
        "name": name, "kind": "named", "description": f"{name} junk rally", "start": start,
        "end": end, "first_session": w.index[0].strftime("%Y-%m-%d"),
        "last_session": w.index[-1].strftime("%Y-%m-%d"), "sessions": len(w), "truncated": False,
        "base_date": "2025-05-30", "return": float(w["equity"].iloc[-1] / base - 1),
        "max_drawdown_in_window": float(w["drawdown"].min()) - 0.001 * k,
        "peak_date": start, "peak_in_window": True, "trough_date": trough,
        "depth": float(w["drawdown"].min()), "peak_to_trough_sessions": 12 + k,
        "peak_to_trough_days": 17 + k, "recovered": False, "recovery_date": None,
        "trough_to_recovery_sessions": None, "legs": legs,
        "drawdown_legs": {**legs, "short": legs["short"] * 1.1},
        "factors": {"contribution": {"market": 0.001, "junk": -0.031, "momentum": 0.004,
                                     "quality": -0.002}, "specific": -0.006,
                    "betas": {"market": 0.05, "junk": -0.42, "momentum": 0.3, "quality": 0.2},
                    "r2": 0.61},
        "reference_returns": {"index": -0.007, "growth": -0.012, "most_shorted": 0.183 - 0.01 * k,
                              "unprofitable_tech": 0.12},
    }


def _top_names(k: int) -> dict:
    det = [{"ticker": f"T00{j}", "pnl": -4000.0 / (j + 1), "contribution": -0.004 / (j + 1),
            "leg": "short", "sector": "Technology", "short_interest": 0.31 - 0.02 * j,
            "days_to_cover": 6.5, "profitable": False, "beta": 1.9, "is_tech": True}
           for j in range(3)]
    con = [{"ticker": f"T10{j}", "pnl": 2500.0, "contribution": 0.0025, "leg": "long",
            "sector": "Utilities", "short_interest": 0.02, "days_to_cover": 1.1,
            "profitable": True, "beta": 0.7, "is_tech": False} for j in range(2)]
    return {"detractors": det, "contributors": con}


def _factors(k: int) -> dict:
    return {"n_obs": 20 + k, "factors": ["market", "junk", "momentum", "quality"],
            "betas": {"market": 0.05, "junk": -0.42, "momentum": 0.3, "quality": 0.2},
            "alpha": -0.0003, "r2": 0.61,
            "factor_returns": {"market": 0.01, "junk": 0.07, "momentum": 0.01, "quality": -0.01},
            "contribution": {"market": 0.001, "junk": -0.031, "momentum": 0.004, "quality": -0.002},
            "specific": -0.006, "sum_return": -0.034, "window_return": -0.0335}


def _exposure_summary(scale: float) -> dict:
    cols = {"gross_exposure": 1.61 * scale, "net_exposure": 0.02, "long_exposure": 0.8 * scale,
            "short_exposure": -0.8 * scale, "beta_net_exposure": 0.05, "hedge_exposure": 0.01,
            "gross": 1.61e6, "net": 2e4, "hedge_gross": 1e4, "n_long": 30.0, "n_short": 29.5,
            "n_hedge": 0.0, "turnover": 0.021}
    return {c: {"mean": v, "max": v * 1.1, "min": v * 0.9, "at_start": v, "at_end": v * 0.95}
            for c, v in cols.items()}


def make_metrics(eq: pd.DataFrame, seed: int) -> dict:
    """metrics.json in the schema analyzers/report.py documents (hand-built, stable values)."""
    named = {n: _entry(eq, n, s, e, k) for k, (n, (s, e)) in enumerate(EPISODES.items())}
    detected = [{**_entry(eq, "junk_rally_2025-09", "2025-09-01", "2025-09-19", 2),
                 "kind": "junk_rally", "description": "detected junk-rally spell"}]
    legs = {"base_equity": 1e6, "pnl": {"long": 1.0}, "contribution": {
        "long": 0.05, "short": -0.12, "hedge": 0.001, "commission": -0.002, "borrow": -0.001,
        "costs": -0.003, "total": -0.072, "residual": 0.0}}
    windows = [*named, "junk_rally_2025-09"]
    return {
        "performance": {"start": "2025-03-04", "end": "2026-03-31", "n_days": len(eq) - 1,
                        "cumulative_return": float(eq["equity"].iloc[-1] / eq["equity"].iloc[0] - 1),
                        "annual_return": 0.0412 + seed * 1e-4, "annual_volatility": 0.0731,
                        "sharpe_ratio": 0.5617 + seed * 0.1, "sortino_ratio": 0.81,
                        "calmar_ratio": 0.71, "max_drawdown": float(eq["drawdown"].min()),
                        "tail_ratio": 0.98, "stability": 0.12, "value_at_risk": -0.0071,
                        "conditional_value_at_risk": -0.0102, "hit_rate": 0.52,
                        "benchmark": "index", "alpha": 0.031, "beta": 0.04,
                        "hit_rate_vs_benchmark": 0.49, "up_market_hit_rate": 0.41,
                        "down_market_hit_rate": 0.58},
        "episodes": {"named": named, "detected": detected,
                     "skipped": [{"name": "gfc", "start": "2008-09-01", "end": "2008-10-31",
                                  "reason": "no session in the data"}],
                     "detection": {"enabled": True, "signal": "default",
                                   "signal_description": "most_shorted minus index, 10 sessions",
                                   "threshold": 0.1, "lookback": 9, "top_drawdowns": 5}},
        "drawdowns": {"max_drawdown": float(eq["drawdown"].min()), "current_drawdown": -0.041,
                      "n_periods": 7, "table": [
                          {"peak_date": "2025-05-30", "valley_date": "2025-07-31",
                           "recovery_date": "2025-10-15", "drawdown": -0.0512, "duration": 98,
                           "peak_to_valley_sessions": 44, "sessions": 99, "recovered": True},
                          {"peak_date": "2025-12-31", "valley_date": "2026-01-21",
                           "recovery_date": None, "drawdown": -0.0371, "duration": None,
                           "peak_to_valley_sessions": 13, "sessions": 40, "recovered": False}]},
        "attribution": {"factor_source": "factors", "max_abs_residual": 1.2e-9,
                        "overall": {"legs": legs, "top_names": _top_names(9), "factors": _factors(200)},
                        "episodes": {n: {"legs": legs, "top_names": _top_names(k),
                                         "factors": _factors(k)} for k, n in enumerate(windows)}},
        "exposures": {"columns": list(_exposure_summary(1.0)), "overall": _exposure_summary(1.0),
                      "episodes": {n: _exposure_summary(0.7) for n in windows}},
        "overlay": {"n_decisions": 4, "first_date": "2025-06-09", "last_date": "2026-01-30",
                    "actions": {"degross": 2, "re-risk": 2},
                    "episodes": {n: {"n_decisions": 2, "first_date": "2025-06-09",
                                     "first_action": "degross", "sessions_to_first": 5,
                                     "actions": {"degross": 1, "re-risk": 1}} for n in windows}},
        "reconciliation": {"engines": ["backtrader", "vectorized"], "max_rel_diff": 3.1e-12,
                           "worst_date": "2025-07-01",
                           "final_value": {"backtrader": 912345.67, "vectorized": 912345.67},
                           "tolerance": 1e-9, "ok": True},
    }


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return write_run(out, "crowded_book", make_artifacts(), render=render_tearsheet)


class _Doc(HTMLParser):
    """Collects tags with their attributes (enough to check links, images and classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def parse(html: str) -> list[tuple[str, dict[str, str]]]:
    doc = _Doc()
    doc.feed(html)
    return doc.tags


def assert_self_contained(html: str) -> None:
    tags = parse(html)
    for tag, attrs in tags:
        for attr in ("src", "href", "data", "action"):
            val = attrs.get(attr, "")
            assert not re.match(r"\s*(https?:)?//", val), (tag, attr, val[:80])
            if tag == "img" and attr == "src":
                assert val.startswith("data:image/png;base64,"), val[:40]
        assert tag not in ("link", "iframe", "object"), tag
        assert not (tag == "script" and attrs.get("src")), attrs
    assert "@import" not in html and "url(http" not in html


def images(html: str) -> list[bytes]:
    return [base64.b64decode(a["src"].split(",", 1)[1]) for t, a in parse(html) if t == "img"]


def test_tearsheet_written_by_write_run_and_self_contained(run_folder: Path) -> None:
    run = read_run(run_folder)  # complete folder: tearsheet.html was rendered before the rename
    html = (run.path / "tearsheet.html").read_text()
    assert_self_contained(html)
    imgs = images(html)
    assert len(imgs) == 5, "equity, underwater, beta/exposures, leg PnL, overlay"
    for png in imgs:
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "not shown" not in html


def test_tearsheet_header_and_banner(run_folder: Path) -> None:
    html = (run_folder / "tearsheet.html").read_text()
    assert 'id="synthetic-banner"' in html and "SYNTHETIC DATA" in html
    assert "attributes are today&#39;s values, not point-in-time" in html
    for text in ("crowded_book", "abc00000deadbeef", "2025-03-03", "2026-03-31", "scenario",
                 "squeeze-lab run configs/default.toml"):
        assert text in html, text
    # key parameters from config.json
    assert "degross_to" in html and "commission_bps" in html and "[degross, cover_crowded]" in html


def test_no_banner_for_real_data(tmp_path: Path) -> None:
    folder = write_run(tmp_path, "real", make_artifacts(synthetic=False, baskets=False),
                       render=render_tearsheet)
    html = (folder / "tearsheet.html").read_text()
    assert "SYNTHETIC" not in html and "synthetic-banner" not in html
    assert_self_contained(html)
    # no baskets: the equity figure still renders (book vs index), nothing crashes
    assert len(images(html)) == 5


def test_tearsheet_tables_show_metrics(run_folder: Path) -> None:
    run = read_run(run_folder)
    html = (run_folder / "tearsheet.html").read_text()
    m = run.metrics
    named = sorted(m["episodes"]["named"].values(), key=lambda e: e["start"])
    entries = [*named, *m["episodes"]["detected"]]  # shown in time order, named first
    def rows_of(caption: str) -> dict[str, list[str]]:
        table = re.search(rf"<caption>{caption}</caption>(.*?)</table>", html, re.S)
        assert table, caption
        rows = re.findall(r"<tr[^>]*><td class=\"key\">([^<]+)</td>(.*?)</tr>", table.group(1))
        return {k: re.findall(r"<td[^>]*>([^<]*)</td>", v) for k, v in rows}

    main, by_leg = rows_of("Episode drawdowns"), rows_of("Window return by leg")
    assert list(main) == [e["name"] for e in entries]
    for ep in entries:
        cells = main[ep["name"]]
        assert cells[:3] == [ep["kind"], ep["start"], ep["end"]]
        for text in (fmt_value("return", ep["return"]), fmt_value("depth", ep["depth"]),
                     ep["peak_date"], ep["trough_date"], str(ep["sessions"]),
                     fmt_value("max_drawdown_in_window", ep["max_drawdown_in_window"])):
            assert text in cells, (ep["name"], text, cells)
        assert by_leg[ep["name"]] == [fmt_value("x", ep["legs"][k], "spct") for k in
                                      ("long", "short", "hedge", "commission", "borrow", "costs",
                                       "total", "residual")]
        assert f"{ep['name']}: top detractors" in html
    assert "+17.30%" in html  # most-shorted basket in jun_jul_2025's reference row
    perf = m["performance"]
    assert f"<td class=\"key\">Sharpe ratio</td><td class=\"num\">{perf['sharpe_ratio']:.2f}</td>" in html
    assert f"{perf['annual_return'] * 100:+.2f}%" in html
    assert f"{perf['annual_volatility'] * 100:.2f}%" in html
    for dd in m["drawdowns"]["table"]:
        assert fmt_value("drawdown", dd["drawdown"]) in html and dd["valley_date"] in html
    assert "not recovered" in html
    assert "Factor attribution" in html and "-3.10%" in html  # junk factor contribution
    assert "-0.42" in html  # junk beta
    assert "Average exposures" in html and "161.00%" in html and "112.70%" in html
    assert "T000" in html and "31.00%" in html and "6.50" in html  # detractor attributes
    assert "Overlay decisions" in html and "cool-off over" in html and "degross \u00d72" in html
    assert "3.10e-12" in html and "912,345.67" in html
    assert "{&#39;" not in html and "{'" not in html  # no raw dict dumps
    assert ">nan<" not in html.lower() and ">none<" not in html.lower()


def test_tearsheet_byte_identical(run_folder: Path, tmp_path: Path) -> None:
    a = render_tearsheet(run_folder, tmp_path / "a.html").read_bytes()
    b = render_tearsheet(run_folder, tmp_path / "b.html").read_bytes()
    assert a == b
    assert a == (run_folder / "tearsheet.html").read_bytes()


def test_tearsheet_skips_missing_columns_with_note(tmp_path: Path) -> None:
    art = make_artifacts()
    art.equity = art.equity[["equity"]]
    art.overlay_log = art.overlay_log.iloc[0:0]
    folder = write_run(tmp_path, "bare", art, render=render_tearsheet)
    html = (folder / "tearsheet.html").read_text()
    assert len(images(html)) == 2  # equity and underwater only
    assert html.count('class="missing"') == 3
    assert "no pnl_* columns" in html


def test_tearsheet_of_a_tiny_run_with_empty_metrics(tmp_path: Path) -> None:
    art = make_artifacts()
    art.equity = art.equity.iloc[:3][["equity"]]
    art.metrics = {}
    art.overlay_log = art.overlay_log.iloc[0:0]
    folder = write_run(tmp_path, "tiny", art, render=render_tearsheet)
    html = (folder / "tearsheet.html").read_text()
    assert_self_contained(html)
    assert len(images(html)) == 2 and html.count('class="missing"') == 3
    assert "Episode drawdowns" not in html


def test_fmt_value_formats() -> None:
    assert fmt_value("max_drawdown", -0.0512) == "-5.12%"
    assert fmt_value("window_return", 0.183) == "+18.30%"
    assert fmt_value("annual_volatility", 0.0731) == "7.30%" or fmt_value("annual_volatility", 0.0731) == "7.31%"
    assert fmt_value("sharpe", 1.23456) == "1.23"
    assert fmt_value("days", 13) == "13"
    assert fmt_value("recovery", None) == "\u2014"
    assert fmt_value("final_value", 1234567.8) == "1,234,568"
    assert fmt_value("days_to_cover", 6.54) == "6.54"


def test_comparison_highlights_differing_parameters(tmp_path: Path) -> None:
    a = write_run(tmp_path, "book", make_artifacts(seed=0, config=base_config(overlay={"enabled": False})),
                  render=render_tearsheet)
    b = write_run(tmp_path, "degross", make_artifacts(seed=1, shock=0.5, config=base_config(
        name="degross", overlay={"threshold": 2.0}, execution={"commission_bps": 2.0})),
        render=render_tearsheet)
    diff = config_diff([read_run(a).config, read_run(b).config])
    assert set(diff) == {"name", "overlay.enabled", "overlay.threshold", "execution.commission_bps"}
    out = render_comparison([a, b], tmp_path / "cmp" / "comparison.html")
    html = out.read_text()
    assert_self_contained(html)
    highlighted = re.findall(r'<tr class="diff"><td class="key">([^<]+)</td>', html)
    assert sorted(highlighted) == sorted(diff)
    assert "book.gross" not in html  # equal keys are not listed
    assert len(images(html)) == 2  # trade-off bars + overlaid equity and underwater
    for folder in (a, b):
        assert folder.name in html
        sharpe = read_run(folder).metrics["performance"]["sharpe_ratio"]
        assert f"{sharpe:.2f}" in html
    assert "jun_jul_2025" in html and "jan_2026" in html
    rows = comparison_table([a, b])
    assert all(r.keys() == {"key", "label", "kind", "values", "text"} for r in rows)
    sharpe_row = next(r for r in rows if r["key"] == "sharpe_ratio")
    perf = [read_run(f).metrics["performance"] for f in (a, b)]
    assert sharpe_row["values"] == [p["sharpe_ratio"] for p in perf]
    assert sharpe_row["text"] == [f"{p['sharpe_ratio']:.2f}" for p in perf]
    assert sharpe_row["kind"] == "num" and sharpe_row["label"] == "Sharpe ratio"
    dd = next(r for r in rows if r["key"] == "episodes.jan_2026.max_drawdown_in_window")
    assert dd["kind"] == "pct" and dd["label"] == "jan_2026: max DD in window"
    assert dd["text"][0] == fmt_value("x", dd["values"][0], "spct")
    assert next(r for r in rows if r["key"] == "start")["kind"] == "text"
    assert render_comparison([a, b], tmp_path / "c2.html").read_bytes() == out.read_bytes()


def test_comparison_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SqueezeLabError, match="run folder"):
        render_comparison([tmp_path / "nope"], tmp_path / "x.html")
    with pytest.raises(SqueezeLabError, match="at least one"):
        render_comparison([], tmp_path / "x.html")


def make_sweep(path: Path, extra_axis: bool = False) -> Path:
    """A sweep folder like pipeline.sweep writes: sweep.csv (point, grid keys, metrics) and
    sweep.json (base config, grid, market provenance)."""
    rows = []
    book = (1.0, 2.0) if extra_axis else (2.0,)
    for g in book:
        for th in (1.0, 1.5, 2.0):
            for lb in (5, 10, 20):
                row = {"point": len(rows), "overlay.threshold": th, "overlay.lookback": lb,
                       "sharpe_ratio": 0.3 + 0.1 * th - 0.005 * lb,
                       "max_drawdown": -0.08 + 0.01 * th,
                       "jan_2026.max_drawdown_in_window": -0.04 + 0.004 * th + 0.0005 * lb * g / 2}
                if extra_axis:
                    row = {"point": row["point"], "book.gross": g, **row}
                rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    grid = [["overlay.threshold", [1.0, 1.5, 2.0]], ["overlay.lookback", [5, 10, 20]]]
    if extra_axis:
        grid.insert(0, ["book.gross", list(book)])
    (path.parent / "sweep.json").write_text(json.dumps({
        "base": base_config(), "grid": grid, "engine": "vectorized", "n_points": len(rows),
        "market": {"source": "scenario", "synthetic": True, "seed": 7, "market_hash": "cafe1234",
                   "start": "2025-03-03", "end": "2026-03-31", "n_names": 120,
                   "notes": ["attributes are today's values, not point-in-time"]}}))
    return path


def test_sweep_page_has_heatmaps(tmp_path: Path) -> None:
    csv = make_sweep(tmp_path / "sweep.csv")
    metrics = ["jan_2026.max_drawdown_in_window", "sharpe_ratio"]
    out = render_sweep(csv, tmp_path / "sweep.html", x="overlay.threshold", y="overlay.lookback",
                       metrics=metrics)
    html = out.read_text()
    assert_self_contained(html)
    imgs = [a for t, a in parse(html) if t == "img"]
    assert [a["alt"] for a in imgs] == [f"Heatmap of {m}" for m in metrics]
    for png in images(html):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert 'id="synthetic-banner"' in html and "cafe1234" in html
    table = re.search(r'<div class="tablewrap" id="points">(.*?)</table>', html, re.S).group(1)
    body = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(body) == 9
    first = re.findall(r"<td[^>]*>([^<]*)</td>", body[1])  # point 1: th=1.0, lb=10
    assert first == ["1", "1", "10", "0.35", "-7.00%", "-3.10%"]  # parameters as given
    again = render_sweep(csv, tmp_path / "s2.html", x="overlay.threshold", y="overlay.lookback",
                         metrics=metrics)
    assert again.read_bytes() == out.read_bytes()
    with pytest.raises(SqueezeLabError, match="overlay.nope"):
        render_sweep(csv, tmp_path / "s3.html", x="overlay.nope", y="overlay.lookback",
                     metrics=["sharpe_ratio"])


def test_sweep_page_averages_other_axes_and_handles_one_axis(tmp_path: Path) -> None:
    csv = make_sweep(tmp_path / "sweep.csv", extra_axis=True)
    html = render_sweep(csv, tmp_path / "a.html", x="overlay.threshold", y="overlay.lookback",
                        metrics=["jan_2026.max_drawdown_in_window"]).read_text()
    assert "each cell is the mean of 2 points over book.gross" in html
    one = render_sweep(csv, tmp_path / "b.html", x="book.gross", y="book.gross",
                       metrics=["sharpe_ratio"]).read_text()
    assert len(images(one)) == 1 and "each cell is the mean of 9 points" in one


def test_margin_calls_are_tabled_and_marked(run_folder: Path, tmp_path: Path) -> None:
    """A run whose account limits acted (margin_calls.csv): a table and the markers' caption."""
    run = read_run(run_folder)
    run.margin_calls = pd.DataFrame({
        "date": pd.to_datetime(["2025-06-20", "2026-01-14"]),
        "fill_date": pd.to_datetime(["2025-06-23", "2026-01-15"]),
        "rule": ["max_leverage", "cash"], "equity": [812345.0, 790000.0],
        "gross": [3.4e6, 1.6e6], "leverage": [4.18, 2.03], "leverage_after": [3.0, 2.0],
        "cash_after": [1.2e6, 4.0e4], "scale": [0.7177, 0.98]})
    html = render_tearsheet(run, tmp_path / "t.html").read_text()
    assert "Margin calls and funding cuts" in html and "margin calls dotted" in html
    assert "2025-06-23" in html and "4.18" in html and "max_leverage" in html
    assert len(images(html)) == 5


def test_comparison_warns_when_runs_are_measured_over_different_periods(tmp_path: Path) -> None:
    a = write_run(tmp_path, "early", make_artifacts(seed=0), render=render_tearsheet)
    late = make_artifacts(seed=1, config=base_config(name="late"))
    late.metrics["performance"].update({"start": "2025-06-02", "invested_from": "2025-06-02",
                                        "warmup": {"start": "2025-03-03", "end": "2025-05-30",
                                                   "sessions": 65}})
    b = write_run(tmp_path, "late", late, render=render_tearsheet)
    html = render_comparison([a, b], tmp_path / "c.html").read_text()
    assert "measured over different periods" in html and "2025-06-02 to 2026-03-31" in html
    assert "Warm-up sessions (not measured)" in html
    same = render_comparison([a, a], tmp_path / "s.html").read_text()
    assert "measured over different periods" not in same
