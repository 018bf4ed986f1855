"""Sweep points resumed where their plans part: the twin's state at each plan row, shared.

The points of a sweep run one book on one market with the same execution, so their plans
(:class:`.execution.ActionPlan`) agree up to the overlay's first differing decision. The twin's
loop (:func:`.twin.run_vectorized`) is deterministic in its state at the top of each step, so a
point starts from the state an earlier point reached at the first step that reads the plan row
where they part: the held book and cash, the records before ``_Held.nxt`` (final by then), and
the borrow book's attributes, copied, not recomputed (arrays copied, lists by their length then:
they only grow). The result is bit-identical to a run from the start; only the rows before the
parting are not computed again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .execution import ActionPlan
from .twin import _Held, _Run

#: Runs kept to resume from (each holds its plan and one state per plan row: a few MB at
#: N = 500). A sweep's grid order puts the points that share most within a few grid steps.
KEEP = 12


@dataclass(frozen=True)
class _Keys:
    """A plan's rows in a form cheap to compare: the first row where two plans' keys differ is
    at or after the first row where the plans differ (checked exactly: :func:`common_rows`)."""

    rows: np.ndarray
    sums: np.ndarray       # (rows, 3): weights, resize and exits, each dotted with fixed numbers
    reasons: np.ndarray    # hash of each row's reason

    @classmethod
    def of(cls, plan: ActionPlan) -> _Keys:
        n, names = plan.resize.shape
        size = plan.weights.shape[1] * names
        probe = np.random.default_rng(size).standard_normal(size + 2 * names)
        w = plan.weights.reshape(n, size) @ probe[:size]
        r = plan.resize @ probe[size:size + names]
        e = plan.exits @ probe[size + names:]
        return cls(np.asarray(plan.rows, np.int64), np.column_stack([w, r, e]),
                   np.array([hash(x) for x in plan.reasons], dtype=np.int64))

    def agree(self, other: _Keys) -> int:
        """How many leading rows the two plans' keys agree on."""
        m = min(len(self.rows), len(other.rows))
        same = ((self.rows[:m] == other.rows[:m]) & (self.reasons[:m] == other.reasons[:m])
                & (self.sums[:m] == other.sums[:m]).all(axis=1))
        return m if same.all() else int(np.argmin(same))


def common_rows(a: ActionPlan, b: ActionPlan, upto: int) -> int:
    """How many of the first ``upto`` plan rows of ``a`` and ``b`` are equal bit for bit (rows,
    weights, resize, exits and reasons)."""
    upto = min(upto, len(a.rows), len(b.rows))
    if upto == 0:
        return 0
    wa = a.weights[:upto].reshape(upto, -1).view(np.uint64)
    wb = b.weights[:upto].reshape(upto, -1).view(np.uint64)
    same = ((a.rows[:upto] == b.rows[:upto]) & (wa == wb).all(axis=1)
            & (a.resize[:upto] == b.resize[:upto]).all(axis=1)
            & (a.exits[:upto] == b.exits[:upto]).all(axis=1)
            & np.array([x == y for x, y in zip(a.reasons[:upto], b.reasons[:upto], strict=True)],
                       dtype=bool))
    return upto if same.all() else int(np.argmin(same))


class _Prefix(tuple):
    """A list as it was: (the list, its length then); lists of a run's state only grow."""


def _freeze(state: dict[str, Any]) -> dict[str, Any]:
    """An object's attributes as they are now: arrays copied, lists as their current prefix."""
    out = dict(state)
    for k, v in state.items():
        if type(v) is np.ndarray:
            out[k] = v.copy()
        elif type(v) is list:
            out[k] = _Prefix((v, len(v)))
    return out


def _thaw(frozen: dict[str, Any]) -> dict[str, Any]:
    """Attributes for a run to go on from (:func:`_freeze`'s state, copied again)."""
    out = dict(frozen)
    for k, v in frozen.items():
        if type(v) is np.ndarray:
            out[k] = v.copy()
        elif type(v) is _Prefix:
            out[k] = v[0][:v[1]]
    return out


