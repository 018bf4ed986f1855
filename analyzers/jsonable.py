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
        return [canonical(v, digits) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if not math.isfinite(f):
            return None
        if digits is not None:
            f = float(f"{f:.{digits}g}")
        return 0.0 if f == 0 else f  # no "-0.0"
    if obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(obj) else pd.Timestamp(obj).strftime("%Y-%m-%d")
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)
