"""The sweep's grid: ``--grid KEY=V1,V2`` parsed, every point resolved and every axis checked.

Nothing runs here: a bad axis or value fails before any market is built or folder written.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..feeds.errors import SqueezeLabError
from .config import Config, parse_value, resolve_config, set_key


def split_values(text: str) -> list[str]:
    """Split ``1,2,[a,b],"x,y"`` at top-level commas (brackets and quotes keep theirs)."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v != ""]


def parse_grid(specs: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["overlay.threshold=1,1.5", ...]`` -> ``[("overlay.threshold", [1, 1.5]), ...]``."""
    axes: list[tuple[str, list[Any]]] = []
    for spec in specs:
        if "=" not in spec:
            raise SqueezeLabError(f"--grid {spec!r} is not KEY=V1,V2,...: write e.g. --grid book.gross=1,2")
        key, values = (s.strip() for s in spec.split("=", 1))
        if not key:
            raise SqueezeLabError(f"--grid {spec!r} has no key: write e.g. --grid book.gross=1,2")
        vals = [parse_value(v) for v in split_values(values)]
        if not vals:
            raise SqueezeLabError(f"--grid {key} has no values: write e.g. --grid {key}=1,2")
        if any(k == key for k, _ in axes):
            raise SqueezeLabError(f"--grid {key} is given twice: give all its values in one --grid")
        if key.startswith("data."):
            raise SqueezeLabError(
                f"--grid {key}: a sweep varies the strategy on one market, built once; sweep "
                f"each market separately (e.g. --set {key}=...) or compare markets with `study`"
            )
        axes.append((key, vals))
    if not axes:
        raise SqueezeLabError("sweep needs at least one --grid KEY=V1,V2,... axis")
    return axes


@dataclass(frozen=True)
class Point:
    """One grid point: its index in grid order, its overrides and its fully resolved config."""

    index: int
    values: tuple[tuple[str, Any], ...]
    config: Config

    @property
    def book_key(self) -> str:
        """Points with the same book (and data) share the book's targets."""
        return json.dumps([self.config.book.as_dict(), self.config.data.as_dict()], sort_keys=True)


def grid_points(base: Mapping[str, Any], axes: list[tuple[str, list[Any]]]) -> list[Point]:
    """Every point of the grid, each config resolved (a bad value fails before any work), and
    every axis able to change the result (see :func:`check_axes`)."""
    points = []
    for i, combo in enumerate(itertools.product(*[vals for _, vals in axes])):
        raw = copy.deepcopy(dict(base))
        for (key, _), value in zip(axes, combo, strict=True):
            set_key(raw, key, value)
        cfg = resolve_config(raw, name=f"{base['name']}-p{i:04d}")
        points.append(Point(i, tuple((k, v) for (k, _), v in zip(axes, combo, strict=True)), cfg))
    check_axes(axes, points)
    return points


def check_axes(axes: list[tuple[str, list[Any]]], points: Sequence[Point]) -> None:
    """Refuse an axis that cannot change a sweep row: ``name``, a key no metric depends on, a key
    no grid point reads (overlay disabled, action not chosen), or a value given twice."""
    from ..strategies.spec import SECTIONS

    for key, values in axes:
        if key == "name":
            raise SqueezeLabError("--grid name: the run name changes no number of a sweep: drop "
                                  "this axis (the sweep is named by --name)")
        section, param = key.split(".", 1)
        spec = SECTIONS[section]
        reasons = [spec.inert_reason(param, p.config[section]) for p in points]
        if all(reasons):
            why, fix = reasons[0]
            fix = fix if fix == "drop the axis" else f"{fix}, or drop the axis"
            raise SqueezeLabError(f"--grid {key} cannot change the result: {why}: {fix}")
        seen: dict[str, Any] = {}
        for v in values:
            norm = json.dumps(spec.param(param).validate(v, section), default=str)
            if norm in seen:
                raise SqueezeLabError(f"--grid {key} gives the value {seen[norm]!r} twice (as "
                                      f"{v!r}): give each value once")
            seen[norm] = v