@dataclass(frozen=True)
class _Mark:
    """A run's state at the first loop step that reads plan row ``k`` (its index in the marks)."""

    held: dict[str, Any]                      # the held state's attributes (:func:`_freeze`)
    book: dict[str, Any]                      # the borrow book's attributes (:func:`_freeze`)
    records: tuple[np.ndarray | None, ...]    # the run's records (rows before held.nxt final)


@dataclass
class _Trace:
    """One run: what it read (to check another run may resume from it), its plan's keys, and
    its marks, one per plan row reached (and one after the last)."""

    run: _Run
    keys: _Keys
    marks: list[_Mark] = field(default_factory=list)


def _same(x: Any, y: Any) -> bool:
    """``x`` and ``y`` are the same input (arrays equal, anything else identical or equal)."""
    if x is y:
        return True
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and np.array_equal(x, y)
    try:
        return type(x) is type(y) and bool(x == y)
    except (TypeError, ValueError):   # e.g. dataclasses holding arrays: only identity counts
        return False


def _compatible(a: _Run, b: _Run) -> bool:
    """Runs whose loops do the same with the same plan: one market, borrow terms and execution,
    the same kind of result, and borrow books set up alike (their lists are state, restored)."""
    if a.market is not b.market or a.terms is not b.terms or a.detail != b.detail or a.p != b.p:
        return False
    va, vb = vars(a.book), vars(b.book)
    return va.keys() == vb.keys() and all(
        isinstance(va[k], list) or _same(va[k], vb[k]) for k in va)


class Checkpoints:
    """The marks of a sweep's recent runs, for :func:`.twin.run_vectorized` (``checkpoints=``).

    One per process: a run asks :meth:`resume` for the furthest state an earlier compatible run
    shares with it, and records its own at each step (:meth:`mark`); ``keep=0`` turns sharing
    off. ``rows_resumed`` counts the plan rows not run again.
    """

    def __init__(self, keep: int = KEEP) -> None:
        self.traces: deque[_Trace] = deque(maxlen=keep)
        self.current: _Trace | None = None
        self.rows_resumed = 0

    def resume(self, run: _Run, held: _Held) -> tuple[_Run, _Held, int]:
        """The run, its held state and plan row to start from (``held`` and 0 when no earlier
        run shares a plan row with it); ``run``'s records and borrow book set to match."""
        if self.traces.maxlen == 0:   # nothing kept: nothing to resume from or record
            self.current = None
            return run, held, 0
        keys = _Keys.of(run.plan)
        src, k = self._best(run, keys)
        trace = self.current = _Trace(run, keys)
        self.traces.append(trace)
        if src is None or k == 0:
            return run, held, 0
        mark = src.marks[k]
        trace.marks = src.marks[:k + 1]
        start = mark.held["nxt"]
        for name, rec in zip(_Run.RECORDS, mark.records, strict=True):
            mine = getattr(run, name)
            if mine is not None:
                mine[:start] = rec[:start]
        vars(run.book).update(_thaw(mark.book))
        self.rows_resumed += k
        return run, _Held(**_thaw(mark.held)), k

    def _best(self, run: _Run, keys: _Keys) -> tuple[_Trace | None, int]:
        """The kept run sharing the most plan rows with ``run`` (the latest on a tie), checked
        exactly, and the plan row to resume at (a mark it reached)."""
        best, agree = None, 0
        for trace in reversed(self.traces):
            n = min(trace.keys.agree(keys), len(trace.marks) - 1)
            if n > agree and _compatible(trace.run, run):
                best, agree = trace, n
        if best is None:
            return None, 0
        return best, common_rows(best.run.plan, run.plan, agree)

    def mark(self, run: _Run, held: _Held, k: int) -> None:
        """Record the state at the top of a loop step about to read plan row ``k`` (the first
        such step only: margin calls and recalls act between plan rows)."""
        trace = self.current
        if trace is None or trace.run is not run or len(trace.marks) != k:
            return
        trace.marks.append(_Mark(_freeze(vars(held)), _freeze(vars(run.book)),
                                 tuple(getattr(run, name) for name in _Run.RECORDS)))
