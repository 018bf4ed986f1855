"""``squeeze-lab stress``: today's book through past episodes and synthetic squeezes.

Orchestration only; the arithmetic is :mod:`analyzers.stress`, the paths
:mod:`feeds.squeeze_paths`. The book is the one in force at ``asof`` (its last rebalance on or
before it; the built-in book or ``book.path``); "with the overlay" applies the config's
``[overlay]`` actions and thresholds (whether or not ``overlay.enabled`` is set), computed with
the overlay's own action stack at the window's start.

- Replay: each episode's actual daily close-to-close returns of the book's names. A name that is
  not listed through the whole window (from the close before it) gets the factor model's
  return instead (its loadings as of ``asof`` times the factors' actual returns in the window),
  and the report says so per name. The junk-rally signal is the market's own, point in time.
- Synthetic: ``paths`` squeezes with the given dials, in chunks of :data:`CHUNK` paths, locally or
  on Dask (the same numbers either way: each path has its own seed), then a small dial grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..analyzers.stress import hold_book, loss_distribution, overlay_states, path_signal
from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from ..feeds.squeeze_paths import PathSpec, check_dials, fit_factor_model, generate_paths, path_spec
from ..strategies.targets import LEGS

#: Paths per task (local loop or Dask task).
CHUNK = 100
#: Default dials: a January-2026-sized squeeze (docs/scenario.md).
DEFAULT_DIALS = {"size": 0.183, "length": 13, "breadth": 0.5, "index_drift": -0.007,
                 "momentum": "offsets"}
#: The dial grid: basket size x breadth (other dials as given).
GRID_SIZES = (0.1, 0.2, 0.3, 0.4)
GRID_BREADTHS = (0.25, 0.5, 1.0)
#: Single names listed as top detractors.
TOP_NAMES = 5


@dataclass(frozen=True)
class OverlaySetup:
    """What the path arithmetic needs from the overlay config, as plain values."""

    threshold: float
    exit_threshold: float
    cooloff: int
    lookback: int
    vol_window: int
    mode: str
    actions: tuple[str, ...]


def book_at(market: Market, config: Mapping[str, Any], asof: pd.Timestamp
            ) -> tuple[np.ndarray, pd.Timestamp]:
    """The book's weights by leg (3, N) decided at its last rebalance on or before ``asof``."""
    from ..strategies.book import book_targets

    targets = book_targets(market, **config["book"])
    rows = targets.dates[targets.dates <= asof]
    if not len(rows):
        first = (f"its first rebalance is {targets.dates[0].date()}" if len(targets.dates)
                 else "no rebalance in the data: the book's warm-up is longer than the data")
        raise SqueezeLabError(f"the book holds nothing by {asof.date()} ({first}): pick a later "
                              "--asof or an earlier --start")
    d = rows[-1]
    w = np.stack([targets.legs[leg].loc[d].to_numpy(np.float64) for leg in LEGS])
    if not np.any(w):
        raise SqueezeLabError(f"the book's targets on {d.date()} are all zero: nothing to stress")
    return w, d


def overlay_weights(market: Market, config: Mapping[str, Any], w: np.ndarray, pos: int,
                    signal: float) -> tuple[np.ndarray, list[str]]:
    """The overlay's targets for book weights ``w`` at market row ``pos`` (its own action stack)."""
    from ..strategies.overlay import OverlayState, build_actions, resolve_overlay_params

    p = resolve_overlay_params(config["overlay"])
    state = OverlayState(date=market.dates[pos], pos=pos, signal=signal, event="on",
                         legs={leg: w[k].copy() for k, leg in enumerate(LEGS)},
                         tickers=market.tickers)
    build_actions(market, p)(state)
    return np.stack([state.legs[leg] for leg in LEGS]), [d for _, _, d in state.log]


def overlay_setup(config: Mapping[str, Any]) -> OverlaySetup:
    from ..strategies.overlay import resolve_overlay_params

    p = resolve_overlay_params(config["overlay"])
    return OverlaySetup(p["threshold"], p["exit_threshold"], p["cooloff"], p["signal_lookback"],
                        p["signal_vol_window"], p["signal_mode"], tuple(p["actions"]))


