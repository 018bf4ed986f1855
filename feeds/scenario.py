"""The embedded scenario market: a seeded factor model of the 2025-2026 junk rallies, offline.

Daily returns of every name are

    r[i, t] = beta_i * market_t + J_i * junk_t + Q_i * quality_t + M[i, t] * momentum_t
              + sector shock + alpha_i + fat-tailed idiosyncratic noise + squeeze jumps

on the real NYSE calendar (exchange_calendars, XNYS), simulated from a year before ``start`` so
12-1 momentum exists from day one. ``J_i`` (the junk / squeeze loading) rises with being
unprofitable, high beta and, above all, crowded (short interest convex, for names big enough to be
institutional shorts); ``Q_i`` is positive for profitable low-beta names and negative for junk;
``M[i, t]`` is each name's standardized trailing 12-1 return, so a 12-1 momentum sort earns the
momentum factor. Squeeze jumps hit the crowded names, turn one-sided in the episodes and lean
towards last year's losers (June-July 2025: momentum loses too) or winners (January 2026: the
squeezes keep going, momentum partly offsets). Short interest follows an AR(1) between
settlements (mid-month, month-end) and is known only ``lag`` sessions later; days to cover is
short interest over the 20-day average volume at settlement, lagged the same way.

Everything that makes the scenario what it is lives in the tables below (data, not code): the
universe groups, sectors, junk loading, the ordinary regime and dated regimes, the shaped factor
paths of the episodes (``EPISODE_PATHS``), the jump regimes, and ``CALIBRATION``, which names the
factor path tuned (per seed, a few sessions' constant drift) so the *constructed* baskets
(:mod:`feeds.baskets`, from the constituents) hit each row of ``feeds.episodes.MARKET_TARGETS``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .episodes import EPISODES, MARKET_TARGETS
from .errors import SqueezeLabError
from .market import Market, normalize_index
from .reference import reference_series

#: Factor columns of ``Market.factors``, in order.
FACTORS = ("market", "junk", "momentum", "quality")

#: Universe groups (the generator's own labels; never exported). ``share`` of the names; draws:
#: (median, log-sd) for short interest (fraction of float), market cap ($) and price ($); (mean,
#: sd) for beta and the quality loading; ``idio`` daily idiosyncratic vol; ``turnover`` daily
#: volume / shares; ``alpha`` annual drift of the name beyond its factors; ``sectors`` the column
#: of SECTORS used to draw the sector. "crowded" + "broken" are the junk (20%).
GROUPS: dict[str, dict] = {
    "quality": dict(share=0.29, profitable=0.97, si=(0.015, 0.5), beta=(0.80, 0.15),
                    cap=(30e9, 1.0), price=(110.0, 0.6), quality=(0.9, 0.25), idio=0.009,
                    turnover=0.005, alpha=0.00, sectors="broad"),
    "core": dict(share=0.51, profitable=0.75, si=(0.035, 0.6), beta=(1.05, 0.20),
                 cap=(6e9, 1.0), price=(50.0, 0.7), quality=(0.1, 0.35), idio=0.015,
                 turnover=0.009, alpha=0.00, sectors="broad"),
    "crowded": dict(share=0.09, profitable=0.15, si=(0.25, 0.25), beta=(1.60, 0.25),
                    cap=(5e9, 0.5), price=(20.0, 0.6), quality=(-0.5, 0.3), idio=0.019,
                    turnover=0.040, alpha=0.00, sectors="junk"),
    "broken": dict(share=0.11, profitable=0.05, si=(0.19, 0.30), beta=(1.55, 0.25),
                   cap=(0.4e9, 0.5), price=(2.5, 0.5), quality=(-1.0, 0.3), idio=0.024,
                   turnover=0.010, alpha=-0.06, sectors="junk"),
}
# Idio vols (14% / 24% / 30% / 38% a year) keep a 2x gross book of 100 names a leg near 8% vol and
# its ordinary-times Sharpe from being one seed's stock-picking luck; the broken names' drift
# (-6%/yr) pays the shorts modestly: the book's Sharpe stays "modest".
#: Groups that count as "junk" (unprofitable, heavily shorted, high beta, often under $5).
JUNK_GROUPS = ("crowded", "broken")

#: Sector, weight among ordinary names ("broad"), weight among junk names ("junk").
SECTORS: tuple[tuple[str, float, float], ...] = (
    ("Technology", 0.22, 0.36),
    ("Health Care", 0.11, 0.24),
    ("Financials", 0.13, 0.02),
    ("Consumer Discretionary", 0.10, 0.14),
    ("Industrials", 0.12, 0.06),
    ("Communication Services", 0.07, 0.06),
    ("Consumer Staples", 0.06, 0.02),
    ("Energy", 0.05, 0.05),
    ("Utilities", 0.05, 0.01),
    ("Real Estate", 0.05, 0.02),
    ("Materials", 0.04, 0.02),
)
TECH_SECTOR = "Technology"

#: Junk (squeeze) loading from attributes. Crowding = (short interest / scale)^2, capped; the size
#: term rises from 0 below ``size_lo`` to 1 above ``size_hi`` market cap. The squeeze hits names big
#: enough to be crowded institutional shorts (the baskets' $1bn floor):
#: J = size * unprofitable * [not profitable] + squeeze * crowding + beta_excess * (beta - 1)+ + noise.
#: Tiny "broken" names get little of it: they drift down on their own (alpha, quality).
#: (unprofitable 0.35: the squeeze is about crowding, so merely unprofitable names move less than
#: the most-shorted ones and a diversified short book is hit less than the basket.)
JUNK_LOADING = dict(unprofitable=0.35, squeeze=0.80, beta_excess=0.05, noise=0.06)
CROWDING = dict(scale=0.25, cap=3.0, size_lo=4e8, size_hi=2e9)

#: Ordinary regime: (annual drift, annual vol) of each factor; sector shocks' daily vol. Momentum
#: and quality are per unit of loading (a 12-1 sort holds loadings near +-1.5 a leg, so a book
#: earns about 2x momentum); premia are modest so shorting junk pays, but not a Sharpe of 3.
ORDINARY = {"market": (0.08, 0.14), "junk": (-0.08, 0.08), "momentum": (0.03, 0.025),
            "quality": (0.03, 0.03)}
SECTOR_VOL = 0.005
#: Dated regimes between the episodes: (start, end, annual drift per factor, vol multiplier).
#: Spring 2025: the tariff sell-off, then junk's rebound from its mid-April lows; autumn 2025: the
#: speculative names keep running, so by January 2026 crowded shorts are 12-1 momentum winners.
REGIMES: tuple[tuple[str, str, dict[str, float], float], ...] = (
    ("2025-02-19", "2025-04-08", {"market": -0.90, "junk": -0.60, "quality": 0.08}, 1.8),
    ("2025-04-09", "2025-05-30", {"market": 0.80, "junk": 0.50, "momentum": -0.10}, 1.3),
    ("2025-08-01", "2025-10-31", {"junk": 0.20}, 1.0),
)
FACTOR_TAIL_DF = 5      # student-t degrees of freedom of the factor shocks
#: Sessions per block over which the factor noise is bridged (it sums to zero in each block, daily
#: vol unchanged): each quarter earns its regime's drift, so the book's ordinary-times Sharpe is the
#: scenario's premia, not one seed's luck (0: no bridging).
FACTOR_BRIDGE = 63
IDIO_TAIL_DF = 4        # ... and of the idiosyncratic shocks
EPISODE_NOISE = 0.3     # factor noise inside an episode path, as a fraction of the ordinary vol

#: Shaped factor paths: cumulative simple return since the close of ``base`` at each anchor date,
#: log-linear between anchors (plus bridged noise that leaves the anchors exact). Columns:
#: market, junk, momentum, quality, tech (the Technology sector shock).
EPISODE_PATHS: dict[str, dict] = {
    # Summer 2025: nine straight weekly gains for junk; momentum loses too.
    "jun_jul_2025": dict(base="2025-05-30", anchors=(
        ("2025-06-06", 0.004, 0.005, -0.001, -0.001, 0.000),
        ("2025-06-13", -0.006, 0.010, -0.002, -0.001, 0.000),
        ("2025-06-20", -0.004, 0.015, -0.004, -0.002, 0.000),
        ("2025-06-27", 0.010, 0.020, -0.005, -0.003, 0.000),
        ("2025-07-03", 0.016, 0.025, -0.006, -0.003, 0.000),
        ("2025-07-11", 0.012, 0.030, -0.007, -0.004, 0.000),
        ("2025-07-18", 0.016, 0.035, -0.008, -0.004, 0.000),
        ("2025-07-25", 0.020, 0.040, -0.010, -0.005, 0.000),
        ("2025-07-31", 0.016, 0.045, -0.010, -0.005, 0.000),
    )),
    # January 2026: junk rips, index flat, momentum flat-to-up; the "Greenland" scare (Jan 16-20)
    # knocks junk off its mid-January high, and it rebounds on Jan 21.
    "jan_2026": dict(base="2025-12-31", anchors=(
        ("2026-01-02", 0.001, 0.015, 0.000, -0.001, -0.002),
        ("2026-01-09", 0.007, 0.054, 0.001, -0.003, -0.004),
        ("2026-01-14", 0.006, 0.108, 0.002, -0.005, -0.006),
        ("2026-01-15", 0.006, 0.137, 0.003, -0.006, -0.006),
        ("2026-01-16", 0.000, 0.121, 0.003, -0.006, -0.007),
        ("2026-01-20", -0.026, 0.070, 0.002, -0.006, -0.010),
        ("2026-01-21", -0.020, 0.195, 0.004, -0.006, -0.008),
        ("2026-01-30", -0.016, 0.184, 0.008, -0.007, -0.008),
    )),
}
PATH_COLUMNS = ("market", "junk", "momentum", "quality", "tech")

#: Single-name jumps: daily rate per unit of squeezability (CROWDING), probability of an up-move,
#: median size and log-sd of |jump|, and the tilt of the rate towards momentum winners (> 0) or
#: losers (< 0): rate x exp(tilt x momentum loading at the start of the episode, clipped at +-2).
#: January's rate (0.010) leaves most of the basket's rally to the junk factor: a jump lottery
#: would make the calibrated path, and a book's loss, swing from seed to seed.
JUMPS = {"ordinary": dict(rate=0.0015, p_up=0.5, size=0.10, sd=0.5, tilt=0.0),
         "jun_jul_2025": dict(rate=0.005, p_up=0.85, size=0.10, sd=0.5, tilt=-0.3),
         "jan_2026": dict(rate=0.010, p_up=0.9, size=0.12, sd=0.5, tilt=0.8)}

#: Short interest: AR(1) in logs between settlements (mid-month and month-end), published
#: ``lag`` sessions after settlement; shorts cover a little in the episodes.
SHORT_INTEREST = dict(phi=0.85, sigma=0.10, lag=8, cover=0.05, adv_window=20, cap=0.9)
#: Volume: lognormal noise and extra volume on big moves (per unit |return| / idio vol).
VOLUME = dict(noise=0.35, move=0.6)
#: OHLC: share of the (non-jump) move that happens overnight, gap noise and range (x idio vol).
OHLC = dict(overnight=0.35, gap=0.25, range=0.6)
#: Listings: share of names that list after the start (IPO) / delist before the end.
LISTINGS = dict(ipo=0.02, delist=0.01, margin=60)
#: Sessions simulated before ``start`` so 12-1 momentum loadings exist from day one.
BURN_IN = 273

#: Calibration: (series, window start, window end) of a MARKET_TARGETS row -> (factor path tuned,
#: first and last session of the tuning). Each lever adds a constant daily log-return to its path
#: over its sessions; the levers are solved together (quasi-Newton, a handful of basket
#: evaluations on a slice around the windows) so the baskets built from the constituents hit every
#: target's value. The shaped path (EPISODE_PATHS) is centred so the shifts average ~0 over seeds.
#: The 13-session targets are tuned on the "Greenland" days (Jan 16-21; junk on the Jan 21 rebound,
#: after the dip): the first two weeks follow the shaped path on every seed, so what a book loses
#: there is the scenario's, not one seed's calibration luck.
CALIBRATION: dict[tuple[str, str, str], tuple[str, str, str]] = {
    # spread over the three sessions of the Greenland dip and rebound: on one session alone the
    # tuning shift made one-day junk moves of +18% (seed 1) and, at 100 names, +85%
    ("most_shorted", "2026-01-02", "2026-01-21"): ("junk", "2026-01-16", "2026-01-21"),
    ("unprofitable_tech", "2026-01-02", "2026-01-30"): ("junk", "2026-01-22", "2026-01-30"),
    ("index", "2026-01-02", "2026-01-21"): ("market", "2026-01-16", "2026-01-21"),
    ("growth", "2026-01-02", "2026-01-21"): ("tech", "2026-01-16", "2026-01-21"),
}
#: Size of the two equal-weight reference baskets: the practitioners' 50 names come from a
#: universe of thousands; a small scenario universe keeps the same ~10% share, from 10 to 50 names.
BASKET_SHARE = dict(share=0.10, lo=10, hi=50)


def basket_size(n_names: int) -> int:
    """Names in the most-shorted / unprofitable-tech baskets of a ``n_names`` scenario universe."""
    b = BASKET_SHARE
    return int(min(b["hi"], max(b["lo"], round(b["share"] * n_names))))


CALIBRATION_SLICE = 45   # sessions before the first calibration window used to evaluate baskets

NOTE_SYNTHETIC = ("SYNTHETIC market: a seeded factor model calibrated to reported facts of the "
                  "June-July 2025 and January 2026 junk rallies (docs/scenario.md), not real prices")


@lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars as xc

    # exchange_calendars trips pandas 3.1 deprecation warnings internally; keep them out of ours
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return xc.get_calendar("XNYS")


def nyse_sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE (XNYS) trading sessions in ``[start, end]`` as a normalized ``date`` index."""
    try:
        s, e = pd.Timestamp(start), pd.Timestamp(end)
    except (TypeError, ValueError) as err:
        raise SqueezeLabError(f"dates {start!r}..{end!r} are not YYYY-MM-DD: write e.g. "
                              "2023-01-03") from err
    if s > e:
        raise SqueezeLabError(f"start {s.date()} is after end {e.date()}: swap them")
    cal = _calendar()
    first, last = cal.first_session, cal.last_session
    if s < first or e > last:
        raise SqueezeLabError(f"dates {s.date()}..{e.date()} are outside the NYSE calendar "
                              f"({first.date()}..{last.date()}): pick dates inside it")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        sessions = cal.sessions_in_range(s, e)
    return normalize_index(sessions)


