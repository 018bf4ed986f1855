"""Plain JSON values from numpy/pandas results: one converter for metrics.json and run folders.

A module of its own (no heavy imports) so the run-folder writer and the analyzers share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def canonical(obj: Any, digits: int | None = None) -> Any:
    """Plain JSON values: numpy to python, NaN/inf to None, dates to ISO, floats to ``digits``.

    Parameters
    ----------
    obj : any
        Nested dicts / lists / scalars.
    digits : int, optional
        Significant digits kept in floats (None: floats as they are).

    Returns
    -------
    any
        The same structure with JSON-able leaves (dict keys as str).
    """
    if isinstance(obj, Mapping):
        return {str(k): canonical(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        if all(type(v) is str for v in obj):   # (dates) nothing to convert
            return list(obj)
        return [canonical(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1 and obj.dtype in _FLOATS:   # floats straight to the float rule
            return _plain_floats(obj, digits)
        if obj.ndim == 1 and obj.dtype.kind in "iub":   # python ints and bools as they are
            return obj.tolist()
        return [canonical(v, digits) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _plain_float(float(obj), _fmt(digits))
    if obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(obj) else pd.Timestamp(obj).strftime("%Y-%m-%d")
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


#: Float arrays :func:`_plain_floats` takes (``tolist`` gives their exact values as floats).
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16))
#: 10**0 .. 10**22, the powers of ten a float holds exactly.
_POW10 = np.array([float(f"1e{i}") for i in range(23)])


def _plain_floats(a: np.ndarray, digits: int | None) -> list[float | None]:
    """``[_plain_float(v, fmt) for v in a.tolist()]`` for a 1-D float array, in array passes.

    Kept to ``digits`` digits, ``x`` is ``m / 10**k`` with ``m`` the integer nearest to
    ``|x| * 10**k`` (``10**(digits-1) <= m <= 10**digits``): both steps are one correctly
    rounded operation with exact powers of ten (``|k| <= 22``), so the float is the one the
    decimal string parses to, and ``m`` is exact unless ``|x| * 10**k`` lies within 4 ulps of
    a half. Those values, the ones out of range and the non-finite go through :func:`_plain_float`.
    """
    x = np.asarray(a, dtype=np.float64)
    fmt = _fmt(digits)
    if digits is None or not 1 <= digits <= 15:
        return [_plain_float(v, fmt) for v in x.tolist()]
    ax = np.abs(x)
    nonzero = np.isfinite(x) & (ax != 0.0)
    with np.errstate(all="ignore"):
        k = (digits - 1) - np.floor(np.log10(np.where(nonzero, ax, 1.0)))
        ok = nonzero & (np.abs(k) <= 22)
        k = np.where(ok, k, 0.0).astype(np.int64)
        p = _POW10[np.abs(k)]
        up = k >= 0
        scaled = np.where(up, ax * p, ax / p)
        m = np.rint(scaled)
        ok &= (scaled >= _POW10[digits - 1]) & (scaled < _POW10[digits])
        ok &= np.abs(scaled - np.floor(scaled) - 0.5) > 4.0 * np.spacing(scaled)
        val = np.copysign(np.where(up, m / p, m * p), x)
    out = np.where(ok, val, 0.0).tolist()
    rest = np.flatnonzero(~ok & (ax != 0.0))   # (NaN != 0: the non-finite too)
    if len(rest):
        vals = x.tolist()
        for i in rest.tolist():
            out[i] = _plain_float(vals[i], fmt)
    return out


def _fmt(digits: int | None) -> str | None:
    return None if digits is None else f".{digits}g"


def _plain_float(f: float, fmt: str | None) -> float | None:
    """A float as JSON: None when not finite, to ``fmt``'s significant digits, no "-0.0"."""
    if not math.isfinite(f):
        return None
    if fmt is not None:
        f = float(format(f, fmt))
    return 0.0 if f == 0 else f
