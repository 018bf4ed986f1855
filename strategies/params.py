"""The parameter machinery: a declarative :class:`Param` per key, a :class:`Section` per table.

Every fact about a parameter (name, type, default, one-line doc, choices, bounds) is written once,
in :mod:`strategies.spec`; from it come the backtrader ``params`` tuples (:meth:`Section.bt_params`),
validation (:meth:`Section.resolve`, one :class:`~feeds.errors.SqueezeLabError` naming the key and
what is valid), ``--help`` and docs/configuration.md (:meth:`Section.help_lines`,
:func:`strategies.spec.configuration_markdown`). Relations between parameters of a section
(``exit_threshold <= threshold``) are :class:`Relation` objects on the section: checked at
resolution and listed in the docs.

Type rules (``Param.type``, inferred from the default when not given):

- ``bool``: only ``True``/``False`` (``1``/``0`` are rejected: bool is strict).
- ``int``: an int (numpy ints accepted; bools and floats rejected).
- ``float``: an int or a float (numpy scalars accepted), returned as ``float``; NaN is refused.
- ``str``: a str.
- ``list``: a list or tuple, or a comma-separated str (``"degross,hedge_basket"``), returned as a
  tuple; ``choices`` then constrains each element.
- ``date``: ``YYYY-MM-DD`` (a str, or a TOML date), returned as the ISO string; anything else
  (a time, a timezone, ``2025-13-45``) is refused.
- ``choices`` (optional): the allowed values, literals and/or types, e.g.
  ``("monthly", "weekly", "daily", int)`` or ``(None, float)``; when given it replaces the type
  check (for a list it constrains each element).
- ``bounds`` (optional): an interval in math notation, ``"(0, inf)"``, ``"[0, 1]"``, checked for
  numeric values (each element of a list).
- ``check`` (optional): a function ``value -> value`` run last (raising SqueezeLabError), for
  values with their own grammar (episodes ``NAME:START:END``).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, make_dataclass
from numbers import Integral, Real
from typing import Any

from ..feeds.errors import SqueezeLabError

ParamsTuple = tuple[tuple[str, Any], ...]
TYPES = ("bool", "int", "float", "str", "list", "date", "any")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


@functools.lru_cache(maxsize=256)
def _parse_interval(spec: str) -> tuple[float, float, bool, bool]:
    s = spec.strip()
    if len(s) < 5 or s[0] not in "([" or s[-1] not in ")]" or "," not in s:
        raise ValueError(f"bad interval {spec!r}")
    lo, hi = (float(x) for x in s[1:-1].split(","))
    return lo, hi, s[0] == "[", s[-1] == "]"


def in_interval(v: float, spec: str) -> bool:
    """Whether ``v`` lies in the interval ``spec`` (``"[0, 1]"``, ``"(0, inf)"``); NaN never does."""
    lo, hi, lo_closed, hi_closed = _parse_interval(spec)
    if math.isnan(v):
        return False
    ok_lo = v >= lo if lo_closed else v > lo
    ok_hi = v <= hi if hi_closed else v < hi
    return ok_lo and ok_hi


def parse_date(value: Any, head: str) -> str:
    """``YYYY-MM-DD`` (str or date) -> the ISO string; a time, a timezone or a bad day is refused."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None or value.time() != _dt.time(0):
            raise SqueezeLabError(f"{head}={value.isoformat()!r} has a time or timezone: "
                                  "give a plain date YYYY-MM-DD")
        value = value.date()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise SqueezeLabError(f"{head}={value!r} is not a date: give YYYY-MM-DD, e.g. 2025-01-02")
    text = value.strip()
    if not _DATE.match(text):
        raise SqueezeLabError(f"{head}={value!r} is not a date YYYY-MM-DD (no time, no timezone): "
                              "write e.g. 2025-01-02")
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError as err:
        raise SqueezeLabError(f"{head}={value!r} is not a calendar date ({err}): "
                              "write e.g. 2025-01-02") from err


def _json(v: Any) -> str:
    return json.dumps(list(v) if isinstance(v, tuple) else v)


