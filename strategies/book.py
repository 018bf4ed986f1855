"""The crowded long-short quant book: long quality + momentum, short junk.

:func:`book_targets` turns a :class:`~feeds.market.Market` into :class:`~strategies.targets.Targets`
once, before a run, vectorized over dates and names:

1. scores (point-in-time, see :mod:`strategies.signals`): the long composite is
   ``quality_weight * z(quality) + (1 - quality_weight) * z(12-1 momentum)``, the short score is
   ``(1 - short_momentum_weight) * z(junk) + short_momentum_weight * z(-12-1 momentum)``
   (:func:`short_score`; :func:`~strategies.signals.junk_score` alone when the weight is 0): a
   quant short book is junk tilted towards losers, so it partly avoids last year's winners;
2. signal dates: the rebalance dates (first session of each month / week, every session, or every
   N sessions) once every window has enough history (warm-up), except the last date (no next bar);
3. universe on a signal date: names listed on that date *and* on the next bar. Knowing that a name
   is not listed tomorrow uses the delisting date one session early; this is benign (the engines
   could not trade it on the fill bar anyway and would only be left with a stale position) and is
   the only use of future data;
4. selection: ``k`` names per leg (``names_per_leg``, or ``fraction_per_leg`` of the scored
   universe), at most half the scored names each; longs are picked first, shorts from the rest;
5. weights within a leg (equal, rank of score, inverse volatility), scaled to the leg's total with
   the per-name cap ``max_weight`` (excess redistributed pro rata over the uncapped names; an
   infeasible cap is an error naming the fix);
6. leg totals: dollar neutral ``(gross + net) / 2`` long and ``(gross - net) / 2`` short, or beta
   neutral (long total x long beta = short total x short beta, totals summing to ``gross``) with
   the net held within ``±net_limit`` (:func:`limit_net`: the cash a net long needs).

Every signal-date row resizes every name (``resize`` all True), reason ``"rebalance"``.

The defaults are the crowded book of docs/scenario.md: 100 names a leg at 2x gross, shorts ranked
0.3 junk / 0.7 12-1 losers. The default study (configs/default.toml) runs it beta neutral (junk
shorts are high beta, so dollar neutral is also a net short-market bet); that is the book the
scenario market is calibrated against (tests/test_study_targets.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market
from .signals import (
    SignalRows,
    junk_score,
    quality_score,
    zscore_rows,
)
from .spec import BOOK, WARMUP_KEYS
from .targets import LEGS, Targets

#: Tolerance on leg totals and the per-name cap.
TOL = 1e-9


def resolve_book_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults filled in, types, bounds and relations checked (the ``[book]`` table of
    :mod:`strategies.spec`)."""
    return dict(BOOK.resolve(params))


def warmup_sessions(params: dict[str, Any]) -> int:
    """Index of the first date with enough history for every window of the book."""
    p = resolve_book_params(params)
    return max(p[k] for k in WARMUP_KEYS)


def rebalance_mask(dates: pd.DatetimeIndex, rebalance: str | int, start: int = 0) -> np.ndarray:
    """Boolean mask of rebalance dates, decided from each date and the one before it only.

    'monthly' / 'weekly': the first session of each calendar month / ISO week (the first date in
    the data counts); 'daily': every session; an int N: every N-th session from ``start``.
    """
    n = len(dates)
    if isinstance(rebalance, (int, np.integer)) and not isinstance(rebalance, bool):
        if rebalance < 1:
            raise SqueezeLabError(f"rebalance={rebalance} must be >= 1 sessions: e.g. rebalance=21")
        pos = np.arange(n)
        return (pos >= start) & ((pos - start) % int(rebalance) == 0)
    if rebalance == "daily":
        return np.ones(n, bool)
    if rebalance == "monthly":
        key = dates.year * 12 + dates.month
    elif rebalance == "weekly":
        iso = dates.isocalendar()
        key = iso["year"].to_numpy() * 100 + iso["week"].to_numpy()
    else:
        raise SqueezeLabError(f"rebalance={rebalance!r} is not valid: use monthly, weekly, daily or "
                              "an int number of sessions")
    key = np.asarray(key)
    out = np.ones(n, bool)
    out[1:] = key[1:] != key[:-1]
    return out


