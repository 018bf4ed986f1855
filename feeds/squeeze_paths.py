"""Synthetic short squeezes with dials, on a factor model fitted to the market as of a date.

The factor model (:func:`fit_factor_model`) regresses each name's daily returns on the market's
factor returns over ``window`` sessions up to ``asof`` (OLS with an intercept): the scenario
market's own factors (market, junk, momentum, quality) when it has them, else factors built from
its reference series (``index``, and ``junk`` = most-shorted basket minus index). Names with fewer
than :data:`MIN_OBS` returns in the window take the cross-sectional median loadings (stated per
name). The same model is the replay's fallback for names that did not exist in an episode.

A synthetic squeeze (:func:`generate_paths`) over ``length`` sessions, per path, in log returns:

    l[i, t] = beta_i * (m_t + delta / T) + J_i * j_t + M_i * u_t + sum_k b_ik * n_kt + e[i, t]
              + [i rips] * kappa / T

- ``m, j, u``: market, junk and momentum factor noise at their historical daily vol, bridged so
  each path's junk factor moves exactly ``COMMON_SHARE * log(1 + size) / mean J of the basket``
  (the common part of the rally, felt by every junk-loaded name) and momentum exactly
  ``+-MOMENTUM_MOVE`` (``momentum="offsets"``: winners rise, as in January 2026; ``"loses"``:
  as in June-July 2025; ``"flat"``: 0); other fitted factors are noise (``n``);
  ``M_i`` is the name's cross-sectional z-score of 12-1 momentum at ``asof``;
- ``e``: idiosyncratic noise at each name's residual vol;
- breadth: ``round(breadth x basket size)`` of the most-shorted basket's members (as of ``asof``)
  rip, drawn per path with probability proportional to their short interest; ``kappa`` (>= 0: a
  squeeze only adds) is solved so the basket (equal weight, bought at the start, drifting)
  returns exactly ``size``, or more when the factors alone already lift it further;
- ``delta`` (a market-factor shift) is solved so the index (cap weights at ``asof``, or equal
  weights without share counts) returns ``index_drift``; the two solves alternate until both hold
  (to about 1e-12).

Every path draws from its own generator ``default_rng([seed, path])`` in a fixed order, so a path
is the same whichever chunk, process or Dask worker computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import Market

#: Fewest returns in the window for a name's own regression.
MIN_OBS = 40
#: Share of the basket's log rally carried by the common junk factor (the rest: single names).
COMMON_SHARE = 0.5
#: Momentum factor move over a path per unit of loading (one cross-sectional sd of 12-1 momentum).
MOMENTUM_MOVE = 0.01
#: Momentum behaviours of the dial.
MOMENTUM = {"offsets": 1.0, "loses": -1.0, "flat": 0.0}
#: Bounds of the dials (checked by :func:`check_dials`).
DIAL_BOUNDS = {"size": (0.0, 5.0), "length": (1, 250), "breadth": (0.0, 1.0),
               "index_drift": (-0.5, 0.5)}


@dataclass(frozen=True)
class FactorModel:
    """Per-name loadings on named factors, residual vols, and the factors' daily vols."""

    factors: tuple[str, ...]
    loadings: np.ndarray        # (N, K)
    resid_vol: np.ndarray       # (N,) daily
    factor_vol: np.ndarray      # (K,) daily
    r2: np.ndarray              # (N,), NaN where the median loadings stand in
    own_fit: np.ndarray         # (N,) bool
    tickers: pd.Index
    source: str

    def describe(self, j: int) -> str:
        """How name ``j``'s fallback returns are made, in a line."""
        if not self.own_fit[j]:
            return (f"factor model: median loadings of the universe (fewer than {MIN_OBS} returns "
                    "before the as-of date)")
        betas = ", ".join(f"{f} {b:+.2f}" for f, b in zip(self.factors, self.loadings[j], strict=True))
        return f"factor model: {betas} (R2 {self.r2[j]:.2f})"