@dataclass(frozen=True)
class Param:
    """One parameter: every fact about it, once.

    ``affects_result=False`` marks keys that change no number of a sweep row (labels, tables of
    the report): a sweep refuses them as axes. ``used_if = (text, predicate over the section's
    values)`` says when the key is read at all (``hedge_size`` only with the hedge_basket
    action); a sweep over a key no grid point reads is refused. ``cli`` names the flag that sets it;
    ``example`` is the value error messages suggest (default: the default).
    """

    name: str
    default: Any
    doc: str
    type: str = ""
    choices: tuple[Any, ...] = ()
    bounds: str = ""
    check: Callable[[Any], Any] | None = field(default=None, compare=False)
    affects_result: bool = True
    cli: str = ""
    used_if: tuple[str, Callable[[Mapping[str, Any]], bool]] | None = field(default=None,
                                                                           compare=False)
    example: Any = None

    def __post_init__(self) -> None:
        if not self.type:
            d = self.default
            kind = ("bool" if isinstance(d, bool) else "int" if _is_int(d) else "float"
                    if _is_real(d) else "str" if isinstance(d, str) else "list"
                    if isinstance(d, (tuple, list)) else "any")
            object.__setattr__(self, "type", kind)
        if self.type not in TYPES:
            raise ValueError(f"param {self.name}: type {self.type!r} is not one of {TYPES}")
        if isinstance(self.default, list):
            object.__setattr__(self, "default", tuple(self.default))
        if self.bounds:
            _parse_interval(self.bounds)
        if not self.doc.strip():
            raise ValueError(f"param {self.name} needs a one-line doc")

    # ------------------------------------------------------------------ validation
    def validate(self, value: Any, where: str = "") -> Any:
        """``value`` normalized to this parameter's type, or one SqueezeLabError naming the fix."""
        head = f"{where}.{self.name}" if where else self.name
        allowed = self.choices or None
        if self.type == "list":
            if isinstance(value, str):
                value = tuple(s.strip() for s in value.split(",") if s.strip())
            if not isinstance(value, (tuple, list)):
                example = self.example if self.example is not None else self.default
                literal = allowed and not any(isinstance(c, type) for c in allowed)
                raise SqueezeLabError(
                    f"{head}={value!r} is not a list: give a list such as {_json(example)}"
                    + (f" with items from {describe_choices(allowed)}" if literal else "")
                )
            items = []
            for item in value:
                if allowed is not None:
                    ok, item = _match_choice(item, allowed)
                    if not ok:
                        raise SqueezeLabError(f"{head}: {item!r} is not a valid item: use items "
                                              f"from {describe_choices(allowed)}")
                items.append(item)
            out: Any = tuple(items)
        elif allowed is not None:
            ok, out = _match_choice(value, allowed)
            if not ok:
                raise SqueezeLabError(f"{head}={value!r} is not valid: use one of "
                                      f"{describe_choices(allowed)}")
        elif self.type == "bool":
            if not isinstance(value, bool):
                try:
                    import numpy as np
                    if isinstance(value, np.bool_):
                        value = bool(value)
                except ImportError:  # pragma: no cover
                    pass
            if not isinstance(value, bool):
                raise SqueezeLabError(f"{head}={value!r} is not a bool: give true or false")
            out = value
        elif self.type == "int":
            if not _is_int(value):
                raise SqueezeLabError(f"{head}={value!r} is not an int: give a whole number "
                                      f"such as {self.default}")
            out = int(value)
        elif self.type == "float":
            if not _is_real(value):
                raise SqueezeLabError(f"{head}={value!r} is not a number: give a number such as "
                                      f"{self.default}")
            out = float(value)
            if math.isnan(out):
                raise SqueezeLabError(f"{head}=nan is not a number: give a number such as "
                                      f"{self.default}")
        elif self.type == "str":
            if not isinstance(value, str):
                raise SqueezeLabError(f"{head}={value!r} is not a string: give text such as "
                                      f"{self.default!r}")
            out = value
        elif self.type == "date":
            # an empty default means "not given" (data.start/end: the data's own range)
            out = "" if value == "" and self.default == "" else parse_date(value, head)
        else:
            out = value
        if self.bounds:
            for x in (out if isinstance(out, tuple) else (out,)):
                if _is_real(x) and not in_interval(float(x), self.bounds):
                    raise SqueezeLabError(f"{head}={x!r} is outside {self.bounds}: give a value "
                                          f"in {self.bounds}")
        if self.check is not None:
            out = self.check(out)
        return out

    # ------------------------------------------------------------------ text
    def type_text(self) -> str:
        if self.choices:
            base = describe_choices(self.choices)
            return f"list of: {base}" if self.type == "list" else f"one of: {base}"
        return {"float": "number", "date": "date YYYY-MM-DD"}.get(self.type, self.type)

    def default_text(self) -> str:
        return _json(self.default)


@dataclass(frozen=True)
class Relation:
    """A rule between parameters of one section: ``check(values)`` returns an error text or None."""

    doc: str
    check: Callable[[Mapping[str, Any]], str | None] = field(compare=False)


#: Names a parameter cannot take (methods of the section objects).
RESERVED = frozenset({"keys", "items", "values", "get", "as_dict", "replace", "SECTION"})


