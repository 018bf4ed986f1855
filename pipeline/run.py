"""One run: market -> targets -> backtrader (+ the twin's check) -> analyzers -> run folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.episodes import Episode, applicable_episodes, resolve_episodes
from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from .config import Config, check_against_market

#: Relative tolerance for the engine-vs-twin equity reconciliation.
RECONCILE_TOL = 1e-9


@dataclass
class RunOutput:
    """What one run computed, before it is written anywhere."""

    config: Config
    market: Market
    result: Any                # strategies.result.BacktestResult (backtrader)
    metrics: dict[str, Any]
    episodes: dict[str, Episode]
    crowding: Any = None       # strategies.signals.CrowdingReport: coverage and the signal's basket


def run_episodes(config: Mapping[str, Any], market: Market) -> dict[str, Episode]:
    """Built-in (when inside the data) plus user episodes; a user episode outside the data is an error."""
    from ..analyzers.episodes import check_episodes_in_range

    analysis = config["analysis"]
    user = resolve_episodes(analysis["episodes"], builtin=False)
    check_episodes_in_range(user, market.dates)
    out: dict[str, Episode] = {}
    if analysis["builtin_episodes"]:
        out.update(applicable_episodes(market.dates, synthetic=market.synthetic))
    out.update(user)
    return out


def reconcile(a: pd.Series, b: pd.Series, tol: float = RECONCILE_TOL) -> dict[str, Any]:
    """Max relative difference of two equity curves on the same dates."""
    if not a.index.equals(b.index):
        raise SqueezeLabError("engines returned different dates: this is a bug, please report it")
    rel = np.abs(a.to_numpy() - b.to_numpy()) / np.abs(b.to_numpy())
    worst = int(np.argmax(rel))
    return {
        "engines": ["backtrader", "vectorized"],
        "max_rel_diff": float(rel[worst]),
        "worst_date": a.index[worst].strftime("%Y-%m-%d"),
        "final_value": {"backtrader": float(a.iloc[-1]), "vectorized": float(b.iloc[-1])},
        "tolerance": tol,
        "ok": bool(rel[worst] <= tol),
    }


def screen_share_granularity(config: Mapping[str, Any], market: Market) -> Market:
    """Real data: names too expensive to size at share granularity are named before any work
    (data.suspicious decides: stop, keep or exclude); the built-in book's typical position is
    cash x min(max_weight, gross / 2 / names per leg)."""
    from ..feeds.panel import screen_granularity
    from ..strategies.execution import SHARE_QUANTUM

    book, ex = config["book"], config["execution"]
    if market.synthetic or book.get("path"):
        return market
    per_leg = book["names_per_leg"] if not book["fraction_per_leg"] else max(
        1, round(book["fraction_per_leg"] * market.n_names))
    weight = min(book["max_weight"], book["gross"] / 2 / per_leg)
    value = ex["cash"] * weight
    sizing = f"{value:,.0f} = execution.cash x {weight:.2%} of equity"
    return screen_granularity(market, value, 1.0 if not ex["fractional"] else SHARE_QUANTUM,
                              config["data"]["suspicious"], sizing)


def borrow_terms(config: Config, market: Market) -> Any:
    """The run's borrow terms (``execution.borrow_model``, ``data.borrow``), checked on the market."""
    from ..feeds.borrow import read_borrow_file
    from ..strategies.borrow import resolve_terms

    ex = config["execution"]
    model = ex["borrow_model"]
    path = str(config["data"]["borrow"] or "")
    if path and model != "file":
        raise SqueezeLabError(f"data.borrow is given but execution.borrow_model is {model!r}: set "
                              "execution.borrow_model = \"file\" to use the file, or drop data.borrow")
    bf = read_borrow_file(path, market.dates, market.tickers) if path else None
    return resolve_terms(model, market, ex["borrow_bps"], bf)