def cap_weights(raw: np.ndarray, total: np.ndarray, cap: float) -> np.ndarray:
    """Scale each row of non-negative ``raw`` to sum to ``total`` with every weight <= ``cap``.

    Water-filling: names over the cap are set to it and the rest is spread over the uncapped names
    in proportion to ``raw``, repeated until nothing exceeds the cap. Rows must be feasible
    (``count(raw > 0) * cap >= total``).

    Parameters
    ----------
    raw : np.ndarray
        (rows, names), >= 0; zero = not held.
    total : np.ndarray
        (rows,) leg totals.
    cap : float
    """
    raw = np.asarray(raw, np.float64)
    total = np.asarray(total, np.float64)
    held = raw > 0
    capped = np.zeros_like(held)
    w = np.zeros_like(raw)
    for _ in range(raw.shape[1] + 1):
        free = held & ~capped
        rem = total - capped.sum(axis=1) * cap
        s = np.where(free, raw, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(s > 0, rem / s, 0.0)
        w = np.where(capped, cap, np.where(free, raw * scale[:, None], 0.0))
        over = free & (w > cap * (1 + 1e-12))
        if not over.any():
            break
        capped |= over
    return w


def _rank_desc(key: np.ndarray) -> np.ndarray:
    """Rank of each cell in its row, 0 = largest, equal finite keys by column order; -inf cells
    (not eligible) rank last, among themselves in any order.

    A quicksort gives that order whenever no two finite keys of a row are equal (scores are
    continuous); a row with equal keys takes the stable sort.
    """
    order = np.argsort(-key, axis=1)
    ranked = np.take_along_axis(key, order, axis=1)
    tie = (ranked[:, 1:] == ranked[:, :-1]) & np.isfinite(ranked[:, 1:])
    if tie.any():
        order = np.argsort(-key, axis=1, kind="stable")
    rank = np.empty_like(order)
    rows = np.arange(key.shape[0])[:, None]
    rank[rows, order] = np.arange(key.shape[1])[None, :]
    return rank


def book_scores(market: Market, rows: np.ndarray | None = None, **params: Any
                ) -> dict[str, pd.DataFrame]:
    """The frames the book ranks on: long composite, junk score, momentum, quality, vol, beta.

    ``rows`` (date positions, e.g. the rebalance dates): every frame on those dates only; the
    time series (momentum, vol, beta) still use the whole history and the cross-sectional scores
    are the full frames' rows, so only the work changes.
    """
    return _scores(SignalRows(market, rows), resolve_book_params(params))


def _scores(at: SignalRows, p: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """:func:`book_scores` on the rows of ``at`` (each signal computed once, on those rows only)
    with the book's parameters already resolved."""
    at.moments(beta_windows=(p["beta_window"],), vol_windows=(p["vol_window"],),   # one pass
               offsets=(0, 1, -p["momentum_skip"], -p["momentum_lookback"]))
    mom = at.momentum(p["momentum_lookback"], p["momentum_skip"])
    qual = quality_score(at, beta_window=p["beta_window"], vol_window=p["vol_window"])
    qw = p["quality_weight"]
    long_score = at.frame(qw * zscore_rows(qual.to_numpy(np.float64))
                          + (1 - qw) * zscore_rows(mom.to_numpy(np.float64)))
    junk = junk_score(at, momentum_lookback=p["momentum_lookback"],
                      momentum_skip=p["momentum_skip"], beta_window=p["beta_window"],
                      vol_window=p["vol_window"], drawdown_window=p["momentum_lookback"],
                      low_price=p["low_price"])
    return {
        "long": long_score,
        "junk": junk,
        "momentum": mom,
        "quality": qual,
        "vol": at.vol(p["vol_window"]),
        "beta": at.beta(p["beta_window"]),
    }


def short_score(junk: pd.DataFrame, momentum: pd.DataFrame, weight: float) -> pd.DataFrame:
    """The short ranking: ``(1 - weight) * z(junk) + weight * z(-momentum)`` (``junk`` if weight 0).

    Parameters
    ----------
    junk, momentum : pd.DataFrame
        Dates x tickers (:func:`~strategies.signals.junk_score`, 12-1 momentum); NaN = unscored.
    weight : float
        In [0, 1].

    Returns
    -------
    pd.DataFrame
        Higher = shorted first; NaN where a component used is NaN.
    """
    if weight == 0:
        return junk
    return pd.DataFrame(_short_score(junk.to_numpy(np.float64),
                                     momentum.reindex_like(junk).to_numpy(np.float64), weight),
                        index=junk.index, columns=junk.columns)


def _short_score(junk: np.ndarray, momentum: np.ndarray, weight: float) -> np.ndarray:
    """:func:`short_score` on arrays (weight > 0)."""
    mz = zscore_rows(np.where(np.isnan(junk), np.nan, -momentum))
    return (1 - weight) * zscore_rows(junk) + weight * mz


def book_targets(market: Market, **params: Any) -> Targets:
    """Target weights of the long-short book on its rebalance dates.

    Parameters
    ----------
    market : Market
    **params
        Any key of the ``[book]`` table of :mod:`strategies.spec`; unknown names or wrong types
        raise :class:`~feeds.errors.SqueezeLabError`.

    Returns
    -------
    Targets
        Long leg >= 0, short leg <= 0, hedge leg 0; on each signal date the sum of |weights| is
        ``gross``; net is ``net`` (dollar) or the beta exposures cancel (beta); no |weight| exceeds
        ``max_weight``. A signal date with fewer than two scorable names gets an all-zero row
        (reason ``"rebalance: too few names, flat"``). With ``path`` set: the user's own book
        from that file instead (:func:`~strategies.own_book.own_book_targets`).
    """
    p = resolve_book_params(params)
    if p["path"]:
        from .own_book import own_book_targets

        return own_book_targets(market, p["path"], capital=p["capital"])
    dates = market.dates
    n_dates, n_names = market.close.shape
    warm = max(p[k] for k in WARMUP_KEYS)
    mask = rebalance_mask(dates, p["rebalance"], start=warm)
    pos = np.flatnonzero(mask & (np.arange(n_dates) >= warm) & (np.arange(n_dates) < n_dates - 1))
    sig_dates = dates[pos]
    tickers = market.tickers
    empty = pd.DataFrame(0.0, index=sig_dates, columns=tickers)
    if len(pos) == 0:
        return Targets(legs={leg: empty.copy() for leg in LEGS},
                       resize=pd.DataFrame(True, index=sig_dates, columns=tickers),
                       reasons=pd.Series([], index=sig_dates, dtype=object))
    at = SignalRows(market, pos)
    sc = _scores(at, p)   # scored on the signal dates only
    # Market.tradable_next on the signal rows: listed there and on the next bar
    listed_next = np.isfinite(at.close_rows()) & np.isfinite(at.close_at(1))
    sel = _select_legs(sc, listed_next, p)
    raw_l, raw_s = _raw_weights(sel, sc["vol"].to_numpy(), p["weighting"])
    w_l, w_s, neutral_ok, net_capped = _leg_weights(sel, raw_l, raw_s, sc["beta"].to_numpy(), p,
                                                    sig_dates)
    reasons = _reasons(sel.k >= 1, neutral_ok, net_capped, p)
    legs = {
        "long": pd.DataFrame(w_l, index=sig_dates, columns=tickers),
        "short": pd.DataFrame(-w_s, index=sig_dates, columns=tickers) + 0.0,
        "hedge": empty.copy(),
    }
    return Targets(legs=legs, resize=pd.DataFrame(True, index=sig_dates, columns=tickers),
                   reasons=pd.Series(reasons, index=sig_dates, dtype=object))


@dataclass(frozen=True)
class _Selection:
    """Who is in each leg on each signal date (rows) and their ranks; ``k`` names per leg."""

    elig: np.ndarray
    n_cand: np.ndarray
    k: np.ndarray
    is_long: np.ndarray
    is_short: np.ndarray
    long_rank: np.ndarray
    short_rank: np.ndarray


def _select_legs(sc: Mapping[str, pd.DataFrame], elig: np.ndarray, p: Mapping[str, Any]
                 ) -> _Selection:
    """Candidates (tradable tomorrow, scorable), ``k`` per leg, the top longs, then the top
    shorts among the rest."""
    ls = sc["long"].to_numpy()
    w = p["short_momentum_weight"]
    js = sc["junk"].to_numpy(np.float64)
    if w != 0:
        js = _short_score(js, sc["momentum"].to_numpy(np.float64), w)
    cand = elig & np.isfinite(ls) & np.isfinite(js)
    vol = sc["vol"].to_numpy()
    beta = sc["beta"].to_numpy()
    if p["weighting"] == "inverse_vol":
        cand &= np.isfinite(vol) & (vol > 0)
    if p["neutral"] == "beta":
        cand &= np.isfinite(beta)
    n_cand = cand.sum(axis=1)
    if p["fraction_per_leg"] > 0:
        k = np.maximum(1, np.floor(p["fraction_per_leg"] * n_cand + 1e-9).astype(int))
    else:
        k = np.full(len(cand), p["names_per_leg"])
    k = np.minimum(k, n_cand // 2)

    long_rank = _rank_desc(np.where(cand, ls, -np.inf))
    is_long = cand & (long_rank < k[:, None])
    short_pool = cand & ~is_long
    short_rank = _rank_desc(np.where(short_pool, js, -np.inf))
    is_short = short_pool & (short_rank < k[:, None])
    return _Selection(elig, n_cand, k, is_long, is_short, long_rank, short_rank)


def _raw_weights(sel: _Selection, vol: np.ndarray, weighting: str) -> tuple[np.ndarray, np.ndarray]:
    """Unscaled weights of the chosen names: equal, by rank (score) or 1/vol."""
    k = sel.k
    if weighting == "equal":
        return sel.is_long.astype(float), sel.is_short.astype(float)
    if weighting == "score":
        return (np.where(sel.is_long, k[:, None] - sel.long_rank, 0.0).astype(float),
                np.where(sel.is_short, k[:, None] - sel.short_rank, 0.0).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / vol
    return np.where(sel.is_long, inv, 0.0), np.where(sel.is_short, inv, 0.0)


def _leg_weights(sel: _Selection, raw_l: np.ndarray, raw_s: np.ndarray, beta: np.ndarray,
                 p: Mapping[str, Any], sig_dates: pd.DatetimeIndex
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Each leg's total (dollar net, or beta neutral within the net limit), capped per name;
    with beta neutrality also where it was feasible and where the net limit held it."""
    gross, cap, k = p["gross"], p["max_weight"], sel.k
    active = k >= 1
    neutral_ok = net_capped = None
    if p["neutral"] == "dollar":
        tot_l = np.where(active, (gross + p["net"]) / 2, 0.0)
        tot_s = np.where(active, (gross - p["net"]) / 2, 0.0)
    else:
        bfill = np.where(np.isfinite(beta), beta, 0.0)
        tot_l, neutral_ok = _beta_neutral_long_total(raw_l, raw_s, bfill, k, gross, cap, active)
        tot_l, net_capped = limit_net(tot_l, gross, p["net_limit"], active)
        tot_s = np.where(active, gross - tot_l, 0.0)
    _check_cap(tot_l, tot_s, k, cap, sig_dates, sel.n_cand, sel.elig.sum(axis=1))
    return cap_weights(raw_l, tot_l, cap), cap_weights(raw_s, tot_s, cap), neutral_ok, net_capped


def _reasons(active: np.ndarray, neutral_ok: np.ndarray | None, net_capped: np.ndarray | None,
             p: Mapping[str, Any]) -> np.ndarray:
    """Each signal date's reason: rebalance, flat for too few names, and what beta neutrality
    gave up."""
    reasons = np.where(active, "rebalance", "rebalance: too few names, flat").astype(object)
    if p["neutral"] == "beta":
        reasons = np.where(neutral_ok, reasons, "rebalance: beta neutrality infeasible with these "
                           "betas and caps; legs sized by floored leg betas").astype(object)
        reasons = np.where(net_capped, reasons + f"; net held at the net_limit "
                           f"{p['net_limit']:g} (beta neutrality gives way)", reasons).astype(object)
    return reasons


def limit_net(long_total: np.ndarray, gross: float, net_limit: float, active: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Long-leg totals held so the net ``2 * long - gross`` stays within ``±net_limit``.

    A stock account pays for a net long with equity (short proceeds fund the rest), so a beta-
    neutral book whose short betas dwarf its long betas must not ask for more net long than its
    equity: the long total is clipped to ``[(gross - net_limit) / 2, (gross + net_limit) / 2]``. Returns the
    totals and the rows where the clip acted.
    """
    lo, hi = (gross - net_limit) / 2, (gross + net_limit) / 2
    clipped = np.clip(long_total, lo, hi)
    acted = active & (np.abs(clipped - long_total) > TOL)
    return np.where(active, clipped, long_total), acted


def _beta_neutral_long_total(raw_l: np.ndarray, raw_s: np.ndarray, beta: np.ndarray,
                             k: np.ndarray, gross: float, cap: float, active: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Long-leg total per row so the capped legs' beta exposures cancel, gross fixed.

    ``f(L) = beta exposure of the long leg holding L - that of the short leg holding gross - L``
    is continuous and increasing where both legs have positive beta, so bisection on
    ``[0, gross]`` finds its root (where a capped name moves weight between names of different
    beta, a fixed-point iteration can cycle). Rows without a sign change (a leg's beta near zero or
    negative, or caps that keep the exposures apart) fall back to sizing by leg betas floored at
    0.05, so they cannot flip the book; the second array is False there.
    """
    def exposure(raw: np.ndarray, tot: np.ndarray) -> np.ndarray:
        return (cap_weights(raw, tot, cap) * beta).sum(axis=1)

    lo = np.zeros(len(k))
    hi = np.full(len(k), float(gross))   # a root the caps cannot hold is refused by _check_cap
    f_lo = exposure(raw_l, lo) - exposure(raw_s, gross - lo)
    f_hi = exposure(raw_l, hi) - exposure(raw_s, gross - hi)
    bracket = active & (f_lo <= 0) & (f_hi >= 0)
    a, b = lo.copy(), hi.copy()
    for _ in range(64):
        mid = 0.5 * (a + b)
        f = exposure(raw_l, mid) - exposure(raw_s, gross - mid)
        a = np.where(f < 0, mid, a)
        b = np.where(f < 0, b, mid)
    root = 0.5 * (a + b)
    # fallback: leg betas (floored) at equal totals
    half = np.full_like(lo, gross / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        b_l = np.maximum(exposure(raw_l, half) / half, 0.05)
        b_s = np.maximum(exposure(raw_s, half) / half, 0.05)
    floor = np.clip(gross * b_s / (b_l + b_s), lo, hi)
    return np.where(active, np.where(bracket, root, floor), 0.0), bracket | ~active


def _check_cap(tot_l: np.ndarray, tot_s: np.ndarray, k: np.ndarray, cap: float,
               sig_dates: pd.DatetimeIndex, n_scored: np.ndarray | None = None,
               n_listed: np.ndarray | None = None) -> None:
    for leg, tot in (("long", tot_l), ("short", tot_s)):
        bad = (k >= 1) & (k * cap < tot - TOL)
        if bad.any():
            i = int(np.argmax(bad))
            few = ""
            if n_scored is not None and n_listed is not None and 2 * k[i] >= n_scored[i] - 1 \
                    and n_scored[i] < n_listed[i]:
                few = (f" (only {int(n_scored[i])} of {int(n_listed[i])} listed names have every "
                       "score component that day: the others lack price history)")
            raise SqueezeLabError(
                f"book: max_weight={cap} x {int(k[i])} names cannot hold the {leg} leg's "
                f"{tot[i]:.4f} on {sig_dates[i].date()}{few}: raise max_weight to at least "
                f"{tot[i] / k[i]:.4f} or hold more names per leg"
            )