def factor_returns(market: Market) -> tuple[pd.DataFrame, str]:
    """The factor returns a model is fitted on: the market's own, or built from its references."""
    if not market.factors.empty:
        return market.factors.astype(np.float64), "the market's factor returns"
    ref = market.reference
    if ref.empty or "index" not in ref.columns:
        from ..strategies.signals import index_returns

        idx = index_returns(market)
        return pd.DataFrame({"market": idx}), "an index built from the prices"
    out = pd.DataFrame({"market": ref["index"].astype(np.float64)})
    if "most_shorted" in ref.columns:
        out["junk"] = ref["most_shorted"].astype(np.float64) - out["market"]
    return out.fillna(0.0), "reference series (index; most-shorted minus index as junk)"


def fit_factor_model(market: Market, asof: pd.Timestamp, window: int = 126) -> FactorModel:
    """OLS loadings of every name on the factors over ``window`` sessions up to ``asof``."""
    f, src = factor_returns(market)
    close = market.close.loc[:asof]
    r = (close / close.shift(1) - 1.0).iloc[-window:].to_numpy(np.float64)
    fx = f.loc[:asof].iloc[-window:].to_numpy(np.float64)
    if len(fx) < MIN_OBS:
        raise SqueezeLabError(f"the factor model needs {MIN_OBS} sessions before {asof.date()}, the "
                              f"data has {len(fx)}: pick a later --asof")
    n, k = r.shape[1], fx.shape[1]
    x = np.column_stack([np.ones(len(fx)), fx])
    load = np.full((n, k), np.nan)
    resid = np.full(n, np.nan)
    r2 = np.full(n, np.nan)
    ok = np.isfinite(r)
    nobs = ok.sum(axis=0)
    full = nobs == len(fx)
    if full.any():
        coef, *_ = np.linalg.lstsq(x, r[:, full], rcond=None)
        fit = x @ coef
        e = r[:, full] - fit
        load[full] = coef[1:].T
        resid[full] = e.std(axis=0, ddof=k + 1)
        var = r[:, full].var(axis=0)
        r2[full] = np.where(var > 0, 1.0 - e.var(axis=0) / np.where(var > 0, var, 1.0), np.nan)
    for j in np.flatnonzero(~full & (nobs >= MIN_OBS)):
        m = ok[:, j]
        coef, *_ = np.linalg.lstsq(x[m], r[m, j], rcond=None)
        e = r[m, j] - x[m] @ coef
        load[j] = coef[1:]
        resid[j] = e.std(ddof=k + 1)
        var = r[m, j].var()
        r2[j] = 1.0 - e.var() / var if var > 0 else np.nan
    own = np.isfinite(load).all(axis=1) & np.isfinite(resid)
    if not own.any():
        raise SqueezeLabError(f"no name has {MIN_OBS} returns before {asof.date()} to fit the "
                              "factor model: pick a later --asof")
    med = np.median(load[own], axis=0)
    load[~own] = med
    resid[~own] = np.median(resid[own])
    return FactorModel(tuple(f.columns), load, resid, fx.std(axis=0, ddof=1), np.where(own, r2, np.nan),
                       own, market.tickers, src)


@dataclass(frozen=True)
class PathSpec:
    """Everything the generator needs, as arrays (picklable, no market): built once per run."""

    beta: np.ndarray            # (N,) market loading
    junk: np.ndarray            # (N,) junk loading (0 without a junk factor)
    mom: np.ndarray             # (N,) 12-1 momentum z-score at asof
    other: np.ndarray           # (N, K') loadings on the other factors (noise)
    factor_vol: np.ndarray      # (3 + K',) daily vol of market, junk, momentum, others
    resid_vol: np.ndarray       # (N,)
    cap_w: np.ndarray           # (N,) index weights at asof (sum 1)
    basket: np.ndarray          # (B,) column positions of the most-shorted basket's members
    crowd_p: np.ndarray         # (B,) probability of ripping (short interest, normalized)