def state_before(signal: np.ndarray, end: int, ov: OverlaySetup) -> tuple[bool, int]:
    """The overlay's state after row ``end`` and the sessions since its last switch."""
    from ..strategies.overlay import regime_switch

    sig = signal[: end + 1]
    finite = np.flatnonzero(np.isfinite(sig))
    if not len(finite):
        return False, 10 ** 6
    state, events = regime_switch(sig, ov.threshold, ov.exit_threshold, ov.cooloff,
                                  start=int(finite[0]))
    since = end - events[-1][0] if events else 10 ** 6
    return bool(state[-1]), int(since)


# --------------------------------------------------------------------------- replay
def episode_rows(market: Market, episode: Any) -> np.ndarray:
    """Market rows of an episode; it must lie inside the data with a session before it."""
    dates = market.dates
    rows = np.flatnonzero((dates >= episode.start) & (dates <= episode.end))
    if not len(rows) or rows[0] == 0 or episode.end > dates[-1]:
        raise SqueezeLabError(
            f"episode {episode.name} ({episode.start.date()}..{episode.end.date()}) is not inside "
            f"the data ({dates[0].date()}..{dates[-1].date()}) with a session before it: stress "
            "replays episodes the data covers; widen --start/--end or pick another episode")
    return rows


def replay_episode(market: Market, config: Mapping[str, Any], w: np.ndarray, episode: Any,
                   model: Any, signal: np.ndarray, ov: OverlaySetup) -> dict[str, Any]:
    """One episode's replay, without and with the overlay (see the module docstring)."""
    from ..feeds.squeeze_paths import factor_returns

    dates = market.dates
    rows = episode_rows(market, episode)
    start = rows[0] - 1
    close = market.close.to_numpy(np.float64)
    window = close[np.r_[start, rows]]
    actual = window[1:] / window[:-1] - 1.0
    listed = np.isfinite(window).all(axis=0)
    fx, _ = factor_returns(market)
    fallback = fx.to_numpy(np.float64)[rows] @ model.loadings.T
    rets = np.where(listed[None, :], actual, fallback)
    held = np.flatnonzero(np.abs(w).sum(axis=0) > 0)
    sources = {str(market.tickers[j]): ("actual" if listed[j] else model.describe(j)) for j in held}
    on0, since0 = state_before(signal, start, ov)
    w_on, actions = overlay_weights(market, config, w, start, float(signal[start]))
    sig = signal[rows][None, :]
    states = overlay_states(sig, on0, since0, ov.threshold, ov.exit_threshold, ov.cooloff)
    off = hold_book(rets[None], w, w_on, np.zeros_like(states), False)
    on = hold_book(rets[None], w, w_on, states, on0)
    idx = dates[rows]
    out: dict[str, Any] = {
        "start": episode.start, "end": episode.end, "description": episode.description,
        "sessions": int(len(rows)),
        "dates": [dates[start], *idx],
        "fallback_names": sum(1 for s in sources.values() if s != "actual"),
        "names": sources,
        "overlay_on_at_start": on0,
        "overlay_switches": [{"date": idx[t], "on": bool(states[0, t])}
                             for t in range(len(rows))
                             if states[0, t] != (states[0, t - 1] if t else on0)],
        "overlay_actions": actions,
    }
    for key, res in (("without_overlay", off), ("with_overlay", on)):
        names = res["names"][0]
        order = np.argsort(names, kind="stable")
        leg_of = np.array(LEGS)[np.argmax(np.abs(w), axis=0)]
        out[key] = {
            "pnl": float(res["pnl"][0]),
            "max_drawdown": float(res["max_drawdown"][0]),
            "path": [float(x) - 1.0 for x in res["equity"][0]],
            "legs": {leg: float(res["legs"][0, k]) for k, leg in enumerate(LEGS)},
            "top_detractors": [{"ticker": str(market.tickers[j]), "pnl": float(names[j]),
                                "leg": str(leg_of[j]),
                                "source": sources.get(str(market.tickers[j]), "actual")}
                               for j in order[:TOP_NAMES] if names[j] < 0],
        }
    # the top-level pnl/max_drawdown are the book's (without overlay), the contract's keys
    out["pnl"] = out["without_overlay"]["pnl"]
    out["max_drawdown"] = out["without_overlay"]["max_drawdown"]
    return out


