"""Display formatting shared by the HTML pages: value formats, labels, and table builders.

Pure functions from JSON values to text and :class:`Table` objects; no file is read here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .metric_formats import metric_format

DASH = "\u2014"

# ---------------------------------------------------------------------------------------------
# number formatting (kinds and labels from tearsheet.metric_formats)

def value_kind(key: str) -> str:
    """How a metric named ``key`` is displayed (see :mod:`tearsheet.metric_formats`)."""
    return metric_format(key).kind


def fmt_value(key: str, value: Any, kind: str | None = None) -> str:
    """Format one metric value for display from its key (or an explicit ``kind``).

    Returns and drawdowns as signed percentages, exposures and volatilities as percentages,
    ratios with 2 decimals, money with thousands separators, ISO date strings unchanged, missing
    values as an em dash.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(key, v, kind) for v in value) if value else DASH
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt_value(str(k), v)}" for k, v in value.items())
    kind = kind or value_kind(key)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return DASH
    if kind == "bool":
        return "yes" if x else "no"
    if kind == "spct":
        return f"{x * 100:+.2f}%".replace("+0.00%", "0.00%").replace("-0.00%", "0.00%")
    if kind == "pct":
        return f"{x * 100:.2f}%"
    if kind == "ratio":
        return f"{x:.2f}"
    if kind == "int":
        return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"
    if kind == "money":
        return f"{x:,.0f}"
    if kind == "money2":
        return f"{x:,.2f}"
    if kind == "sci":
        return f"{x:.2e}"
    if kind == "num1":
        return f"{x:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{x:,.4g}" if abs(x) < 1e6 else f"{x:,.0f}"


def label(key: str) -> str:
    """Human label for a metric key (``max_drawdown`` -> ``Max drawdown``), from the one table."""
    return metric_format(key).label


def _is_negative(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(float(value)) and float(value) < 0


# ---------------------------------------------------------------------------------------------
# tables


@dataclass
class Cell:
    text: str
    css: str = ""


@dataclass
class Table:
    """A labelled, formatted table ready for the template (``rows`` hold :class:`Cell`)."""

    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str = ""
    anchor: str = ""
    numeric: list[bool] = field(default_factory=list)
    highlight_rows: list[bool] = field(default_factory=list)


def cell(key: str, value: Any, kind: str | None = None) -> Cell:
    text = fmt_value(key, value, kind)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    css = "num" if numeric else ""
    if _is_negative(value) and text.startswith("-") and text.strip("-0.,%") and \
            (kind or value_kind(key)) in ("spct", "ratio", "num", "money", "money2"):
        css += " neg"
    return Cell(text, css.strip())


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys (lists are kept as values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool)) or (
        isinstance(v, list) and all(not isinstance(x, (Mapping, list)) for x in v))


def records_table(title: str, records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                  labels: Mapping[str, str] | None = None, kinds: Mapping[str, str] | None = None,
                  note: str = "", anchor: str = "", index: tuple[str, Sequence[str]] | None = None,
                  ) -> Table:
    """A table from a list of flat-ish dicts: one row each, columns in first-seen key order.

    Nested mappings become dotted columns (``by_leg.short`` shown as ``Short``); values that are
    lists of records are skipped here (rendered as their own tables by the caller). ``index`` is
    an optional leading (header, values) column such as episode names.
    """
    labels = dict(labels or {})
    kinds = dict(kinds or {})
    flat = [{k: v for k, v in flatten(r).items() if is_scalar(v)} for r in records]
    if columns is None:
        seen: dict[str, None] = {}
        for r in flat:
            for k in r:
                seen.setdefault(k, None)
        columns = list(seen)
    else:
        columns = [c for c in columns if any(c in r for r in flat)]
    heads = ([index[0]] if index else []) + [labels.get(c, label(c)) for c in columns]
    numeric = ([False] if index else []) + [
        any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in flat)
        for c in columns]
    rows = []
    for i, r in enumerate(flat):
        row = [Cell(str(index[1][i]), "key")] if index else []
        row += [cell(c, r.get(c), kinds.get(c)) for c in columns]
        rows.append(row)
    return Table(title, heads, rows, note=note, anchor=anchor, numeric=numeric)


def keyvalue_table(title: str, mapping: Mapping[str, Any], note: str = "", anchor: str = "",
                   kinds: Mapping[str, str] | None = None) -> Table:
    """A two-column (metric, value) table from a flat mapping of scalars."""
    kinds = dict(kinds or {})
    flat = {k: v for k, v in flatten(mapping).items() if is_scalar(v)}
    rows = []
    for k, v in flat.items():
        c = cell(k, v, kinds.get(k))
        c.css = (c.css + " num").strip() if "num" not in c.css else c.css
        rows.append([Cell(label(k) if "." not in k else " / ".join(label(p) for p in k.split(".")),
                          "key"), c])
    return Table(title, ["Metric", "Value"], rows, note=note, anchor=anchor, numeric=[False, True])


def generic_tables(title: str, obj: Any, anchor: str = "", depth: int = 0) -> list[Table]:
    """Tables for any JSON section: scalars -> key/value, records -> rows, named dicts -> rows.

    Used for sections whose schema is not known in advance (new analyzers add keys freely).
    """
    out: list[Table] = []
    if isinstance(obj, Mapping):
        if not obj:
            return out
        if all(isinstance(v, Mapping) for v in obj.values()):
            names = list(obj)
            out.append(records_table(title, [obj[n] for n in names], anchor=anchor,
                                     index=("", names)))
            for n in names:
                for k, v in obj[n].items():
                    if isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v) \
                            and depth < 2:
                        out += generic_tables(f"{title}: {n}, {label(k).lower()}", v,
                                              depth=depth + 1)
            return out
        scalars = {k: v for k, v in obj.items() if is_scalar(v) or isinstance(v, Mapping)}
        if scalars:
            out.append(keyvalue_table(title, scalars, anchor=anchor))
        for k, v in obj.items():
            if not (is_scalar(v) or isinstance(v, Mapping)) and depth < 2:
                out += generic_tables(f"{title}: {label(k).lower()}", v, depth=depth + 1)
        return out
    if isinstance(obj, list) and obj and all(isinstance(x, Mapping) for x in obj):
        out.append(records_table(title, obj, anchor=anchor))
    return out


# ---------------------------------------------------------------------------------------------
# reading metrics.json (tolerant of list- or dict-shaped sections)


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"book": {"gross": 2}}`` -> ``{"book.gross": 2}`` (lists kept as values)."""
    return flatten(config)


def config_diff(configs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Flattened config keys whose values differ between runs: ``{key: [value per run]}``.

    A key missing from some runs counts as different (its value there is ``None``). Keys are
    sorted; ``name`` is included when names differ.
    """
    flats = [flatten_config(c) for c in configs]
    keys = sorted(set().union(*flats)) if flats else []
    out: dict[str, list[Any]] = {}
    for k in keys:
        vals = [f.get(k) for f in flats]
        if any(v != vals[0] or (k in f) != (k in flats[0]) for v, f in zip(vals, flats, strict=True)):
            out[k] = vals
    return out


def param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return DASH
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(param_text(v) for v in value) + "]" if value else "[]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else '""'