def check_dials(size: float, length: int, breadth: float, index_drift: float, momentum: str) -> None:
    """One error naming the dial and its range."""
    for name, v in (("size", size), ("length", length), ("breadth", breadth),
                    ("index_drift", index_drift)):
        lo, hi = DIAL_BOUNDS[name]
        if not (np.isfinite(v) and lo <= v <= hi):
            raise SqueezeLabError(f"stress dial {name}={v} is outside [{lo}, {hi}]: e.g. size=0.2, "
                                  "length=13, breadth=0.5, index_drift=0.0")
    if momentum not in MOMENTUM:
        raise SqueezeLabError(f"stress dial momentum={momentum!r} is not one of "
                              f"{', '.join(MOMENTUM)}")


def path_spec(market: Market, model: FactorModel, asof: pd.Timestamp, basket_names: int = 50,
              basket_min_cap: float = 1e9) -> PathSpec:
    """The generator's arrays as of ``asof``: loadings, vols, index weights, the basket."""
    from ..strategies.signals import market_cap, momentum_12_1, most_shorted_members, point_in_time

    f = list(model.factors)
    col = {name: f.index(name) for name in f}
    n = len(model.tickers)
    beta = model.loadings[:, col["market"]] if "market" in col else np.ones(n)
    junk = model.loadings[:, col["junk"]] if "junk" in col else np.zeros(n)
    others = [i for i, name in enumerate(f) if name not in ("market", "junk", "momentum")]
    vol = {name: model.factor_vol[i] for i, name in enumerate(f)}
    mom_raw = momentum_12_1(market.close.loc[:asof]).iloc[-1].to_numpy(np.float64)
    ok = np.isfinite(mom_raw)
    mom = np.zeros(n)
    if ok.sum() > 1 and mom_raw[ok].std() > 0:
        mom[ok] = np.clip((mom_raw[ok] - mom_raw[ok].mean()) / mom_raw[ok].std(), -3.0, 3.0)
    cap = market_cap(market)
    row = market.dates.get_loc(asof)
    listed = market.close.iloc[row].notna().to_numpy()
    if cap is not None:
        c = np.where(listed, np.nan_to_num(cap.iloc[row].to_numpy(np.float64)), 0.0)
    else:
        c = listed.astype(np.float64)
    members, _ = most_shorted_members(market.slice(None, asof), n=basket_names, min_cap=basket_min_cap)
    mem = members.reindex(columns=market.tickers).iloc[-1].fillna(False).to_numpy(bool) & listed
    basket = np.flatnonzero(mem)
    if not len(basket):
        raise SqueezeLabError(f"no most-shorted basket member is listed on {asof.date()}: the "
                              "synthetic squeeze needs one")
    si, _ = point_in_time(market, "short_interest")
    w = np.ones(len(basket))
    if si is not None:
        s = si.iloc[row].to_numpy(np.float64)[basket]
        if np.isfinite(s).any():
            w = np.where(np.isfinite(s) & (s > 0), s, np.nanmin(s[s > 0]) if (s > 0).any() else 1.0)
    return PathSpec(
        beta=beta, junk=junk, mom=mom,
        other=model.loadings[:, others] if others else np.zeros((n, 0)),
        factor_vol=np.array([vol.get("market", 0.0), vol.get("junk", 0.0), vol.get("momentum", 0.0),
                             *[model.factor_vol[i] for i in others]]),
        resid_vol=model.resid_vol, cap_w=c / c.sum(), basket=basket, crowd_p=w / w.sum(),
    )


def _bridge(noise: np.ndarray, total: float) -> np.ndarray:
    """Daily log moves: the noise minus its mean, plus ``total`` spread evenly (sums to ``total``)."""
    return noise - noise.mean(axis=0, keepdims=True) + total / noise.shape[0]