# --------------------------------------------------------------------------- synthetic
@dataclass(frozen=True)
class SyntheticSetup:
    """Everything a chunk of synthetic paths needs (picklable, no market)."""

    spec: PathSpec
    w_off: np.ndarray
    w_on: np.ndarray
    hist_basket: np.ndarray
    hist_index: np.ndarray
    on0: bool
    since0: int
    overlay: OverlaySetup
    seed: int


def simulate_chunk(setup: SyntheticSetup, paths: np.ndarray, dials: Mapping[str, Any]
                   ) -> dict[str, np.ndarray]:
    """One chunk of synthetic paths: the book's PnL and drawdown without and with the overlay."""
    g = generate_paths(setup.spec, np.asarray(paths), setup.seed, **dials)
    ov = setup.overlay
    sig = path_signal(setup.hist_basket, setup.hist_index, g["basket"], g["index"], ov.lookback,
                      ov.vol_window, ov.mode)
    states = overlay_states(sig, setup.on0, setup.since0, ov.threshold, ov.exit_threshold,
                            ov.cooloff)
    off = hold_book(g["returns"], setup.w_off, setup.w_on, np.zeros_like(states), False)
    on = hold_book(g["returns"], setup.w_off, setup.w_on, states, setup.on0)
    return {"pnl_off": off["pnl"], "pnl_on": on["pnl"], "dd_off": off["max_drawdown"],
            "dd_on": on["max_drawdown"], "legs_off": off["legs"], "legs_on": on["legs"],
            "basket_total": g["basket_total"], "index_total": g["index_total"],
            "switched_on": states.any(axis=1) | bool(setup.on0)}


Runner = Callable[[SyntheticSetup, list[np.ndarray], Mapping[str, Any]], list[dict[str, np.ndarray]]]


def run_local(setup: SyntheticSetup, chunks: list[np.ndarray], dials: Mapping[str, Any]
              ) -> list[dict[str, np.ndarray]]:
    return [simulate_chunk(setup, c, dials) for c in chunks]


def dask_runner(client: Any) -> Runner:
    """Chunks as Dask tasks on ``client`` (the setup scattered once)."""
    def run(setup: SyntheticSetup, chunks: list[np.ndarray], dials: Mapping[str, Any]
            ) -> list[dict[str, np.ndarray]]:
        s = client.scatter(setup, broadcast=True)
        futures = [client.submit(simulate_chunk, s, c, dict(dials), pure=False) for c in chunks]
        return client.gather(futures)
    return run


