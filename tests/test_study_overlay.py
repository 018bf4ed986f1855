"""What the default study must show about the overlay (configs/default.toml, as `make run` runs it).

The study's runs are resolved exactly like the CLI resolves them and executed through the
vectorized twin (it reconciles with backtrader to 1e-14; tests/test_engines.py), on the default
seed and several others: the best combination cuts both episodes' drawdowns on every seed, and on
the default seed each de-risking action costs return on the days outside the episodes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from squeeze_lab.analyzers.report import outside_episodes_stats
from squeeze_lab.feeds.scenario import scenario_market
from squeeze_lab.pipeline.config import load_config_file
from squeeze_lab.pipeline.run import run_episodes
from squeeze_lab.pipeline.study import study_configs
from squeeze_lab.pipeline.sweep import summary_row
from squeeze_lab.strategies.book import book_targets
from squeeze_lab.strategies.overlay import apply_overlay
from squeeze_lab.strategies.twin import run_vectorized

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.toml"
SEEDS = (7, 1, 2, 3, 11)


@cache
def study(seed: int) -> dict[str, dict]:
    """name -> summary row (+ outside-episode stats) of every study run on ``seed``'s market."""
    configs = study_configs(load_config_file(CONFIG))
    market = scenario_market(seed=seed, n_names=configs[0]["data"]["n_names"])
    book = book_targets(market, **configs[0]["book"])
    out = {}
    for cfg in configs:
        assert cfg["book"] == configs[0]["book"], "study runs share the book"
        targets, log = apply_overlay(market, book, **cfg["overlay"])
        result = run_vectorized(market, targets, overlay_log=log, **cfg["execution"])
        episodes = run_episodes(cfg, market)
        row = summary_row(result, market, episodes)
        row["outside"] = outside_episodes_stats(result.returns(), episodes)
        out[cfg["name"]] = row
    return out


def test_study_has_the_book_each_action_and_a_combination() -> None:
    names = [c["name"] for c in study_configs(load_config_file(CONFIG))]
    assert names[0] == "book" and len(names) >= 4
    actions = {tuple(c["overlay"]["actions"]) for c in study_configs(load_config_file(CONFIG))
               if c["overlay"]["enabled"]}
    assert {("degross",), ("cover_crowded",), ("hedge_basket",)} <= actions
    assert any(len(a) > 1 for a in actions), "a combination of actions"


@pytest.mark.parametrize("seed", SEEDS)
def test_best_combination_cuts_both_episode_drawdowns(seed: int) -> None:
    runs = study(seed)
    book, best = runs["book"], runs["combined"]
    for ep in ("jun_jul_2025", "jan_2026"):
        key = f"{ep}.max_drawdown_in_window"
        assert best[key] > book[key] + 0.002, (seed, ep, book[key], best[key])
    assert best["n_decisions"] > 0


def test_default_seed_every_derisking_action_costs_in_ordinary_times() -> None:
    runs = study(7)
    base = runs["book"]["outside"]["annual_return"]
    for name in ("degross", "combined"):
        assert runs[name]["outside"]["annual_return"] < base - 0.002, name
    # ... and buys protection in both episodes
    for name in ("degross", "combined"):
        for ep in ("jun_jul_2025", "jan_2026"):
            key = f"{ep}.max_drawdown_in_window"
            assert runs[name][key] > runs["book"][key], (name, ep)


@cache
def january_legs() -> dict[str, dict[str, float]]:
    """jan_2026 leg contributions of the study's book (flat borrow) and of its crowding-borrow run,
    on the default seed, through the twin."""
    from squeeze_lab.analyzers.attribution import attribute, window_legs

    configs = {c["name"]: c for c in study_configs(load_config_file(CONFIG))}
    market = scenario_market(seed=7, n_names=configs["book"]["data"]["n_names"])
    book = book_targets(market, **configs["book"]["book"])
    jan = run_episodes(configs["book"], market)["jan_2026"]
    out = {}
    for name in ("book", "book-crowding"):
        result = run_vectorized(market, book, **configs[name]["execution"])
        out[name] = window_legs(attribute(result, market.close), jan.start, jan.end)["contribution"]
        out[name]["events"] = len(result.borrow_record.events)
    return out


def test_crowding_run_shows_how_much_of_the_january_short_loss_was_borrow() -> None:
    from squeeze_lab.analyzers.borrow import share_of_short_loss

    legs = january_legs()
    assert study_configs(load_config_file(CONFIG))[0]["execution"]["borrow_model"] == "flat"
    flat, crowd = legs["book"], legs["book-crowding"]
    assert crowd["short"] + crowd["borrow"] < 0  # the short side lost in January 2026
    share = share_of_short_loss(crowd)
    assert 0.05 < share < 0.5, share              # a visible part, not the whole loss
    assert crowd["borrow"] < 5 * flat["borrow"]     # borrow drag far above flat 50 bps
    assert share_of_short_loss(flat) < 0.02