class SectionValues(Mapping):
    """Base of the frozen, typed section objects: attributes, and a read-only mapping as well
    (``cfg.book.gross``, ``cfg.book["gross"]``, ``**cfg.book``)."""

    __slots__ = ()
    SECTION: Section

    def __getitem__(self, key: str) -> Any:
        if key not in self.SECTION.names:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.SECTION.names)

    def __len__(self) -> int:
        return len(self.SECTION.names)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (tuples as lists, for JSON)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in ((k, getattr(self, k)) for k in self.SECTION.names)}

    def replace(self, **changes: Any) -> SectionValues:
        """A validated copy with ``changes`` applied."""
        return self.SECTION.resolve({**self.as_dict(), **changes})


@dataclass(frozen=True)
class Section:
    """One table of the config (``[book]``): its parameters in order, and their relations.

    ``enabled_by`` names a bool parameter that, when false, makes every other key of the section
    inert (a sweep over them is refused).
    """

    name: str
    doc: str
    params: tuple[Param, ...]
    relations: tuple[Relation, ...] = ()
    enabled_by: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"section {self.name}: parameter {sorted(dup)[0]!r} declared twice")
        taken = set(names) & RESERVED
        if taken:
            raise ValueError(f"section {self.name}: {sorted(taken)[0]!r} is a method of the "
                             "section object: name the parameter differently")
        cls = make_dataclass(
            f"{self.name.title().replace('_', '')}Config",
            [(p.name, Any) for p in self.params],
            bases=(SectionValues,), frozen=True, namespace={"SECTION": self},
        )
        object.__setattr__(self, "values_type", cls)

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """The parameters' names in order (asked on every key a run resolves: made once)."""
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise self.unknown(name)

    def unknown(self, key: Any) -> SqueezeLabError:
        close = difflib.get_close_matches(str(key), self.names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return SqueezeLabError(f"unknown key {self.name}.{key}{hint}: valid keys of "
                               f"[{self.name}] are {', '.join(self.names)}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def bt_params(self) -> ParamsTuple:
        """The backtrader ``params`` tuple: ``(name, default)`` pairs in order."""
        return tuple((p.name, p.default) for p in self.params)

    def resolve(self, given: Mapping[str, Any] | None = None) -> SectionValues:
        """Every parameter checked and defaulted, then the relations: a frozen, typed object."""
        given = {} if given is None else given
        if not isinstance(given, Mapping):
            raise SqueezeLabError(f"config section [{self.name}] must be a table of keys, "
                                  f"not {type(given).__name__}: write [{self.name}] then key = value")
        for k in given:
            if k not in self.names:
                raise self.unknown(k)
        values = {p.name: p.validate(given.get(p.name, p.default), self.name) for p in self.params}
        for rel in self.relations:
            msg = rel.check(values)
            if msg:
                raise SqueezeLabError(msg)
        return self.values_type(**values)

    def inert_reason(self, key: str, values: Mapping[str, Any],
                     sweep: bool = True) -> tuple[str, str] | None:
        """Why ``key`` changes nothing given the section's resolved ``values``, and what would
        make it matter; None when it matters. ``sweep=False``: keys that only shape the report
        (``affects_result=False``) matter to a run."""
        p = self.param(key)
        if sweep and not p.affects_result:
            return f"{self.name}.{key} changes no number of a sweep row", "drop the axis"
        if self.enabled_by and key != self.enabled_by and not values[self.enabled_by]:
            return (f"{self.name}.{self.enabled_by} is false, so {self.name}.{key} is never read",
                    f"add --set {self.name}.{self.enabled_by}=true")
        if p.used_if is not None and not p.used_if[1](values):
            return (f"{self.name}.{key} is only read when {self.name}.{p.used_if[0]}",
                    "set that first")
        return None

    def help_lines(self) -> list[str]:
        lines = [f"[{self.name}]"]
        for p in self.params:
            choice = f" ({p.type_text()})" if p.choices else ""
            lines.append(f"  {p.name} = {p.default_text()}  # {p.doc}{choice}")
        return lines


def describe_params(section: Section) -> list[dict[str, Any]]:
    """One dict per parameter (name, default, doc, type, choices, bounds) for screens and docs."""
    return [
        {"name": p.name, "default": list(p.default) if isinstance(p.default, tuple) else p.default,
         "doc": p.doc, "type": p.type_text(), "choices": describe_choices(p.choices),
         "bounds": p.bounds}
        for p in section.params
    ]


def check_params(section: Section, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``section.resolve(given)`` as a plain dict (values keep their types; lists stay tuples)."""
    return dict(section.resolve(given))


def section_fields(values: SectionValues) -> tuple[str, ...]:
    """Field names of a resolved section object (its section's parameter order)."""
    return tuple(f.name for f in fields(values))
