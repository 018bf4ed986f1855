"""Account limits both engines apply to the shares the book is about to hold, at a close.

- **Maintenance margin** (``execution.max_leverage``): when gross exposure / equity exceeds the
  limit (losses on squeezed shorts), every leg of every name tradable at the next open is cut by
  one factor back to ``execution.margin_call_to`` — at a signal close on top of the new targets,
  on any other close on the book as held.
- **Funding** (``execution.cash_buffer``): a stock account pays for longs with equity plus short
  proceeds, and backtrader refuses an order the cash cannot pay (``checksubmit`` at the close,
  again at the open). When the orders would leave less cash than the buffer at the signal close
  (after commission), the long side (positive leg shares of tradable names) is cut by one factor
  in closed form, so the orders fit and a gap at the open has room.

:func:`apply_limits` returns the shares to hold and one record per rule that acted
(:data:`strategies.result.MARGIN_CALL_COLUMNS`); the engines log them as ``margin_calls``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .execution import truncate_shares

#: ``np.sum`` without its Python wrapper (the same pairwise reduction): called per action row.
_sum = np.add.reduce

#: The trades' ``reason`` for orders an account limit changed (the first rule that acted).
LIMIT_REASON = {"max_leverage": "margin_call", "cash": "funding"}


def leverage(net_shares: np.ndarray, close: np.ndarray, value: float) -> tuple[float, float]:
    """(gross exposure, gross / equity) of ``net_shares`` at ``close``; leverage is +inf when
    equity is not positive and there is exposure."""
    gross = float(_sum(np.abs(net_shares * close)))
    if value > 0:
        return gross, gross / value
    return gross, (np.inf if gross > 0 else 0.0)


def margin_call(leg_shares: np.ndarray, close: np.ndarray, value: float, tradable: np.ndarray,
                max_leverage: float, call_to: float, fractional: bool,
                net: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float] | None]:
    """The maintenance-margin rule at one close, for the leg shares the book will hold after it.

    When gross / equity at ``close`` exceeds ``max_leverage`` (0 = no limit), every leg of every
    name ``tradable`` at the next open is scaled by one factor so gross / equity comes back to
    ``call_to`` (names that cannot trade keep their shares; equity at or below zero closes all
    that can trade), truncated like :func:`strategies.execution.target_shares`.

    Returns
    -------
    (leg_shares, record): the shares to hold (the same array and ``None`` when no call) and the
    call's ``equity``, ``gross``, ``leverage``, ``leverage_after`` and ``scale``.
    ``net``: ``leg_shares`` summed over legs, when the caller has it.
    """
    if not max_leverage:
        return leg_shares, None
    net = leg_shares.sum(axis=0) if net is None else net
    gross, lev = leverage(net, close, value)
    if not lev > max_leverage:
        return leg_shares, None
    exposure = np.abs(net * close)
    fixed = float(exposure[~tradable].sum())
    movable = gross - fixed
    scale = 0.0
    if value > 0 and movable > 0:
        scale = min(1.0, max(0.0, (call_to * value - fixed) / movable))
    new = np.where(tradable[None, :], truncate_shares(leg_shares * scale, fractional), leg_shares)
    _, after = leverage(new.sum(axis=0), close, value)
    return new, {"equity": float(value), "gross": gross, "leverage": lev,
                 "leverage_after": after, "scale": scale}


def cash_after(delta: np.ndarray, price: np.ndarray, cash: float, rate: float) -> float:
    """Cash left once orders ``delta`` are paid at ``price`` with commission ``rate``."""
    return cash - float(_sum(delta * price)) - float(_sum(np.abs(delta) * rate * price))


def fund(leg_shares: np.ndarray, current: np.ndarray, price: np.ndarray, cash: float,
         value: float, tradable: np.ndarray, cash_buffer: float, rate: float, fractional: bool,
         delta: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float] | None]:
    """The funding rule at a signal close: cut the long side so the cash left is >= the buffer.

    ``price`` is the signal close (0 where a name cannot trade: it has no order). With ``P`` the
    long side's value, ``R`` the rest of the orders' cash need and ``C`` a bound on commission,
    the long side is scaled by ``s = (cash - R - buffer * value - C) / P`` clipped to [0, 1] and
    truncated toward zero (so the cash left only grows). ``s = 0`` may still not be enough (shorts
    bought back beyond the cash): the engines then report the refusal. ``delta``: the orders
    (``leg_shares`` minus ``current``, summed over legs), when the caller has them.
    """
    if delta is None:
        delta = leg_shares.sum(axis=0) - current.sum(axis=0)
    left = cash_after(delta, price, cash, rate)
    floor = cash_buffer * value if value > 0 else 0.0
    if left >= floor or not delta.any():
        return leg_shares, None
    movable = tradable[None, :] & (leg_shares > 0)
    longs = np.where(movable, leg_shares, 0.0).sum(axis=0)
    rest = leg_shares.sum(axis=0) - longs - current.sum(axis=0)
    p_long = float(np.sum(longs * price))
    need = float(np.sum(rest * price))
    comm = rate * float(np.sum((longs + np.abs(rest)) * price))
    scale = 0.0
    if p_long > 0:
        scale = min(1.0, max(0.0, (cash - need - floor - comm) / p_long))
    new = np.where(movable, truncate_shares(leg_shares * scale, fractional), leg_shares)
    gross, lev = leverage(leg_shares.sum(axis=0), price, value)
    _, after = leverage(new.sum(axis=0), price, value)
    return new, {"equity": float(value), "gross": gross, "leverage": lev,
                 "leverage_after": after, "scale": scale}


def limit_price(signal_close: np.ndarray, tradable: np.ndarray) -> np.ndarray:
    """The close the orders are checked at: the signal close where tradable, 0 elsewhere."""
    return np.where(tradable & np.isfinite(signal_close), signal_close, 0.0)


def apply_limits(leg_shares: np.ndarray, current: np.ndarray, value_close: np.ndarray,
                 signal_close: np.ndarray, value: float, cash: float, tradable: np.ndarray,
                 exec_p: dict[str, Any], rate: float,
                 nets: tuple[np.ndarray, np.ndarray] | None = None,
                 price: np.ndarray | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Margin call, then funding, on the leg shares planned at a close; returns the shares to
    hold and a record (``rule``, ..., ``cash_after``) per rule that acted.

    ``value_close`` values every name (unlisted bars carried, as the broker does);
    ``signal_close`` is the close the orders are checked at (NaN where not tradable);
    ``nets``: ``leg_shares`` and ``current`` summed over legs, and ``price``:
    :func:`limit_price` of ``signal_close``, when the caller has them.
    """
    records: list[dict[str, Any]] = []
    price = limit_price(signal_close, tradable) if price is None else price
    net, cur_net = nets if nets is not None else (leg_shares.sum(axis=0), current.sum(axis=0))
    new, call = margin_call(leg_shares, value_close, value, tradable, exec_p["max_leverage"],
                            exec_p["margin_call_to"], exec_p["fractional"], net=net)
    if call is not None:
        records.append({"rule": "max_leverage", **call})
        net = new.sum(axis=0)
    new, cut = fund(new, current, price, cash, value, tradable, exec_p["cash_buffer"], rate,
                    exec_p["fractional"], delta=net - cur_net)
    if cut is not None:
        records.append({"rule": "cash", **cut})
    if records:
        left = cash_after(new.sum(axis=0) - current.sum(axis=0), price, cash, rate)
        for rec in records:
            rec["cash_after"] = left
    return new, records


def refusal_message(n: int, ticker: str, size: float, date: str, equity: float,
                    cash_buffer: float, verb: str = "refused by the broker") -> str:
    """The one-line error for orders the account could not pay, with the setting to change."""
    head = (f"{n} order(s) {verb} for cash (first: {ticker} {size:+.6g} shares signalled "
            f"{date})")
    if not equity > 0:
        return (f"{head}: equity fell to {equity:,.0f}, the book is bust; lower book.gross or "
                "execution.max_leverage")
    return (f"{head}: the prices moved past the cash kept back for the fill; raise "
            f"execution.cash_buffer (now {cash_buffer:g}) or lower book.gross")
