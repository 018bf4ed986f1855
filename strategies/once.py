"""Computed once per market: what several steps of a run ask of the same frozen market.

A :class:`~feeds.market.Market` never changes after construction, so a value derived from it
alone (returns, index returns, rolling betas and volatilities, carried price arrays) can be
computed on first use and handed out again to the book, the overlay, the engines and the
analyzers of the same run, or to every point of a sweep on that market.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import pandas as pd

#: Per market, the shared signals already computed (see :func:`computed_once`).
_ONCE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
#: Entries kept per market (a sweep over windows must not grow without bound).
_ONCE_SIZE = 16


def computed_once(market: Any, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """``compute()`` once per market and key, shared by the book, the overlay and the analyzers.

    Returns, index returns, rolling betas and volatilities are asked for several times per run
    (quality, junk, the book's sizing, the overlay); a :class:`~feeds.market.Market` is frozen, so
    each is computed once per market and handed out as a shallow copy (pandas copy-on-write
    keeps the stored frame intact whatever the caller does with it; other values must not be
    changed by the caller). The most recent :data:`_ONCE_SIZE` keys are kept per market, and
    nothing outlives the market.
    """
    store = _ONCE.setdefault(market, {})
    if key in store:
        value = store.pop(key)
    else:
        value = compute()
        while len(store) >= _ONCE_SIZE:
            store.pop(next(iter(store)))
    store[key] = value   # most recent last
    return value.copy(deep=False) if isinstance(value, (pd.DataFrame, pd.Series)) else value