def execute(config: Config, market: Market) -> RunOutput:
    """Run the backtest through backtrader with our analyzers, check it against the twin."""
    from ..analyzers.metrics import Reconciliation, ShortInterest
    from ..analyzers.report import build_metrics, canonical
    from ..strategies.engine import run_backtrader
    from ..strategies.signals import crowding_report
    from ..strategies.twin import run_vectorized

    market = screen_share_granularity(config, market)
    episodes = run_episodes(config, market)
    terms = borrow_terms(config, market)
    analysis = config["analysis"]
    params = {s: config[s] for s in ("book", "overlay", "execution")}
    result, _ = run_backtrader(market, params, borrow=terms)
    metrics = build_metrics(result, market, episodes, top_n=analysis["top_n"],
                            top_k=analysis["top_k"], detect=analysis["detect"])
    if analysis["reconcile"]:
        twin = run_vectorized(market, result.targets, detail=False, borrow=terms,
                              max_net_long=config["overlay"]["max_net_long"], **config["execution"])
        metrics["reconciliation"] = Reconciliation.from_json(
            canonical(reconcile(result.equity, twin.equity)), strict=True).to_json()
    ov = config["overlay"]
    crowd = crowding_report(market, ov["basket_names"], ov["basket_min_cap"])
    metrics["short_interest"] = ShortInterest.from_json(canonical(crowd.to_dict()),
                                                        strict=True).to_json()
    return RunOutput(config, market, result, metrics, episodes, crowd)


def borrow_lines(out: RunOutput) -> list[str]:
    """What the borrow model changed or assumed, one line each (notes; kept under --quiet)."""
    rec = out.result.borrow_record
    lines = [str(n) for n in rec.notes]
    ev = rec.events
    if len(ev):
        kinds = ev["event"].astype(str)
        first = ev.iloc[0]
        lines.append(
            f"borrow: {int((kinds == 'locate_cut').sum())} locate cut(s) and "
            f"{int((kinds == 'recall').sum())} recall(s), {ev['shares_bought_back'].sum():,.0f} "
            f"shares in all (first: {first['ticker']} {first['event']} at the "
            f"{first['date']:%Y-%m-%d} close, {first['shares_wanted']:,.0f} short wanted, "
            f"{first['shares_available']:,.0f} available, bought back at the "
            f"{first['fill_date']:%Y-%m-%d} open): see borrow_events.csv")
    return lines


def overlay_signal(config: Mapping[str, Any], market: Market) -> pd.Series:
    """The junk-rally signal the overlay watches (with the run's own overlay settings)."""
    from ..strategies.signals import junk_rally_signal

    ov = config["overlay"]
    return junk_rally_signal(market, lookback=ov["signal_lookback"],
                             vol_window=ov["signal_vol_window"], mode=ov["signal_mode"],
                             n_names=ov["basket_names"], min_cap=ov["basket_min_cap"])


def daily_frame(out: RunOutput) -> pd.DataFrame:
    """``equity.csv``: the analyzers' daily table plus reference series and the overlay signal."""
    from ..analyzers.report import daily_table
    from ..strategies.overlay import overlay_state

    daily = daily_table(out.result, out.market)
    ref = out.market.reference
    for name in ("index", "growth", "most_shorted", "unprofitable_tech"):
        if name in ref.columns:
            daily[name] = ref[name].reindex(daily.index).to_numpy()
    daily["junk_signal"] = overlay_signal(out.config, out.market).reindex(daily.index).to_numpy()
    daily["overlay_on"] = overlay_state(out.result.overlay_log, daily.index)
    return daily


def provenance(out: RunOutput, command: str) -> dict[str, Any]:
    """provenance.json: data source, synthetic flag, seed, market hash, versions, command."""
    from .ui import versions

    prov = out.market.provenance()
    notes = [*(prov.get("notes") or []), *borrow_lines(out)]
    prov.update({
        "notes": notes,
        "engine": "backtrader",
        "versions": versions(),
        "command": command,
        "rejected_orders": int(out.result.rejected_orders),
        "episodes": {k: [e.start.strftime("%Y-%m-%d"), e.end.strftime("%Y-%m-%d")]
                     for k, e in out.episodes.items()},
    })
    if out.config["book"].get("path"):
        from ..strategies.own_book import read_book_file

        book = read_book_file(out.config["book"]["path"])
        prov["book_file"] = {"path": book.path, "sha256": book.sha256, "layout": book.layout,
                             "units": book.units, "rebalance_dates": len(book.dates)}
    return prov


def artifacts(out: RunOutput, command: str):
    """Everything the run folder holds, as frames and dicts (see RUN_FOLDER.md)."""
    from ..strategies.overlay import OVERLAY_LOG_COLUMNS
    from ..tearsheet.rundir import RunArtifacts

    log = out.result.overlay_log
    if log is None or log.empty:
        log = pd.DataFrame(columns=list(OVERLAY_LOG_COLUMNS))
    return RunArtifacts(
        config=out.config.to_dict(),
        provenance=provenance(out, command),
        metrics=out.metrics,
        equity=daily_frame(out),
        trades=out.result.trades,
        positions=out.result.shares,
        overlay_log=log,
        margin_calls=out.result.margin_calls,
        borrow=out.result.borrow_record.table(out.result.shares),
        borrow_events=out.result.borrow_record.events,
    )


