"""Sweep points resumed where their plans part: the twin's state at each plan row, shared.

The points of a sweep run one book on one market with the same execution, so their plans
(:class:`.execution.ActionPlan`) agree up to the overlay's first differing decision. The twin's
loop (:func:`.twin.run_vectorized`) is deterministic in its state at the top of each step, so a
point starts from the state an earlier point reached at the first step that reads the plan row
where they part: the held book and cash, the records before the held state's ``nxt`` (final by then), and
the borrow book's attributes, copied, not recomputed (arrays copied, lists as their items then:
items are only added). The result is bit-identical to a run from the start; only the rows before the
parting are not computed again.

Earlier runs are found through a trie of their plans' rows (cheap keys, then checked exactly).
A run keeps its state at the rows where earlier plans through the same rows part, and every
:data:`STEP` rows; the last :data:`RECENT` + :data:`OLD` runs are kept.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from .execution import ActionPlan

#: The twin's run (what it reads) and held state (``_Run`` and ``_Held`` of :mod:`.twin`, private
#: to it): read and rebuilt here through their attributes only.
Run = Any
Held = Any

#: Runs kept whole (the latest) and with only their plans, states and what the states reference
#: (older): about 4 MB each at N = 500 with 200 plan rows. On the benchmark's 10 x 10 x 10 grid
#: 9 in 10 of the rows shared are with the point one step back on the inner axis; the point ten
#: back adds a tenth more (16 runs kept: 22,281 plan rows resumed against 20,441, for 90 MB).
RECENT = 2
OLD = 0
#: A run keeps its state every ``STEP`` plan rows, and at the rows where the plans of earlier runs
#: through the same rows part (where the next ones are likely to part too).
STEP = 16


def row_keys(plan: ActionPlan) -> list[tuple[Any, ...]]:
    """One key per plan row (market row, reason, and weights, resize and exits each dotted with
    fixed numbers): rows with different keys differ; equal keys are checked by :func:`common_rows`."""
    n, names = plan.resize.shape
    size = plan.weights.shape[1] * names
    probe = np.random.default_rng(size).standard_normal(size + 2 * names)
    w = plan.weights.reshape(n, size) @ probe[:size]
    r = plan.resize @ probe[size:size + names]
    e = plan.exits @ probe[size + names:]
    return list(zip(np.asarray(plan.rows).tolist(), [hash(x) for x in plan.reasons], w.tolist(),
                    r.tolist(), e.tolist(), strict=True))


def common_rows(a: ActionPlan, b: ActionPlan, upto: int) -> int:
    """How many of the first ``upto`` plan rows of ``a`` and ``b`` are equal bit for bit (rows,
    weights, resize, exits and reasons)."""
    upto = min(upto, len(a.rows), len(b.rows))
    if upto == 0:
        return 0
    same = ((a.rows[:upto] == b.rows[:upto])
            & (a.weights[:upto].reshape(upto, -1).view(np.uint64)
               == b.weights[:upto].reshape(upto, -1).view(np.uint64)).all(axis=1)
            & (a.resize[:upto] == b.resize[:upto]).all(axis=1)
            & (a.exits[:upto] == b.exits[:upto]).all(axis=1)
            & np.array([x == y for x, y in zip(a.reasons[:upto], b.reasons[:upto], strict=True)],
                       dtype=bool))
    return upto if same.all() else int(np.argmin(same))


class _Items(tuple):
    """A list's items as they were (:func:`_freeze`)."""


def _freeze(state: dict[str, Any]) -> dict[str, Any]:
    """An object's attributes as they are now: arrays, dicts and sets copied, lists as a tuple
    of their items (a run only adds items, never changes one, so the items are not copied)."""
    out = dict(state)
    for k, v in state.items():
        t = type(v)
        if t is list:
            out[k] = _Items(v)
        elif t is np.ndarray or t is dict or t is set:
            out[k] = v.copy()
    return out


def _thaw(frozen: dict[str, Any]) -> dict[str, Any]:
    """Attributes for a run to go on from (:func:`_freeze`'s state, copied again)."""
    out = dict(frozen)
    for k, v in frozen.items():
        t = type(v)
        if t is _Items:
            out[k] = list(v)
        elif t is np.ndarray or t is dict or t is set:
            out[k] = v.copy()
    return out


@dataclass(frozen=True)
class _Mark:
    """A run's state at the first loop step that reads plan row ``k`` (its key in the marks)."""

    held: dict[str, Any]                      # the held state's attributes (:func:`_freeze`)
    book: dict[str, Any]                      # the borrow book's attributes (:func:`_freeze`)
    records: tuple[np.ndarray | None, ...]    # the run's records (rows before held.nxt final)


@dataclass
class _Trace:
    """One run: what it read (to check another run may resume from it), its plan, its marks by
    plan row and the rows it keeps a mark at besides every ``STEP``-th."""

    run: Run | SimpleNamespace | None
    plan: ActionPlan | None
    marks: dict[int, _Mark] = field(default_factory=dict)
    wanted: set[int] = field(default_factory=set)
    alive: bool = True

    def age(self) -> None:
        """Keep of the run only what :func:`_compatible` reads (its plan and marks stay)."""
        if not isinstance(self.run, SimpleNamespace):
            self.run = SimpleNamespace(**{k: getattr(self.run, k) for k in _SETUP})

    def drop(self) -> None:
        """Keep nothing (the trie may still point here until pruned)."""
        self.alive, self.marks, self.plan, self.wanted = False, {}, None, set()
        self.run = None


