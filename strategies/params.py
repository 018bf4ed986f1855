"""Backtrader-style parameter tuples: resolve defaults, reject unknown keys, check types.

A parameter set is a tuple of ``(name, default)`` pairs, as in ``bt.Strategy.params``; the
default's type is the parameter's type. :func:`check_params` is what the book, the overlay, the
engine and the CLI's ``--set`` all use, so a typo or a wrong type fails the same way everywhere:
one :class:`~feeds.errors.SqueezeLabError` naming the parameter and what is valid.

Type rules (value given vs default):

- bool default: only ``True``/``False`` (``1``/``0`` are rejected: bool is strict).
- int default: an int (numpy ints accepted; bools and floats rejected).
- float default: an int or a float (numpy scalars accepted), returned as ``float``.
- str default: a str.
- tuple/list default: a list or tuple, or a comma-separated str (``"degross,hedge_basket"``),
  returned as a tuple of str.
- ``choices[name]`` (optional): the allowed values, literals and/or types, e.g.
  ``("monthly", "weekly", "daily", int)`` or ``(None, float)``. When given it replaces the
  default-type check; for a sequence parameter it constrains each element.
- ``bounds[name]`` (optional): an interval in math notation, e.g. ``"(0, inf)"``, ``"[0, 1]"``,
  checked for numeric values only.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

from ..feeds.errors import SqueezeLabError

ParamsTuple = tuple[tuple[str, Any], ...]


def param_names(params: ParamsTuple) -> tuple[str, ...]:
    """Names of a params tuple, in order."""
    return tuple(name for name, _ in params)


def defaults(params: ParamsTuple) -> dict[str, Any]:
    """The params tuple as a dict of defaults (tuples/lists copied)."""
    return {name: (tuple(d) if isinstance(d, (list, tuple)) else d) for name, d in params}


def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def describe_choices(choices: Sequence[Any]) -> str:
    """Choices as text for messages and help: ``monthly, weekly, daily, an int``."""
    out = []
    for c in choices:
        if isinstance(c, type):
            out.append({int: "an int", float: "a number", str: "a string", bool: "true/false"}.get(
                c, c.__name__))
        elif c is None:
            out.append("None")
        else:
            out.append(repr(c) if not isinstance(c, str) else c)
    return ", ".join(out)


def _match_choice(value: Any, choices: Sequence[Any]) -> tuple[bool, Any]:
    """Whether ``value`` is one of ``choices`` (literals or types); returns the normalized value."""
    for c in choices:
        if isinstance(c, type):
            if c is bool and isinstance(value, bool):
                return True, value
            if c is int and _is_int(value):
                return True, int(value)
            if c is float and _is_real(value):
                return True, float(value)
            if c not in (bool, int, float) and isinstance(value, c):
                return True, value
        elif c is None:
            if value is None:
                return True, None
        elif isinstance(c, bool) or isinstance(value, bool):
            if isinstance(c, bool) and isinstance(value, bool) and c == value:
                return True, value
        elif type(c) is type(value) or (_is_real(c) and _is_real(value)):
            if c == value:
                return True, value
    return False, value


def _parse_interval(spec: str) -> tuple[float, float, bool, bool]:
    s = spec.strip()
    if len(s) < 5 or s[0] not in "([" or s[-1] not in ")]" or "," not in s:
        raise ValueError(f"bad interval {spec!r}")
    lo, hi = (float(x) for x in s[1:-1].split(","))
    return lo, hi, s[0] == "[", s[-1] == "]"


def _in_interval(v: float, spec: str) -> bool:
    lo, hi, lo_closed, hi_closed = _parse_interval(spec)
    if math.isnan(v):
        return False
    ok_lo = v >= lo if lo_closed else v > lo
    ok_hi = v <= hi if hi_closed else v < hi
    return ok_lo and ok_hi


def check_params(
    params: ParamsTuple,
    given: Mapping[str, Any] | None,
    choices: Mapping[str, Sequence[Any]] | None = None,
    *,
    bounds: Mapping[str, str] | None = None,
    where: str = "",
) -> dict[str, Any]:
    """Resolve ``given`` against a backtrader-style params tuple.

    Parameters
    ----------
    params : tuple of (name, default)
        The parameter set; each default's type is the parameter's type.
    given : mapping
        Values to override (may be empty or None).
    choices : mapping, optional
        name -> allowed values (literals and/or types); replaces the default-type check.
    bounds : mapping, optional
        name -> interval such as ``"(0, inf)"`` or ``"[0, 1]"`` for numeric values.
    where : str
        A label for messages, e.g. ``"book"`` or ``"overlay"``.

    Returns
    -------
    dict
        Every parameter, in the tuple's order, with defaults filled in and values normalized
        (floats as ``float``, sequences as ``tuple``).

    Raises
    ------
    SqueezeLabError
        On an unknown name (the message lists the valid names and a close match), a wrong type,
        a value outside the choices or bounds.
    """
    choices = dict(choices or {})
    bounds = dict(bounds or {})
    given = dict(given or {})
    label = f"{where}." if where else ""
    names = param_names(params)
    unknown = [k for k in given if k not in names]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        section = f" of [{where}]" if where else ""
        raise SqueezeLabError(
            f"unknown key {label}{k}{hint}: valid keys{section} are {', '.join(names)}"
        )
    out: dict[str, Any] = {}
    for name, default in params:
        value = given.get(name, default)
        out[name] = _check_one(name, value, default, choices.get(name), label)
        if name in bounds:
            v = out[name]
            vals = v if isinstance(v, tuple) else (v,)
            for x in vals:
                if _is_real(x) and not _in_interval(float(x), bounds[name]):
                    raise SqueezeLabError(
                        f"{label}{name}={x!r} is outside {bounds[name]}: "
                        f"give a value in {bounds[name]}"
                    )
    return out


def _check_one(name: str, value: Any, default: Any, allowed: Sequence[Any] | None,
               label: str) -> Any:
    head = f"{label}{name}"
    if isinstance(default, (tuple, list)):
        if isinstance(value, str):
            value = tuple(s.strip() for s in value.split(",") if s.strip())
        if not isinstance(value, (tuple, list)):
            raise SqueezeLabError(
                f"{head}={value!r} is not a list: give a list such as {list(default)!r}"
                + (f" with items from {describe_choices(allowed)}" if allowed else "")
            )
        items = []
        for item in value:
            if allowed is not None:
                ok, item = _match_choice(item, allowed)
                if not ok:
                    raise SqueezeLabError(
                        f"{head}: {item!r} is not a valid item: use items from {describe_choices(allowed)}"
                    )
            items.append(item)
        return tuple(items)
    if allowed is not None:
        ok, norm = _match_choice(value, allowed)
        if not ok:
            raise SqueezeLabError(f"{head}={value!r} is not valid: use one of {describe_choices(allowed)}")
        return norm
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SqueezeLabError(f"{head}={value!r} is not a bool: give true or false")
        return value
    if isinstance(default, int):
        if not _is_int(value):
            raise SqueezeLabError(f"{head}={value!r} is not an int: give a whole number such as {default}")
        return int(value)
    if isinstance(default, float):
        if not _is_real(value):
            raise SqueezeLabError(f"{head}={value!r} is not a number: give a number such as {default}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SqueezeLabError(f"{head}={value!r} is not a string: give text such as {default!r}")
        return value
    return value


def describe_params(
    params: ParamsTuple,
    docs: Mapping[str, str],
    choices: Mapping[str, Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:
    """One dict per parameter (name, default, doc, choices as text) for help screens and reports."""
    choices = dict(choices or {})
    return [
        {
            "name": name,
            "default": list(d) if isinstance(d, tuple) else d,
            "doc": docs.get(name, ""),
            "choices": describe_choices(choices[name]) if name in choices else "",
        }
        for name, d in params
    ]