def run_notes(out: RunOutput) -> list[str]:
    """What the run did differently from what was asked (said even with --quiet)."""
    notes = []
    ov = out.config.overlay
    log = out.result.overlay_log
    if ov["enabled"] and (log is None or len(log) == 0):
        signal = overlay_signal(out.config, out.market)
        peak = float(signal.max()) if signal.notna().any() else float("nan")
        notes.append(f"{out.config.name}: overlay.enabled is true but the overlay never acted: "
                     f"its signal peaked at {peak:.3g}, below overlay.threshold={ov['threshold']:g}"
                     "; lower the threshold to see it act")
    notes.extend(borrow_lines(out))
    notes.extend(episode_lines(out))
    perf = out.metrics.get("performance") or {}
    if (perf.get("n_days") or 0) < SHORT_MEASURED:
        notes.append(f"{out.config.name}: the statistics cover only {perf.get('n_days')} sessions "
                     f"({perf.get('start')}..{perf.get('end')}): annualized figures (annual return, "
                     "volatility, Sharpe, alpha) over so short a period say little; start earlier "
                     "(--start) or shorten the warm-up")
    return notes


#: Fewer measured sessions than this (a quarter) and annualized statistics are noted as thin.
SHORT_MEASURED = 63


def episode_lines(out: RunOutput) -> list[str]:
    """Episodes the run could not measure in full (in the warm-up, cut by the data's ends, or a
    built-in only partly inside the data): without a line they would be missing or shortened in
    the tables without a word."""
    name, eps = out.config["name"], out.metrics.get("episodes") or {}
    fix = ("give a book file that starts earlier" if out.config["book"].get("path") else
           "start earlier (--start) or shorten the warm-up (book.momentum_lookback, "
           "book.vol_window, book.beta_window)")
    lines = [f"{name}: episode {s['name']} ({s['start']}..{s['end']}) is not analyzed: it is "
             f"{s['reason']}; {fix}" for s in eps.get("skipped") or []]
    for ep_name, ep in (eps.get("named") or {}).items():
        if ep.get("truncated"):
            lines.append(f"{name}: episode {ep_name} ({ep['start']}..{ep['end']}) is measured over "
                         f"{ep['first_session']}..{ep['last_session']} only ({ep['sessions']} "
                         "sessions): the rest is outside the data or in the warm-up")
    dates = out.market.dates
    part = applicable_episodes(dates, synthetic=out.market.synthetic, partial=True)
    for ep_name, ep in part.items():
        if ep_name not in out.episodes:
            lines.append(f"{name}: built-in episode {ep_name} ({ep.start:%Y-%m-%d}..{ep.end:%Y-%m-%d}"
                         f") is only partly inside the data ({dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}"
                         f"), so it is not analyzed: --episode {ep_name} measures the part inside, "
                         "or widen --start/--end")
    return lines


def run_one(config: Config, out: str | Path, ui: Any, command: str,
            market: Market | None = None, after_file: Any = None) -> Path:
    """Run one configuration and write its run folder atomically; return the folder.

    The config is checked against the market (warm-up, legs, episodes) before any work.
    """
    from ..tearsheet.render import render_tearsheet
    from ..tearsheet.rundir import write_run

    if market is None:
        market = ui.load_market(config["data"])
    try:  # a study runs several: an error says which one failed
        for note in check_against_market(config, market):
            ui.note(note)
        with ui.progress(f"backtest {config['name']}", total=None):
            output = execute(config, market)
    except SqueezeLabError as err:
        raise SqueezeLabError(f"run {config['name']!r}: {err}") from err
    note = margin_note(config["name"], output.result.margin_calls, config["execution"])
    if note:
        ui.note(note)
    for note in run_notes(output):
        ui.note(note)
    rec = output.metrics.get("reconciliation")
    if rec is not None and not rec["ok"]:
        raise SqueezeLabError(
            f"backtrader and the vectorized twin disagree by {rec['max_rel_diff']:.3g} "
            f"(> {rec['tolerance']:g}) on {rec['worst_date']}: this is a bug, please report it"
        )
    return write_run(out, config["name"], artifacts(output, command),
                     render=lambda folder: render_tearsheet(folder), after_file=after_file,
                     note=ui.note)


