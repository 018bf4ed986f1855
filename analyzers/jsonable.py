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
        return [canonical(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1 and obj.dtype.kind == "f":   # floats straight to the float rule
            fmt = _fmt(digits)
            return [_plain_float(v, fmt) for v in obj.tolist()]
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


def _fmt(digits: int | None) -> str | None:
    return None if digits is None else f".{digits}g"


def _plain_float(f: float, fmt: str | None) -> float | None:
    """A float as JSON: None when not finite, to ``fmt``'s significant digits, no "-0.0"."""
    if not math.isfinite(f):
        return None
    if fmt is not None:
        f = float(format(f, fmt))
    return 0.0 if f == 0 else f
