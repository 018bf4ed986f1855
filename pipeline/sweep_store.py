"""``sweep.csv``: its columns, its cells, rows streamed to disk, resume, and the final sorted file.

The same grid gives the same bytes with any executor, any number of workers, resumed or not.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.errors import SqueezeLabError

#: Metric columns of sweep.csv (after ``point`` and the grid keys); episode columns follow.
METRICS = ("annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
           "calmar_ratio", "final_equity", "turnover", "n_decisions")
EPISODE_METRICS = ("return", "max_drawdown_in_window", "depth")


def format_cell(v: Any) -> str:
    """A value as a sweep.csv cell: empty for None/NaN, true/false, repr of floats, JSON lists."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else repr(float(v))
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return str(v)


class SweepFile:
    """``sweep.csv`` written row by row (flushed and synced), then rewritten sorted by point.

    With ``resume`` an existing file is kept: its complete rows count as done (a torn last line,
    from a hard kill mid-write, is dropped), after checking it belongs to this grid: same columns
    and, when ``expected`` maps each point to its formatted grid values, the same values.
    """

    def __init__(self, path: Path, columns: list[str], resume: bool,
                 expected: Mapping[int, Sequence[str]] | None = None) -> None:
        self.path, self.columns = Path(path), list(columns)
        self.done: set[int] = set()
        body: list[list[str]] = []
        if resume and self.path.exists() and self.path.stat().st_size:
            body = self._read_previous(expected)
        self._rewrite(body)
        self.done = {int(r[0]) for r in body}
        self.fh = open(self.path, "a", newline="")  # noqa: SIM115 - kept open while rows stream in
        self.writer = csv.writer(self.fh, lineterminator="\n")

    def _read_previous(self, expected: Mapping[int, Sequence[str]] | None) -> list[list[str]]:
        stale = f"{self.path} was written for another grid: drop --resume or use another --out"
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise SqueezeLabError(f"{self.path} cannot be resumed ({err}): delete it and run again") from err
        if not text.endswith("\n"):
            text = text[:text.rfind("\n") + 1]  # a row torn by a hard kill: run it again
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            return []
        if rows[0] != self.columns:
            raise SqueezeLabError(stale)
        body: dict[int, list[str]] = {}
        n_keys = len(next(iter(expected.values()))) if expected else 0
        for r in rows[1:]:
            try:
                point = int(r[0])
            except (ValueError, IndexError) as err:
                raise SqueezeLabError(f"{self.path} has a malformed row {r[:3]}: delete it and "
                                      "run again") from err
            if len(r) != len(self.columns):
                raise SqueezeLabError(f"{self.path} row for point {point} has {len(r)} fields, "
                                      f"not {len(self.columns)}: delete it and run again")
            if expected is not None and (point not in expected
                                         or list(expected[point]) != r[1:1 + n_keys]):
                raise SqueezeLabError(stale)
            metric_cells = r[1 + n_keys:] if expected is not None else []
            for col, cell in zip(self.columns[1 + n_keys:], metric_cells, strict=False):
                try:
                    float(cell or "nan")
                except ValueError:
                    raise SqueezeLabError(f"{self.path} row for point {point} has {col}={cell!r}, "
                                          "not a number: delete it and run again") from None
            body.setdefault(point, r)
        return list(body.values())

    def _rewrite(self, body: list[list[str]]) -> None:
        """Header and ``body`` sorted by point, atomically (a crash leaves the old file)."""
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(self.columns)
            w.writerows(sorted(body, key=lambda r: int(r[0])))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (a point already written is skipped), flushed to disk before returning."""
        for row in rows:
            point = int(row["point"])
            if point in self.done:
                continue
            self.writer.writerow([format_cell(row.get(c)) for c in self.columns])
            self.done.add(point)
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def finish(self) -> pd.DataFrame:
        """Close, then rewrite sorted by point (atomic replace); return the frame."""
        self.fh.close()
        with open(self.path, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            body: dict[int, list[str]] = {}
            for r in reader:
                if len(r) == len(self.columns):  # a row cut short by an interruption: rerun it
                    body.setdefault(int(r[0]), r)
        self._rewrite(list(body.values()))
        return pd.read_csv(self.path)


def sweep_columns(axes: list[tuple[str, list[Any]]], episodes: Iterable[str]) -> list[str]:
    return (["point", *[k for k, _ in axes], *METRICS]
            + [f"{e}.{k}" for e in episodes for k in EPISODE_METRICS])


def drop_if_empty(folder: Path, fresh: bool) -> None:
    """A sweep folder this run created and that holds no finished row is removed (no half-made
    folder); one with rows stays for ``--resume``."""
    sheet = folder / "sweep.csv"
    if not fresh or not folder.exists():
        return
    try:
        lines = sheet.read_text().count("\n") if sheet.exists() else 0
    except OSError:
        return
    if lines <= 1:
        shutil.rmtree(folder, ignore_errors=True)
