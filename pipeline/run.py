"""One run: market -> targets -> backtrader (+ the twin's check) -> analyzers -> run folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from feeds.episodes import Episode, resolve_episodes
from feeds.errors import SqueezeLabError
from feeds.market import Market

#: Relative tolerance for the engine-vs-twin equity reconciliation.
RECONCILE_TOL = 1e-9


@dataclass
class RunOutput:
    """What one run computed, before it is written anywhere."""

    config: dict[str, Any]
    market: Market
    result: Any                # strategies.result.BacktestResult (backtrader)
    metrics: dict[str, Any]
    episodes: dict[str, Episode]


def run_episodes(config: Mapping[str, Any], market: Market) -> dict[str, Episode]:
    """Built-in (when inside the data) plus user episodes; a user episode outside the data is an error."""
    from analyzers.episodes import check_episodes_in_range

    analysis = config["analysis"]
    user = resolve_episodes(analysis["episodes"], builtin=False)
    check_episodes_in_range(user, market.dates)
    out: dict[str, Episode] = {}
    if analysis["builtin_episodes"]:
        first, last = market.dates[0], market.dates[-1]
        out.update({k: e for k, e in resolve_episodes().items()
                    if e.start >= first and e.end <= last})
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


def strategy_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The flat params dict the engines take: book, overlay (prefixed) and execution."""
    from strategies.bt_strategy import flat_params

    return flat_params(config["book"], config["overlay"], config["execution"])


def execute(config: Mapping[str, Any], market: Market) -> RunOutput:
    """Run the backtest through backtrader with our analyzers, check it against the twin."""
    from analyzers.bt_analyzers import standard_analyzers
    from analyzers.report import build_metrics
    from strategies.engine import run_backtrader
    from strategies.twin import run_vectorized

    episodes = run_episodes(config, market)
    analysis = config["analysis"]
    params = strategy_params(config)
    result, analyzed = run_backtrader(
        market, params,
        analyzers=standard_analyzers(episodes=episodes, top_n=analysis["top_n"],
                                     top_k=analysis["top_k"], detect=analysis["detect"],
                                     market=market),
    )
    metrics = build_metrics(result, market, episodes, top_n=analysis["top_n"],
                            top_k=analysis["top_k"], detect=analysis["detect"],
                            analyzed=analyzed)
    if analysis["reconcile"]:
        twin = run_vectorized(market, result.targets, **config["execution"])
        metrics["reconciliation"] = reconcile(result.equity, twin.equity)
    return RunOutput(dict(config), market, result, metrics, episodes)
