"""canonical(): plain JSON values; float arrays rounded in array passes exactly as one by one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from squeeze_lab.analyzers.jsonable import _fmt, _plain_float, _plain_floats, canonical


def _one_by_one(a: np.ndarray, digits: int | None) -> list:
    fmt = _fmt(digits)
    return [_plain_float(v, fmt) for v in a.tolist()]


def test_float_arrays_hand_checked():
    """0.1 + 0.2 -> 0.3; 1/3 to 12 digits; a tie at the 13th digit goes to the even digit;
    a carry to the next power of ten; -0.0 -> 0.0; NaN and inf -> None; a value too small for
    the array passes (|x| < 1e-11) still rounded."""
    a = np.array([0.1 + 0.2, 1 / 3, 1234567890125.0, 999999999999.7, -0.0, np.nan, -np.inf,
                  -2.5e-300, 7.0])
    got = canonical(a, 12)
    assert got == [0.3, 0.333333333333, 1234567890120.0, 1e12, 0.0, None, None, -2.5e-300, 7.0]
    assert repr(got[4]) == "0.0"


def test_int_bool_and_string_lists_as_they_are():
    assert canonical(np.array([3, -1], dtype=np.int64), 12) == [3, -1]
    assert [type(v) for v in canonical(np.array([True, False]), 12)] == [bool, bool]
    assert canonical(["2025-01-02", "2025-01-03"], 12) == ["2025-01-02", "2025-01-03"]
    assert canonical(("a", 1.0000000000001), 12) == ["a", 1.0]


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 60), elements=st.floats(allow_nan=True,
                                                                 allow_infinity=True)),
       st.sampled_from([None, 1, 2, 6, 12, 12, 12, 15, 17]))
def test_float_arrays_as_one_by_one(a, digits):
    """Every double (subnormals, huge, ties, NaN, signed zeros): the same floats, by repr."""
    assert repr(_plain_floats(a, digits)) == repr(_one_by_one(a, digits))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_narrow_float_arrays_as_one_by_one(dtype):
    a = np.random.default_rng(0).normal(0, 1e3, 500).astype(dtype)
    assert repr(canonical(a, 12)) == repr(_one_by_one(a, 12))


def test_ties_and_near_ties_as_one_by_one():
    """Halves at the digit after the last kept one, and their neighbours, at many scales."""
    rng = np.random.default_rng(3)
    m = rng.integers(10**11, 10**13, 400).astype(np.float64) * 10 + 5
    a = np.concatenate([m * 10.0 ** k for k in range(-14, 6)] +   # decimal halves parsed:
                       [np.array([float(f"{v}5e{k}") for v in m[:200].astype(np.int64) // 10])
                        for k in range(-14, 20, 3)])             # just above or below a half
    a = np.concatenate([a, np.nextafter(a, np.inf), np.nextafter(a, -np.inf)])
    for digits in (12, 13):
        assert repr(_plain_floats(a, digits)) == repr(_one_by_one(a, digits))