def generate_paths(spec: PathSpec, paths: np.ndarray, seed: int, size: float, length: int,
                   breadth: float, index_drift: float, momentum: str) -> dict[str, np.ndarray]:
    """Daily simple returns of every name on each path, and the basket's and index's.

    Returns
    -------
    dict
        ``returns`` (P, T, N), ``basket`` and ``index`` (P, T) daily returns, ``rippers`` (P, N)
        bool, ``squeeze`` (P,) the rippers' extra log move, ``basket_total`` and ``index_total``.
    """
    check_dials(size, length, breadth, index_drift, momentum)
    T, N = int(length), len(spec.beta)
    P = len(paths)
    B = len(spec.basket)
    n_rip = 0 if breadth <= 0 else max(1, int(round(breadth * B)))
    jbar = float(np.mean(spec.junk[spec.basket]))
    common = COMMON_SHARE * np.log1p(size) / jbar if jbar > 1e-6 else 0.0
    mom_total = MOMENTUM[momentum] * MOMENTUM_MOVE
    K2 = spec.other.shape[1]
    logs = np.empty((P, T, N))
    rip = np.zeros((P, N), bool)
    for p, pid in enumerate(paths):
        rng = np.random.default_rng([int(seed), int(pid)])
        fz = rng.standard_normal((T, 3 + K2)) * spec.factor_vol
        e = rng.standard_normal((T, N)) * spec.resid_vol
        if n_rip:
            chosen = rng.choice(B, size=n_rip, replace=False, p=spec.crowd_p)
            rip[p, spec.basket[chosen]] = True
        m = fz[:, 0] - fz[:, 0].mean()                  # market: zero-sum noise, level solved below
        j = _bridge(fz[:, [1]], common)[:, 0]
        u = _bridge(fz[:, [2]], mom_total)[:, 0]
        ell = np.outer(m, spec.beta) + np.outer(j, spec.junk) + np.outer(u, spec.mom) + e
        if K2:
            ell += fz[:, 3:] @ spec.other.T
        logs[p] = ell
    g = logs.sum(axis=1)                                  # (P, N) log growth before the solves
    target_b, target_i = np.log1p(size), np.log1p(index_drift)
    kappa = np.zeros(P)
    delta = np.zeros(P)
    cw = spec.cap_w
    active = np.ones(P, bool)     # each path iterates until its own solves hold: chunk-invariant
    for _ in range(200):          # alternate the two solves: index level, then the squeeze
        a = g + rip * kappa[:, None]
        for _ in range(30):       # Newton on the index level (monotone in delta)
            ex = np.exp(a + np.outer(delta, spec.beta)) * cw
            fval = np.log(ex.sum(axis=1)) - target_i
            dfd = (ex * spec.beta).sum(axis=1) / ex.sum(axis=1)
            step = fval / np.where(np.abs(dfd) > 1e-9, dfd, 1e-9)
            delta = np.where(active, delta - step, delta)
        if not n_rip:
            break
        gb = g[:, spec.basket] + np.outer(delta, spec.beta[spec.basket])
        rb = rip[:, spec.basket]
        still = (np.exp(gb) * ~rb).sum(axis=1)
        movers = (np.exp(gb) * rb).sum(axis=1)
        need = np.log(np.maximum(B * np.exp(target_b) - still, 1e-12)) - np.log(movers)
        new = np.maximum(need, 0.0)                   # a squeeze only adds
        moved = np.abs(new - kappa) >= 1e-13
        kappa = np.where(active, new, kappa)
        active &= moved
        if not active.any():
            break
    logs += (np.outer(delta, spec.beta)[:, None, :] + (rip * kappa[:, None])[:, None, :]) / T
    r = np.expm1(logs)
    growth = np.exp(np.cumsum(logs, axis=1))              # (P, T, N) growth to each close
    prev = np.concatenate([np.ones((P, 1, N)), growth[:, :-1, :]], axis=1)
    wb = prev[:, :, spec.basket]
    basket = (wb * r[:, :, spec.basket]).sum(axis=2) / wb.sum(axis=2)
    wi = prev * cw
    index = (wi * r).sum(axis=2) / wi.sum(axis=2)
    return {"returns": r, "basket": basket, "index": index, "rippers": rip,
            "squeeze": kappa,
            "basket_total": np.exp(np.log1p(basket).sum(axis=1)) - 1.0,
            "index_total": np.exp(np.log1p(index).sum(axis=1)) - 1.0}


def describe_dials(**dials: Any) -> str:
    """The dials as one line for tables and notes."""
    return ", ".join(f"{k}={v}" for k, v in dials.items())
