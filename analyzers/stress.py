"""Stress arithmetic: a book held through return paths, with and without the overlay, vectorized.

Conventions (the same for a replayed episode, one path, and synthetic squeezes, many paths):

- the book starts the window with equity 1 and its target weights as fractions of it (cash =
  1 - sum of weights; short proceeds are cash); positions drift with their names' returns, cash
  earns nothing, no costs;
- with the overlay, its state after each close follows the overlay's own hysteresis and cool-off
  on the path's junk-rally signal (:func:`overlay_states`); when the state changes, the holdings
  are set to the other weights (the overlay's targets, or the book's again) at that close;
- PnL is the change of equity (a fraction of the starting equity); contributions per leg and per
  name add up to it; max drawdown is the worst fall from a running peak, the start included.
"""

from __future__ import annotations

import math

import numpy as np

#: Percentiles reported for a loss distribution.
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def _rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values along the last axis (NaN before ``n`` values)."""
    c = np.cumsum(np.concatenate([np.zeros(x.shape[:-1] + (1,)), x], axis=-1), axis=-1)
    out = np.full(x.shape, np.nan)
    out[..., n - 1:] = c[..., n:] - c[..., :-n]
    return out


def path_signal(hist_basket: np.ndarray, hist_index: np.ndarray, basket: np.ndarray,
                index: np.ndarray, lookback: int, vol_window: int, mode: str) -> np.ndarray:
    """The junk-rally signal on each path's sessions, continuing the real history before it.

    Same formula as :func:`strategies.signals.junk_rally_signal`: ``"return"`` is the basket's
    compounded return over ``lookback``; ``"zscore"`` is the basket's minus the index's, over the
    standard deviation (ddof 1) of daily basket-minus-index returns in the ``vol_window``
    sessions ending ``lookback`` sessions earlier, times sqrt(lookback).

    Parameters
    ----------
    hist_basket, hist_index : (H,) daily returns up to the path's start (at least
        ``lookback + vol_window`` of them for a zscore from the first path session).
    basket, index : (P, T) daily returns on the paths.
    """
    P, T = basket.shape
    b = np.concatenate([np.broadcast_to(hist_basket, (P, len(hist_basket))), basket], axis=1)
    m = np.concatenate([np.broadcast_to(hist_index, (P, len(hist_index))), index], axis=1)
    H = len(hist_basket)

    def compound(r: np.ndarray) -> np.ndarray:
        return np.expm1(_rolling_sum(np.log1p(r), lookback))

    if mode == "return":
        out = compound(b)
    else:
        d = b - m
        s1, s2 = _rolling_sum(d, vol_window), _rolling_sum(d * d, vol_window)
        with np.errstate(invalid="ignore"):
            var = (s2 - s1 * s1 / vol_window) / (vol_window - 1)
        vol = np.sqrt(np.maximum(var, 0.0))
        vol = np.concatenate([np.full((P, lookback), np.nan), vol[:, :-lookback]], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (compound(b) - compound(m)) / (vol * math.sqrt(lookback))
        out = np.where(vol > 0, out, np.nan)
    return out[:, H:]


def overlay_states(signal: np.ndarray, on0: np.ndarray | bool, since0: int, threshold: float,
                   exit_threshold: float, cooloff: int) -> np.ndarray:
    """The overlay's state after each path close (P, T), continuing from ``on0`` at the start.

    ``since0`` is the number of sessions since the last switch before the path (large if none);
    rules as :func:`strategies.overlay.regime_switch`, vectorized over paths.
    """
    P, T = signal.shape
    on = np.broadcast_to(np.asarray(on0, bool), (P,)).copy()
    since = np.full(P, since0, dtype=np.int64)
    out = np.zeros((P, T), bool)
    for t in range(T):
        since += 1
        s = signal[:, t]
        with np.errstate(invalid="ignore"):
            go = ~on & (s >= threshold) & (since >= cooloff)
            stop = on & (s < exit_threshold) & (since >= cooloff)
        on = (on | go) & ~stop
        since = np.where(go | stop, 0, since)
        out[:, t] = on
    return out


def hold_book(returns: np.ndarray, w_off: np.ndarray, w_on: np.ndarray, state: np.ndarray,
              on0: np.ndarray | bool) -> dict[str, np.ndarray]:
    """Equity, leg and name PnL of a book held through ``returns`` (see the module docstring).

    Parameters
    ----------
    returns : (P, T, N) daily simple returns (finite).
    w_off, w_on : (3, N) weights by leg (long, short, hedge): the book's, and the overlay's.
    state : (P, T) overlay state after each close (all False: the book without overlay).
    on0 : state before the first session.

    Returns
    -------
    dict
        ``equity`` (P, T + 1) starting at 1, ``legs`` (P, 3) and ``names`` (P, N) PnL, ``pnl``
        (P,) and ``max_drawdown`` (P,).
    """
    P, T, N = returns.shape
    on = np.broadcast_to(np.asarray(on0, bool), (P,)).copy()
    hold = np.where(on[:, None, None], w_on[None], w_off[None]).astype(np.float64)
    cash = 1.0 - hold.sum(axis=(1, 2))
    equity = np.empty((P, T + 1))
    equity[:, 0] = 1.0
    legs = np.zeros((P, 3))
    names = np.zeros((P, N))
    for t in range(T):
        r = returns[:, t, :]
        gain = hold * r[:, None, :]
        legs += gain.sum(axis=2)
        names += gain.sum(axis=1)
        hold = hold + gain
        eq = cash + hold.sum(axis=(1, 2))
        equity[:, t + 1] = eq
        flip = state[:, t] != on
        if flip.any():
            new_on = state[:, t]
            target = np.where(new_on[:, None, None], w_on[None], w_off[None]) * eq[:, None, None]
            hold = np.where(flip[:, None, None], target, hold)
            cash = np.where(flip, eq - target.sum(axis=(1, 2)), cash)
            on = np.where(flip, new_on, on)
    peak = np.maximum.accumulate(equity, axis=1)
    return {"equity": equity, "legs": legs, "names": names, "pnl": equity[:, -1] - 1.0,
            "max_drawdown": (equity / peak - 1.0).min(axis=1)}


def loss_distribution(pnl: np.ndarray) -> dict[str, float]:
    """Percentiles, mean, worst and expected shortfall (mean of the worst 5% / 1%) of path PnL."""
    x = np.sort(np.asarray(pnl, np.float64))
    n = len(x)
    out = {f"p{q}": float(np.percentile(x, q)) for q in PERCENTILES}
    out["mean"] = float(x.mean())
    out["worst"] = float(x[0])
    for q in (5, 1):
        k = max(1, int(math.ceil(q / 100 * n)))
        out[f"expected_shortfall_{q}"] = float(x[:k].mean())
    out["paths"] = n
    return out