class _Node(dict):
    """A trie node: child nodes by the next plan row's key; ``trace``: the latest run through it
    (so when it was dropped, every run through the node was)."""

    __slots__ = ("trace",)


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


#: What :func:`_compatible` reads of a run.
_SETUP = ("market", "terms", "detail", "p", "book")


def _compatible(a: Run, b: Run) -> bool:
    """Runs whose loops do the same with the same plan: one market, borrow terms and execution,
    the same kind of result, and borrow books set up alike (their lists are state, restored)."""
    if a.market is not b.market or a.terms is not b.terms or a.detail != b.detail or a.p != b.p:
        return False
    va, vb = vars(a.book), vars(b.book)
    return va.keys() == vb.keys() and all(
        isinstance(va[k], list) or _same(va[k], vb[k]) for k in va)


class Checkpoints:
    """The marks of a sweep's runs, for :func:`.twin.run_vectorized` (``checkpoints=``).

    One per process: a run asks :meth:`resume` for the furthest state an earlier compatible run
    shares with it, and records its own at each step (:meth:`mark`); ``recent=0`` turns sharing
    off. ``rows_resumed`` counts the plan rows not run again. The marks read the runs' record
    arrays (which their results wrap): a caller must not change a result's equity in place.
    """

    def __init__(self, recent: int = RECENT, old: int = OLD) -> None:
        self.recent: deque[_Trace] = deque()
        self.old: deque[_Trace] = deque()
        self.sizes = (recent, old)
        self.roots: list[_Node] = []     # one trie per kind of run (see _compatible)
        self.current: _Trace | None = None
        self.rows_resumed = 0
        self.dropped = 0

    def resume(self, run: Run, held: Held) -> tuple[Run, Held, int]:
        """The run, its held state and plan row to start from (``held`` and 0 when no earlier
        run shares a plan row with it); ``run``'s records and borrow book set to match."""
        self.current = None
        if not self.sizes[0]:   # nothing kept: nothing to resume from or record
            return run, held, 0
        keys = row_keys(run.plan)
        root = self._root(run)
        src, k = self._best(root, keys, run.plan)
        trace = self.current = _Trace(run, run.plan)
        if src is not None:   # taken before inserting this run ages src
            trace.marks = {j: m for j, m in src.marks.items() if j <= k}
        self._insert(root, keys, trace)
        if src is None:
            return run, held, 0
        mark = trace.marks[k]
        start = mark.held["nxt"]
        for name, rec in zip(run.RECORDS, mark.records, strict=True):
            mine = getattr(run, name)
            if mine is not None:
                mine[:start] = rec[:start]
        vars(run.book).update(_thaw(mark.book))
        self.rows_resumed += k
        return run, type(held)(**_thaw(mark.held)), k

    def mark(self, run: Run, held: Held, k: int) -> None:
        """Record the state at the top of a loop step about to read plan row ``k`` (the first
        such step only: margin calls and recalls act between plan rows)."""
        trace = self.current
        if trace is None or trace.run is not run or k in trace.marks or (
                k % STEP and k not in trace.wanted):
            return
        trace.marks[k] = _Mark(_freeze(vars(held)), _freeze(vars(run.book)),
                               tuple(getattr(run, name) for name in run.RECORDS))

    def _root(self, run: Run) -> _Node:
        """The trie of the runs ``run`` may resume from (a new one if none is)."""
        self.roots = [r for r in self.roots if r.trace.alive]
        for root in self.roots:
            if _compatible(root.trace.run, run):
                return root
        root = _Node()
        self.roots.append(root)
        return root

    def _best(self, root: _Node, keys: list[tuple[Any, ...]], plan: ActionPlan
              ) -> tuple[_Trace | None, int]:
        """The latest run sharing the most plan rows with ``plan`` (checked exactly) and the
        plan row to resume at: the last it kept a state for, at or before the parting."""
        node, depth = root, 0
        for key in keys:
            child = node.get(key)
            if child is None:
                break
            if not child.trace.alive:   # every run through it was dropped
                del node[key]
                break
            node, depth = child, depth + 1
        if depth == 0:
            return None, 0
        src = node.trace
        same = common_rows(src.plan, plan, depth)
        k = max((j for j in src.marks if j <= same), default=0)
        return (src, k) if k else (None, 0)

    def _insert(self, root: _Node, keys: list[tuple[Any, ...]], trace: _Trace) -> None:
        """Put ``trace`` on its plan's path (the latest run through each node), note the rows
        where it parts from earlier plans (it keeps its state there), and age or drop the runs
        it pushes out."""
        node = root
        node.trace = trace
        for depth, key in enumerate(keys):
            child = node.get(key)
            if child is None:
                child = node[key] = _Node()
            if len(node) > 1:   # plans part at this row
                trace.wanted.add(depth)
            child.trace = trace
            node = child
        trace.wanted.add(len(keys))   # after the last row: where a run with the same plan resumes
        self.recent.append(trace)
        if len(self.recent) > self.sizes[0]:
            aged = self.recent.popleft()
            aged.age()
            self.old.append(aged)
        if len(self.old) > self.sizes[1]:
            self.old.popleft().drop()
            self.dropped += 1
            if self.dropped % max(1, self.sizes[1]) == 0:
                self._prune()

    def _prune(self) -> None:
        """Take the dropped runs' nodes out of the tries."""
        self.roots = [r for r in self.roots if r.trace.alive]
        todo = list(self.roots)
        while todo:
            node = todo.pop()
            for key in [key for key, child in node.items() if not child.trace.alive]:
                del node[key]
            todo.extend(node.values())