def synthetic_paths(setup: SyntheticSetup, n: int, dials: Mapping[str, Any], runner: Runner,
                    first: int = 0) -> dict[str, np.ndarray]:
    """``n`` paths (ids ``first``..) in chunks, concatenated in path order."""
    ids = np.arange(first, first + n)
    chunks = [ids[i:i + CHUNK] for i in range(0, n, CHUNK)]
    parts = runner(setup, chunks, dials)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def summarize_paths(res: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {
        "quantiles": {"without_overlay": loss_distribution(res["pnl_off"]),
                      "with_overlay": loss_distribution(res["pnl_on"])},
        "max_drawdown": {"without_overlay": loss_distribution(res["dd_off"]),
                         "with_overlay": loss_distribution(res["dd_on"])},
        "legs_mean": {"without_overlay": dict(zip(LEGS, map(float, res["legs_off"].mean(axis=0)),
                                                  strict=True)),
                      "with_overlay": dict(zip(LEGS, map(float, res["legs_on"].mean(axis=0)),
                                               strict=True))},
        "basket_total_mean": float(res["basket_total"].mean()),
        "index_total_mean": float(res["index_total"].mean()),
        "overlay_on_share": float(res["switched_on"].mean()),
    }


def synthetic_setup(market: Market, config: Mapping[str, Any], w: np.ndarray,
                    asof: pd.Timestamp, signal: np.ndarray, model: Any, ov: OverlaySetup,
                    seed: int) -> tuple[SyntheticSetup, list[str]]:
    from ..strategies.signals import index_returns, most_shorted_returns

    pos = market.dates.get_loc(asof)
    o = config["overlay"]
    spec = path_spec(market, model, asof, o["basket_names"], o["basket_min_cap"])
    cut = market.slice(None, asof)
    hb, _ = most_shorted_returns(cut, o["basket_names"], o["basket_min_cap"])
    hi = index_returns(cut)
    keep = ov.lookback + ov.vol_window + 1
    on0, since0 = state_before(signal, pos, ov)
    w_on, actions = overlay_weights(market, config, w, pos, float(signal[pos]))
    return SyntheticSetup(spec, w, w_on, hb.to_numpy(np.float64)[-keep:],
                          hi.to_numpy(np.float64)[-keep:], on0, since0, ov, int(seed)), actions


def build_stress(config: Mapping[str, Any], market: Market, asof: str | None = None,
                 episodes: Sequence[str] = (), synthetic: int = 0, seed: int = 0,
                 dials: Mapping[str, Any] | None = None, grid_paths: int = 100,
                 runner: Runner = run_local) -> dict[str, Any]:
    """The stress report as plain data (see the module docstring)."""
    from ..feeds.episodes import resolve_episodes
    from .monitor import resolve_asof
    from .run import overlay_signal

    dials = {**DEFAULT_DIALS, **dict(dials or {})}
    check_dials(**dials)
    if synthetic < 0 or grid_paths < 0:
        raise SqueezeLabError("--synthetic and --grid-paths must be >= 0")
    known = resolve_episodes([e for e in episodes if ":" in e])
    episodes = [e.split(":")[0] for e in episodes]
    unknown = [e for e in episodes if e not in known]
    if unknown:
        raise SqueezeLabError(f"unknown episode {unknown[0]!r}: use one of {', '.join(known)} "
                              "or NAME:START:END (squeeze-lab stress --help)")
    day, notes = resolve_asof(market, asof)
    for name in episodes:
        episode_rows(market, known[name])
    w, book_date = book_at(market, config, day)
    ov = overlay_setup(config)
    signal = overlay_signal(config, market).to_numpy(np.float64)
    model = fit_factor_model(market, day)
    report: dict[str, Any] = {
        "asof": day, "book_date": book_date, "synthetic_market": bool(market.synthetic),
        "source": market.source, "market_notes": list(market.notes) if market.synthetic else [],
        "book": config["book"].get("path") or "built-in crowded book",
        "book_exposure": {leg: float(w[k].sum()) for k, leg in enumerate(LEGS)},
        "book_names": int((np.abs(w).sum(axis=0) > 0).sum()),
        "overlay": {"actions": list(ov.actions), "threshold": ov.threshold,
                    "exit_threshold": ov.exit_threshold, "mode": ov.mode, "lookback": ov.lookback},
        "factor_model": {"source": model.source, "factors": list(model.factors),
                         "names_on_median_loadings": int((~model.own_fit).sum())},
        "costs": "none (no commission, slippage or borrow in stress)",
        "notes": notes,
        "replay": {},
    }
    for name in episodes:
        e = report["replay"][name] = replay_episode(market, config, w, known[name], model, signal, ov)
        low = min(e["without_overlay"]["path"])
        if low <= -1.0:
            notes.append(f"{name}: the book's equity falls to {1 + low:.2f} of its start (the replay "
                         "holds the positions without rebalancing, stops or margin calls); check the "
                         f"top detractor {e['without_overlay']['top_detractors'][0]['ticker']} for a "
                         "bad price")
    if synthetic:
        setup, actions = synthetic_setup(market, config, w, day, signal, model, ov, seed)
        res = synthetic_paths(setup, synthetic, dials, runner)
        syn = {"paths": synthetic, "seed": seed, "dials": dict(dials), "overlay_actions": actions,
               **summarize_paths(res)}
        grid = []
        if grid_paths:
            for size in GRID_SIZES:
                for breadth in GRID_BREADTHS:
                    d = {**dials, "size": size, "breadth": breadth}
                    g = synthetic_paths(setup, grid_paths, d, runner)
                    q_off, q_on = loss_distribution(g["pnl_off"]), loss_distribution(g["pnl_on"])
                    grid.append({"size": size, "breadth": breadth,
                                 "mean_without_overlay": q_off["mean"],
                                 "mean_with_overlay": q_on["mean"],
                                 "expected_shortfall_5_without_overlay": q_off["expected_shortfall_5"],
                                 "expected_shortfall_5_with_overlay": q_on["expected_shortfall_5"]})
        syn["grid"] = grid
        syn["grid_paths"] = grid_paths
        syn["pnl_without_overlay"] = res["pnl_off"]
        syn["pnl_with_overlay"] = res["pnl_on"]
        report["synthetic"] = syn
    return report