# ----------------------------------------------------------------------------- universe
def _draw_universe(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-name draws: group, attributes, loadings, vols, turnover (arrays of length ``n``)."""
    names = list(GROUPS)
    counts = np.array([int(round(GROUPS[g]["share"] * n)) for g in names])
    counts[names.index("core")] += n - counts.sum()
    group = rng.permutation(np.repeat(np.arange(len(names)), counts))
    gp = {k: np.array([GROUPS[g][k] for g in names]) for k in
          ("profitable", "idio", "turnover", "alpha")}
    pair = {k: np.array([GROUPS[g][k] for g in names], dtype=float) for k in
            ("si", "beta", "cap", "price", "quality")}
    z = rng.standard_normal((6, n))
    uni = rng.random((2, n))
    si = np.clip(pair["si"][group, 0] * np.exp(pair["si"][group, 1] * z[0]), 0.002, 0.6)
    beta = np.clip(pair["beta"][group, 0] + pair["beta"][group, 1] * z[1], 0.3, 2.8)
    cap = pair["cap"][group, 0] * np.exp(pair["cap"][group, 1] * z[2])
    price = np.clip(pair["price"][group, 0] * np.exp(pair["price"][group, 1] * z[3]), 0.5, 2000.0)
    qual = pair["quality"][group, 0] + pair["quality"][group, 1] * z[4]
    profitable = uni[0] < gp["profitable"][group]
    junk = np.isin(group, [names.index(g) for g in JUNK_GROUPS])
    col = np.array([1 if GROUPS[g]["sectors"] == "broad" else 2 for g in names])[group]
    w = np.array([[s[1], s[2]] for s in SECTORS])      # sectors x (broad, junk)
    cum = np.cumsum(w / w.sum(axis=0), axis=0)          # sectors x 2
    sector = (uni[1][None, :] > cum[:, col - 1]).sum(axis=0).clip(0, len(SECTORS) - 1)
    cw = CROWDING
    size = np.clip(np.log(cap / cw["size_lo"]) / np.log(cw["size_hi"] / cw["size_lo"]), 0.0, 1.0)
    crowd = np.minimum((si / cw["scale"]) ** 2, cw["cap"]) * size
    jl = JUNK_LOADING
    J = (size * jl["unprofitable"] * (~profitable) + jl["squeeze"] * crowd
         + jl["beta_excess"] * np.maximum(beta - 1, 0) + jl["noise"] * z[5])
    idio = gp["idio"][group] * np.exp(0.25 * rng.standard_normal(n))
    turnover = gp["turnover"][group] * np.exp(0.3 * rng.standard_normal(n))
    return dict(group=group, junk=junk, si=si, beta=beta, cap=cap, price=price, quality=qual,
                profitable=profitable, sector=sector, J=J, crowd=crowd, idio=idio, turnover=turnover,
                alpha=gp["alpha"][group], shares=np.round(cap / price))


# ----------------------------------------------------------------------------- factor paths
def _episode_rows(sim: pd.DatetimeIndex) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """For each episode path inside the simulation: (name, rows, segment per row, daily log moves)."""
    out = []
    for name, spec in EPISODE_PATHS.items():
        base = pd.Timestamp(spec["base"])
        dates = pd.DatetimeIndex([a[0] for a in spec["anchors"]])
        levels = np.log1p(np.array([a[1:] for a in spec["anchors"]], dtype=float))
        if base < sim[0] or dates[-1] > sim[-1]:
            continue
        b = sim.get_indexer([base])[0]
        pos = sim.searchsorted(dates)
        if b < 0 or (sim[np.minimum(pos, len(sim) - 1)] != dates).any():
            raise SqueezeLabError("an episode anchor is not an NYSE session: fix EPISODE_PATHS")
        prev_pos, prev_lvl = b, np.zeros(len(PATH_COLUMNS))
        rows, seg, moves = [], [], []
        for k, (p, lvl) in enumerate(zip(pos, levels, strict=True)):
            m = p - prev_pos
            rows.append(np.arange(prev_pos + 1, p + 1))
            seg.append(np.full(m, k))
            moves.append(np.repeat(((lvl - prev_lvl) / m)[None, :], m, axis=0))
            prev_pos, prev_lvl = p, lvl
        out.append((name, np.concatenate(rows), np.concatenate(seg), np.vstack(moves)))
    return out


def _factor_paths(rng: np.random.Generator, sim: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """Daily factor returns (T x 4), sector shocks (T x S) and the regime of each day (T,).

    The regime is an index into ``("ordinary", *EPISODE_PATHS)``.
    """
    T = len(sim)
    df = FACTOR_TAIL_DF
    eps = rng.standard_t(df, (T, len(FACTORS))) / np.sqrt(df / (df - 2))
    drift = np.repeat(np.array([[ORDINARY[f][0] for f in FACTORS]]) / 252, T, axis=0)
    vol = np.array([ORDINARY[f][1] for f in FACTORS]) / np.sqrt(252)
    scale = np.ones((T, 1))
    for s_, e_, drifts, vmult in REGIMES:
        rows = (sim >= pd.Timestamp(s_)) & (sim <= pd.Timestamp(e_))
        for f, d in drifts.items():
            drift[rows, FACTORS.index(f)] = d / 252
        scale[rows] = vmult
    noise = vol * scale * eps
    if FACTOR_BRIDGE > 0:
        block = np.arange(T) // FACTOR_BRIDGE
        mean = np.zeros((block[-1] + 1, noise.shape[1]))
        np.add.at(mean, block, noise)
        noise = noise - (mean / np.bincount(block)[:, None])[block]
    logf = drift + noise
    sec = SECTOR_VOL * rng.standard_normal((T, len(SECTORS)))
    tech = [s[0] for s in SECTORS].index(TECH_SECTOR)
    regime = np.zeros(T, dtype=np.int64)
    noise_vol = np.append(vol, SECTOR_VOL) * EPISODE_NOISE
    for name, rows, seg, moves in _episode_rows(sim):
        shocks = np.column_stack([eps[rows], sec[rows, tech] / SECTOR_VOL]) * noise_vol
        # bridge the noise: it sums to zero inside each anchor segment, so anchors stay exact
        seg_mean = np.zeros((seg.max() + 1, shocks.shape[1]))
        np.add.at(seg_mean, seg, shocks)
        seg_mean /= np.bincount(seg)[:, None]
        path = moves + shocks - seg_mean[seg]
        logf[rows] = path[:, :len(FACTORS)]
        sec[rows, tech] = path[:, len(FACTORS)]
        regime[rows] = 1 + list(EPISODE_PATHS).index(name)
    return np.expm1(logf), sec, regime


# ----------------------------------------------------------------------------- names' returns
def _momentum_loading(base: np.ndarray) -> np.ndarray:
    """Standardized trailing 12-1 log return known at t - 1 (the loading on day t's momentum)."""
    lp = np.vstack([np.zeros((1, base.shape[1])), np.cumsum(np.log1p(np.maximum(base, -0.95)), axis=0)])
    T = base.shape[0]
    t = np.arange(T)                       # loading for day t uses prices up to close t - 1
    recent = np.clip(t - 21, 0, None)
    old = np.clip(t - 252, 0, None)
    mom = lp[recent] - lp[old]
    mu = mom.mean(axis=1, keepdims=True)
    sd = mom.std(axis=1, keepdims=True)
    z = np.divide(mom - mu, sd, out=np.zeros_like(mom), where=sd > 0)
    return np.clip(z, -3.0, 3.0)


def _ohlcv(rng_draws: dict[str, np.ndarray], close: np.ndarray, prev: np.ndarray,
           jump: np.ndarray, u: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    x = np.log(close / prev)
    xj = np.log1p(jump)
    sig = u["idio"][None, :]
    gap = OHLC["overnight"] * (x - xj) + xj + OHLC["gap"] * sig * rng_draws["gap"]
    gap = np.where(np.abs(gap) > np.abs(x) + 3 * sig, x, gap)
    openp = prev * np.exp(gap)
    hi = np.maximum(openp, close) * np.exp(OHLC["range"] * sig * np.abs(rng_draws["hi"]))
    lo = np.minimum(openp, close) * np.exp(-OHLC["range"] * sig * np.abs(rng_draws["lo"]))
    vol = (u["turnover"] * u["shares"])[None, :] * np.exp(
        VOLUME["noise"] * rng_draws["vol"] - 0.5 * VOLUME["noise"] ** 2
    ) * (1.0 + VOLUME["move"] * np.abs(x) / sig)
    return openp, hi, lo, np.round(vol)


# ----------------------------------------------------------------------------- short interest
def _settlements(sim: pd.DatetimeIndex) -> np.ndarray:
    """Rows of the settlement sessions: last session on or before the 15th, and month-end."""
    key = sim.year * 24 + (sim.month - 1) * 2 + (sim.day > 15)
    key = np.asarray(key)
    last = np.r_[key[1:] != key[:-1], True]
    return np.flatnonzero(last)


def _short_interest(rng_si: np.ndarray, sim: pd.DatetimeIndex, u: dict[str, np.ndarray],
                    in_episode: np.ndarray, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point-in-time short interest and days to cover (T x N), known ``lag`` sessions after."""
    p = SHORT_INTEREST
    rows = _settlements(sim)
    K, N = len(rows), len(u["si"])
    crowd = u["crowd"]
    dev = np.zeros((K, N))
    d = np.zeros(N)
    for k in range(K):   # K ~ 24 a year: a loop over settlements, vectorized over names
        d = p["phi"] * d + p["sigma"] * rng_si[k] - p["cover"] * crowd * in_episode[rows[k]]
        dev[k] = d
    si = np.minimum(u["si"][None, :] * np.exp(dev), p["cap"])
    cs = np.vstack([np.zeros((1, N)), np.cumsum(np.nan_to_num(volume), axis=0)])
    w = p["adv_window"]
    lo = np.clip(rows + 1 - w, 0, None)
    adv = (cs[rows + 1] - cs[lo]) / (rows + 1 - lo)[:, None]
    dtc = np.divide(si * u["shares"][None, :], adv, out=np.full_like(si, np.nan), where=adv > 0)
    known = np.searchsorted(rows + p["lag"], np.arange(len(sim)), side="right") - 1
    si_pit = np.where(known[:, None] >= 0, si[np.maximum(known, 0)], np.nan)
    dtc_pit = np.where(known[:, None] >= 0, dtc[np.maximum(known, 0)], np.nan)
    return si_pit, dtc_pit


# ----------------------------------------------------------------------------- calibration
def _calibration_targets() -> dict[tuple[str, str, str], float]:
    """(series, start, end) -> value of every MARKET_TARGETS row that has a lever in CALIBRATION."""
    out = {(t.series, t.start, t.end): t.value for t in MARKET_TARGETS}
    return {k: v for k, v in out.items() if k in CALIBRATION}


def _levers(sim: pd.DatetimeIndex, dates: pd.DatetimeIndex
            ) -> list[tuple[tuple[str, str, str], float, str, np.ndarray]]:
    """(target key, target value, lever path, lever rows) for each target inside the data."""
    out = []
    for key, value in _calibration_targets().items():
        series, start, end = key
        path, s, e = CALIBRATION[key]
        if pd.Timestamp(start) < dates[0] or pd.Timestamp(end) > dates[-1]:
            continue
        rows = np.flatnonzero((sim >= pd.Timestamp(s)) & (sim <= pd.Timestamp(e)))
        if len(rows):
            out.append((key, value, path, rows))
    return out


@dataclass
class _Draws:
    """Every random draw of one scenario, in the fixed order the generator makes them."""

    u: dict[str, np.ndarray]
    fac: np.ndarray
    sec: np.ndarray
    regime: np.ndarray
    eps: np.ndarray
    j_u: np.ndarray
    j_z: np.ndarray
    j_s: np.ndarray
    ohlc: dict[str, np.ndarray]
    si: np.ndarray
    listing: np.ndarray


def _draw(rng: np.random.Generator, sim: pd.DatetimeIndex, n: int) -> _Draws:
    """All draws, in order (the same seed gives the same draws byte for byte)."""
    T = len(sim)
    u = _draw_universe(rng, n)
    fac, sec, regime = _factor_paths(rng, sim)
    df = IDIO_TAIL_DF
    eps = rng.standard_t(df, (T, n)) / np.sqrt(df / (df - 2)) * u["idio"][None, :]
    j_u, j_z, j_s = rng.random((T, n)), rng.standard_normal((T, n)), rng.random((T, n))
    ohlc = {k: rng.standard_normal((T, n)) for k in ("gap", "hi", "lo", "vol")}
    si = rng.standard_normal((len(_settlements(sim)), n))
    listing = rng.random((3, n))
    return _Draws(u, fac, sec, regime, eps, j_u, j_z, j_s, ohlc, si, listing)


def _tech_index() -> int:
    return [s[0] for s in SECTORS].index(TECH_SECTOR)


def _base_returns(d: _Draws, f: np.ndarray, s: np.ndarray, jumps: np.ndarray) -> np.ndarray:
    """Names' returns without momentum (the momentum loading is computed from them)."""
    u = d.u
    return (f[:, [0]] * u["beta"] + f[:, [1]] * u["J"] + f[:, [3]] * u["quality"]
            + s[:, u["sector"]] + u["alpha"] / 252 + d.eps + jumps)


def _total_returns(d: _Draws, f: np.ndarray, s: np.ndarray, jump: np.ndarray
                   ) -> np.ndarray:
    """Names' returns with momentum: base + standardized 12-1 loading x momentum factor."""
    base = _base_returns(d, f, s, jump)
    mload = _momentum_loading(base)
    return np.maximum(base + mload * f[:, [2]], -0.95)


def _jumps(d: _Draws) -> np.ndarray:
    """Single-name jumps: squeezability x regime intensity, one-sided in the episodes, tilted by each
    name's momentum loading at the start of the episode (exp(tilt * M)): in June 2025 the
    beaten-down shorts squeeze (momentum loses), in January 2026 the squeezes keep going in last
    year's winners (momentum partly offsets)."""
    regime = d.regime
    regimes = ("ordinary", *EPISODE_PATHS)
    reg = {k: np.array([JUMPS[r][k] for r in regimes])[regime][:, None]
           for k in ("rate", "p_up", "size", "sd", "tilt")}
    size = reg["size"] * np.exp(reg["sd"] * d.j_z)
    signed = np.where(d.j_s < reg["p_up"], size, -size / (1 + size))
    intensity = reg["rate"] * d.u["crowd"][None, :]
    ordinary_jump = np.where((regime == 0)[:, None] & (d.j_u < intensity), signed, 0.0)
    if (regime > 0).any():
        mload0 = _momentum_loading(_base_returns(d, d.fac, d.sec, ordinary_jump))
        for k in range(1, len(regimes)):
            rows = np.flatnonzero(regime == k)
            if len(rows):
                m0 = np.clip(mload0[rows[0]], -2.0, 2.0)
                intensity[rows] *= np.exp(reg["tilt"][rows] * m0[None, :])
    return np.where(d.j_u < intensity, signed, 0.0)


def _listings(d: _Draws, n_dates: int) -> np.ndarray:
    """Listed mask (dates x names): a few IPOs after the start, a few broken names delisting."""
    N = len(d.u["si"])
    lst = d.listing
    listed = np.ones((n_dates, N), dtype=bool)
    margin = LISTINGS["margin"]
    if n_dates <= 3 * margin:
        return listed
    n_ipo = int(round(LISTINGS["ipo"] * N))
    n_del = int(round(LISTINGS["delist"] * N))
    order = np.argsort(lst[0])
    ipo = order[:n_ipo]
    broken = np.flatnonzero(d.u["group"] == list(GROUPS).index("broken"))
    cand = np.setdiff1d(broken if len(broken) >= n_del else np.arange(N), ipo)
    dele = cand[np.argsort(lst[1][cand])][:n_del]
    first = (margin + lst[2] * (n_dates - 3 * margin)).astype(int)
    last = (2 * margin + lst[2] * (n_dates - 3 * margin)).astype(int)
    for i in ipo:
        listed[: first[i], i] = False
    for i in dele:
        listed[last[i] + 1:, i] = False
    return listed


def _calibrate(d: _Draws, sim: pd.DatetimeIndex, dates: pd.DatetimeIndex, B: int,
               jump: np.ndarray, listed: np.ndarray, tickers: list[str]) -> dict[str, float]:
    """Shift the lever paths (in place) so the baskets built from the constituents hit the
    targets; returns the shifts and the residual for the market's meta."""
    levers = _levers(sim, dates)
    if not levers:
        return {}
    u, fac, sec = d.u, d.fac, d.sec
    T, N = d.eps.shape
    tech = _tech_index()
    is_tech = u["sector"] == tech
    ret0 = _total_returns(d, fac, sec, jump)
    attrs_core = pd.DataFrame({"shares": u["shares"], "is_tech": is_tech,
                               "profitable": u["profitable"]}, index=tickers)
    # short interest does not depend on prices (days to cover does, but no basket uses it):
    # build it once with a placeholder volume for the calibration slice
    si_pit_pre, _ = _short_interest(d.si, sim, u, d.regime > 0, np.ones((T, N)))
    first_row = min(rows[0] for *_, rows in levers)
    last_row = max(rows[-1] for *_, rows in levers)
    lo_row = max(B, first_row - CALIBRATION_SLICE)
    loads = {"market": u["beta"], "junk": u["J"], "tech": is_tech.astype(float)}
    col = {"market": 0, "junk": 1}
    g0 = np.cumprod(1 + ret0[B:lo_row], axis=0)
    level = u["price"] * g0[-1] / g0[0] if len(g0) else u["price"] / (1 + ret0[B])
    idx = sim[lo_row:last_row + 1]
    live = listed[lo_row - B:last_row + 1 - B]
    si_slice = pd.DataFrame(np.where(live, si_pit_pre[lo_row:last_row + 1], np.nan),
                            index=idx, columns=tickers)

    def lever_path(path: str, rows: np.ndarray) -> np.ndarray:
        return fac[rows, col[path]] if path in col else sec[rows, tech]

    def misses(delta: np.ndarray) -> np.ndarray:
        """Log miss of every target for daily log shifts ``delta`` of the lever paths."""
        r = ret0[lo_row:last_row + 1].copy()
        for (_, _, path, rows), dl in zip(levers, delta, strict=True):
            base_f = lever_path(path, rows)
            r[rows - lo_row] += (np.expm1(np.log1p(base_f) + dl) - base_f)[:, None] \
                * loads[path][None, :]
        c = level[None, :] * np.cumprod(1 + np.maximum(r, -0.95), axis=0)
        close = pd.DataFrame(np.where(live, c, np.nan), index=idx, columns=tickers)
        ref = reference_series(close, attrs_core, si_slice, n=basket_size(N))
        return np.array([np.log1p(ref[s_].loc[pd.Timestamp(a_): pd.Timestamp(b_)]).sum()
                         - np.log1p(v) for (s_, a_, b_), v, _, _ in levers])

    deltas = np.zeros(len(levers))
    g = misses(deltas)
    h = 1e-3
    jac = np.column_stack([(misses(h * e) - g) / h for e in np.eye(len(levers))])
    for _ in range(10):
        deltas = deltas + np.linalg.lstsq(jac, -g, rcond=None)[0]
        g = misses(deltas)
        if np.abs(g).max() < 1e-8:
            break
    meta: dict[str, float] = {}
    for ((series, a_, b_), _, path, rows), dl in zip(levers, deltas, strict=True):
        if path in col:
            fac[rows, col[path]] = np.expm1(np.log1p(fac[rows, col[path]]) + dl)
        else:
            sec[rows, tech] = np.expm1(np.log1p(sec[rows, tech]) + dl)
        meta[f"calibration_shift_{path}_for_{series}_{a_}_{b_}"] = float(np.expm1(dl * len(rows)))
    meta["calibration_residual"] = float(np.abs(g).max())
    return meta


def _frames(d: _Draws, sim: pd.DatetimeIndex, B: int, first: int, jump: np.ndarray,
            listed: np.ndarray, tickers: list[str]) -> dict[str, pd.DataFrame]:
    """Final prices from the calibrated paths (prices anchored at row ``B``, the requested start;
    rows before ``first`` are simulated, then dropped), OHLCV, short interest and days to cover."""
    u = d.u
    ret = _total_returns(d, d.fac, d.sec, jump)
    growth = np.cumprod(1 + ret, axis=0)
    close = u["price"][None, :] * growth / growth[B]
    prev = np.vstack([close[:1] / (1 + ret[:1]), close[:-1]])
    ohlcv = _ohlcv(d.ohlc, close, prev, jump, u)
    si_pit, dtc_pit = _short_interest(d.si, sim, u, d.regime > 0, ohlcv[3])
    # before the requested start (history) every name is as listed as on the first requested day
    nan = ~np.vstack([np.repeat(listed[:1], B - first, axis=0), listed])
    index = sim[first:]
    frames = {}
    for name, arr in (("open", ohlcv[0]), ("high", ohlcv[1]), ("low", ohlcv[2]),
                      ("close", close), ("volume", ohlcv[3]), ("si", si_pit), ("dtc", dtc_pit)):
        a = np.where(nan, np.nan, arr[first:]).astype(np.float64)
        frames[name] = pd.DataFrame(a, index=index, columns=tickers)
    return frames


def _scenario_attributes(u: dict[str, np.ndarray], frames: dict[str, pd.DataFrame],
                         tickers: list[str]) -> pd.DataFrame:
    """Per-name attributes: sector, profitability, beta, latest short interest and days to cover,
    shares outstanding, technology membership."""
    def last_known(df: pd.DataFrame) -> np.ndarray:
        return df.ffill().iloc[-1].to_numpy()

    attributes = pd.DataFrame({
        "sector": np.array([s[0] for s in SECTORS], dtype=object)[u["sector"]],
        "profitable": u["profitable"],
        "beta": np.round(u["beta"], 4),
        "short_interest": np.round(last_known(frames["si"]), 6),
        "days_to_cover": np.round(last_known(frames["dtc"]), 4),
        "shares": np.round(u["shares"]),
        "is_tech": u["sector"] == _tech_index(),
    }, index=pd.Index(tickers, name="ticker"))
    attributes["sector"] = attributes["sector"].astype(str)
    return attributes


def scenario_market(seed: int = 7, n_names: int = 500, start: str = "2023-01-03",
                    end: str = "2026-03-31", history: int = 0) -> Market:
    """Build the seeded synthetic scenario market (see the module docstring).

    Parameters
    ----------
    seed : int, optional
        Random seed; the same seed gives byte-identical frames.
    n_names : int, optional
        Number of stocks in the universe (at least 50).
    start, end : str, optional
        First and last calendar dates; trading days are NYSE sessions in between.
    history : int, optional
        Sessions of the simulated burn-in before ``start`` kept as data (0 to :data:`BURN_IN`), so
        a book's warm-up can end at ``start``. Prices from ``start`` on are the same whatever the
        history.

    Returns
    -------
    Market
        ``source="scenario"``, ``synthetic=True``, with reference series built from the
        constituents, the true factor returns and point-in-time short interest.
    """
    try:
        seed = int(seed)
        n_names = int(n_names)
        history = int(history)
    except (TypeError, ValueError) as err:
        raise SqueezeLabError(f"seed, n_names and history must be integers (got {seed!r}, "
                              f"{n_names!r}, {history!r})") from err
    if not 50 <= n_names <= 20000:
        raise SqueezeLabError(f"n_names={n_names} is out of range: use 50..20000 (default 500)")
    if seed < 0:
        raise SqueezeLabError(f"seed={seed} is negative: use a seed >= 0")
    if not 0 <= history <= BURN_IN:
        raise SqueezeLabError(f"history={history} is out of range: use 0..{BURN_IN} sessions")
    dates = nyse_sessions(start, end)
    if len(dates) < 60:
        raise SqueezeLabError(f"{start}..{end} has {len(dates)} sessions: the scenario needs at "
                              "least 60; widen --start/--end")
    pre = nyse_sessions(dates[0] - pd.Timedelta(days=int(BURN_IN * 1.6)),
                        dates[0] - pd.Timedelta(days=1))[-BURN_IN:]
    sim = pre.append(dates)
    B = len(pre)
    d = _draw(np.random.default_rng(seed), sim, n_names)
    jump = _jumps(d)
    listed = _listings(d, len(dates))
    tickers = _tickers(n_names)
    calib_meta = _calibrate(d, sim, dates, B, jump, listed, tickers)
    frames = _frames(d, sim, B, B - history, jump, listed, tickers)
    attributes = _scenario_attributes(d.u, frames, tickers)
    reference = reference_series(frames["close"], attributes, frames["si"],
                                 n=basket_size(n_names))
    factors = pd.DataFrame(d.fac[B - history:], index=frames["close"].index, columns=list(FACTORS))
    meta = {
        "generator": "feeds.scenario.scenario_market",
        "index_label": "cap-weighted universe (synthetic)",
        "growth_label": "cap-weighted technology names (synthetic)",
        "junk_share": float(d.u["junk"].mean()),
        "episodes": sorted(k for k in EPISODE_PATHS if k in EPISODES),
        **calib_meta,
    }
    notes = (
        NOTE_SYNTHETIC,
        "reference series are built from the constituents (feeds.baskets); the January 2026 "
        "factor paths are tuned per seed so they hit feeds.episodes.MARKET_TARGETS",
    )
    return Market(
        open=frames["open"], high=frames["high"], low=frames["low"], close=frames["close"],
        volume=frames["volume"], attributes=attributes, reference=reference, factors=factors,
        short_interest=frames["si"], days_to_cover=frames["dtc"], source="scenario",
        synthetic=True, seed=seed, fill_model="next_open", notes=notes, meta=meta,
    )


def _tickers(n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"SYN{i:0{width}d}" for i in range(1, n + 1)]