def margin_note(name: str, calls: pd.DataFrame, execution: Mapping[str, Any]) -> str:
    """One line saying the account limits changed the book (empty when they never acted)."""
    if calls is None or calls.empty:
        return ""
    parts = []
    margin = calls[calls["rule"] == "max_leverage"]
    if len(margin):
        worst = margin.loc[margin["leverage"].idxmax()]
        parts.append(
            f"{len(margin)} margin call(s): gross/equity above execution.max_leverage="
            f"{execution['max_leverage']:g} (worst {worst['leverage']:.1f}x on "
            f"{worst['date']:%Y-%m-%d}), cut to {execution['margin_call_to']:g}x at the next open"
        )
    funded = calls[calls["rule"] == "cash"]
    if len(funded):
        parts.append(
            f"{len(funded)} order set(s) with long buys cut to keep execution.cash_buffer="
            f"{execution['cash_buffer']:g} of equity in cash (first {funded['date'].iloc[0]:%Y-%m-%d})"
        )
    return f"run {name!r}: " + "; ".join(parts) + " (margin_calls.csv)"


def summarize_run(path: Path, ui: Any) -> None:
    """Compact terminal summary of a written run folder (read back, nothing recomputed)."""
    from rich.table import Table

    from ..analyzers.metrics import Metrics
    from ..tearsheet.rundir import read_run
    from .ui import fmt_num, fmt_pct, measured_text

    run = read_run(path)
    m, prov = run.metrics, run.provenance
    tag = "[bold red]SYNTHETIC[/] scenario market" if prov.get("synthetic") else f"{prov['source']} data"
    ui.print(f"{run.config['name']}: {tag}, {prov['start']}..{prov['end']}, {prov['n_names']} names")
    typed = Metrics.from_json(m)
    if not prov.get("synthetic") and typed.short_interest is not None:
        for text in typed.short_interest.notes:
            ui.note(text)
    if prov.get("book_file"):
        bf = prov["book_file"]
        ui.print(f"own book: {bf['path']} ({bf['layout']} {bf['units']}s, "
                 f"{bf['rebalance_dates']} rebalance dates, sha256 {bf['sha256'][:12]})")
    perf = typed.performance
    ui.print(measured_text(perf))
    if isinstance(prov.get("index_label"), str):
        ui.print(f"index: {prov['index_label']}")
    t = Table(show_header=True, title_justify="left")
    for col in ("annual return", "volatility", "Sharpe", "max drawdown", "alpha", "beta"):
        t.add_column(col, justify="right")
    t.add_row(fmt_pct(perf.annual_return), fmt_pct(perf.annual_volatility).lstrip("+"),
              fmt_num(perf.sharpe_ratio), fmt_pct(perf.max_drawdown),
              fmt_pct(perf.alpha), fmt_num(perf.beta))
    ui.print(t)
    named = typed.episodes.named
    if named:
        e = Table(title="Episodes", title_justify="left")
        for col in ("episode", "sessions", "return", "max DD", "long leg", "short leg", "hedge",
                    "borrow", "costs", "momentum", "top short detractor (SI)"):
            e.add_column(col, justify="left" if col in ("episode", "top short detractor (SI)") else "right")
        for name, ep in named.items():
            win = typed.attribution.episodes.get(name)
            det = win.top_names.detractors if win is not None and win.top_names else []
            short = next((d for d in det if d.get("leg") == "short"), None)
            who = (f"{short['ticker']} {fmt_pct(short['contribution'], 2)} "
                   f"({fmt_pct(short.get('short_interest'), 0).lstrip('+')})" if short else "")
            momentum = (ep.factors.contribution or {}).get("momentum") if ep.factors else None
            e.add_row(name, str(ep.sessions), fmt_pct(ep.window_return),
                      fmt_pct(ep.max_drawdown_in_window), fmt_pct(ep.legs.get("long")),
                      fmt_pct(ep.legs.get("short")), fmt_pct(ep.legs.get("hedge")),
                      fmt_pct(ep.legs.get("borrow"), 2), fmt_pct(ep.legs.get("costs")),
                      fmt_pct(momentum), who)
        ui.print(e)
    rec = typed.reconciliation
    if rec is not None:
        ui.print(f"engines reconcile: max relative difference {rec.max_rel_diff:.1e} "
                 f"(tolerance {rec.tolerance:.0e})")
    ui.print(f"tearsheet: {path / 'tearsheet.html'}")
