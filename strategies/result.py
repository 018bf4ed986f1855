"""What an engine returns: the same shape from backtrader and from the vectorized twin.

Both engines (and the backtrader analyzers' collector) hand what they recorded — per-bar equity,
cash and borrow, the fills, the leg shares set at each fill bar — to one assembly,
:meth:`BacktestResult.from_fills`, so holdings, legs, trades and costs are derived one way.
Analyzers' pure functions take these frames, so a sweep on the twin gets the same measures as a
backtrader run, and the reconciliation test compares two of these.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .targets import LEGS, Targets

#: Columns of ``BacktestResult.trades`` (one row per fill; size signed: + buy, - sell).
TRADE_COLUMNS = ("date", "ticker", "size", "price", "commission", "leg")

#: Columns of ``BacktestResult.margin_calls``: one row per account-limit action
#: (:mod:`strategies.limits`): the signal close, the open it fills at, the rule
#: ("max_leverage": maintenance margin, "cash": funding), equity, gross and gross / equity before
#: and after, the cash left after the orders (at the signal close) and the factor applied.
MARGIN_CALL_COLUMNS = ("date", "fill_date", "rule", "equity", "gross", "leverage",
                       "leverage_after", "cash_after", "scale")


@dataclass(frozen=True)
class Fills:
    """Every fill of a run as parallel arrays: market row of the fill bar, ticker column, signed
    size, fill price, commission (money), and the order's leg / reason labels (object arrays,
    or the trades table's columns ready made, :func:`label_array`)."""

    rows: np.ndarray
    cols: np.ndarray
    size: np.ndarray
    price: np.ndarray
    commission: np.ndarray
    leg: np.ndarray
    reason: np.ndarray

    @classmethod
    def from_parts(cls, parts: Sequence[Mapping[str, np.ndarray]]) -> Fills:
        """Concatenate per-signal batches (dicts with the field names) into one record."""
        dtypes = {"rows": np.int64, "cols": np.int64, "size": np.float64, "price": np.float64,
                  "commission": np.float64, "leg": object, "reason": object}
        return cls(**{k: (np.concatenate([np.asarray(p[k]) for p in parts]).astype(t)
                          if parts else np.zeros(0, dtype=t)) for k, t in dtypes.items()})

    def frame(self, dates: pd.DatetimeIndex, tickers: pd.Index) -> pd.DataFrame:
        """The trades table (:data:`TRADE_COLUMNS` + reason)."""
        return pd.DataFrame({
            "date": pd.DatetimeIndex(dates[self.rows], name=None),
            "ticker": pd.Index(np.asarray(tickers, dtype=object)[self.cols], dtype=object),
            "size": self.size,
            "price": self.price,
            "commission": self.commission,
            "leg": self.leg,
            "reason": self.reason,
        })

    def shares(self, n_rows: int, n_names: int) -> np.ndarray:
        """End-of-day net shares (rows x names) as the running sum of fills (summed over the
        fill rows only, then held to the next: the same additions)."""
        if len(self.rows) == 0:
            return np.zeros((n_rows, n_names))
        rows, at = np.unique(self.rows, return_inverse=True)
        delta = np.zeros((len(rows) + 1, n_names))   # row 0: nothing held before the first fill
        np.add.at(delta, (at + 1, self.cols), self.size)
        held = np.diff(np.concatenate(([0], rows, [n_rows])))
        return np.repeat(np.cumsum(delta, axis=0), held, axis=0)

    def commission_by_row(self, n_rows: int) -> np.ndarray:
        """Commission paid per market row."""
        out = np.zeros(n_rows)
        np.add.at(out, self.rows, self.commission)
        return out


def label_array(names: Sequence[str], codes: np.ndarray) -> Any:
    """``names[codes]`` as a trades table column holds it: the dtype pandas infers for the names
    (its string dtype), taken from the few names instead of converting one string per fill."""
    return _names_array(tuple(names)).take(np.asarray(codes, np.int64))


@functools.lru_cache(maxsize=64)
def _names_array(names: tuple[str, ...]) -> Any:
    """The array pandas infers for a few label names (made once per set of names; read only:
    ``take`` returns a new array)."""
    return pd.Series(np.asarray(names, dtype=object)).array


def legs_from_log(n_rows: int, n_names: int, fill_rows: np.ndarray,
                  leg_states: np.ndarray) -> np.ndarray:
    """End-of-day shares per leg (legs x rows x names) from the leg shares set at each fill row
    (ascending; of equal rows the last counts), held until the next."""
    out = np.zeros((len(LEGS), n_rows, n_names))
    if len(fill_rows) == 0:
        return out
    fill_rows = np.asarray(fill_rows, dtype=np.int64)
    states = np.asarray(leg_states)  # (k, legs, names)
    held = np.diff(np.append(fill_rows, n_rows))   # rows each state is held
    for i in range(len(LEGS)):
        out[i, fill_rows[0]:] = np.repeat(states[:, i, :], held, axis=0)
    return out


class LegFrames(Mapping[str, pd.DataFrame]):
    """``{leg: DataFrame dates x tickers}`` of end-of-day shares, each frame built on first use
    from the leg shares set at each fill row (:func:`legs_from_log`'s rule, one leg at a time).

    What ``BacktestResult.leg_shares`` holds when an engine hands its fills log over: a run that
    never looks at its legs (a sweep, a reconciliation) does not build three dates x tickers
    frames. Behaves as a read-only dict.
    """

    def __init__(self, dates: pd.DatetimeIndex, tickers: pd.Index, fill_rows: np.ndarray,
                 leg_states: np.ndarray | Sequence[np.ndarray]) -> None:
        self._dates, self._tickers = dates, tickers
        self._rows = np.asarray(fill_rows, dtype=np.int64)
        self._given = leg_states   # stacked on first use (a list of states, or an array)
        self._frames: dict[str, pd.DataFrame] = {}

    @functools.cached_property
    def _states(self) -> np.ndarray:
        """The leg states (fills x legs x names)."""
        return np.asarray(self._given, dtype=np.float64).reshape(
            len(self._rows), len(LEGS), len(self._tickers))

    def __getitem__(self, leg: str) -> pd.DataFrame:
        if leg not in self._frames:
            i = LEGS.index(leg) if leg in LEGS else None
            if i is None:
                raise KeyError(leg)
            out = np.zeros((len(self._dates), len(self._tickers)))
            if len(self._rows):   # each state's row copied into the rows it is held (no
                held = np.diff(np.append(self._rows, len(self._dates)))   # repeated temporary)
                np.take(self._states[:, i, :], np.repeat(np.arange(len(held)), held), axis=0,
                        out=out[self._rows[0]:], mode="clip")   # (in range; "raise" buffers)
            self._frames[leg] = pd.DataFrame(out, index=self._dates, columns=self._tickers,
                                             copy=False)
        return self._frames[leg]

    def __iter__(self) -> Iterator[str]:
        return iter(LEGS)

    def __len__(self) -> int:
        return len(LEGS)

    def __repr__(self) -> str:
        return f"LegFrames({len(self._dates)} dates x {len(self._tickers)} tickers, {list(LEGS)})"


def frames_by_leg(legs: np.ndarray, dates: pd.DatetimeIndex, tickers: pd.Index) -> dict[str, pd.DataFrame]:
    """{leg: DataFrame dates x tickers} from a (legs, rows, names) array (not copied)."""
    return {leg: pd.DataFrame(legs[i], index=dates, columns=tickers, copy=False)
            for i, leg in enumerate(LEGS)}


def costs_frame(dates: pd.DatetimeIndex, commission: np.ndarray, borrow: np.ndarray) -> pd.DataFrame:
    """Per-date costs (money paid): columns commission and borrow."""
    return pd.DataFrame({"commission": commission, "borrow": borrow}, index=dates)


@functools.cache
def _no_margin_calls() -> pd.DataFrame:
    """The empty margin-call log, typed (built once; handed out as copies)."""
    return pd.DataFrame({c: np.zeros(0, "datetime64[s]") if c in ("date", "fill_date")
                         else np.zeros(0, object if c == "rule" else np.float64)
                         for c in MARGIN_CALL_COLUMNS})


def margin_calls_frame(records: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """The margin-call log (:data:`MARGIN_CALL_COLUMNS`) from one dict per call."""
    if not records:   # the usual case (a sweep makes many): copies of one typed empty table
        return _no_margin_calls().copy()
    frame = pd.DataFrame(list(records), columns=list(MARGIN_CALL_COLUMNS))
    for col in ("date", "fill_date"):
        frame[col] = pd.to_datetime(frame[col])
    frame["rule"] = frame["rule"].astype(object)
    for col in MARGIN_CALL_COLUMNS[3:]:
        frame[col] = frame[col].astype(np.float64)
    return frame


class Deferred:
    """A value built on first read, once (``BacktestResult.from_fills`` hands one to a
    :class:`BuiltOnRead` field): copies of the result share it, and it pickles (and deep-copies)
    as the built value."""

    __slots__ = ("_build", "_value")

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build: Callable[[], Any] | None = build
        self._value: Any = None

    def get(self) -> Any:
        """The value, built on the first call."""
        if self._build is not None:
            self._value, self._build = self._build(), None
        return self._value

    def __reduce__(self) -> tuple[Callable[[Any], Any], tuple[Any]]:
        return _as_given, (self.get(),)


def _as_given(value: Any) -> Any:
    """What an unpickled :class:`Deferred` becomes: its built value."""
    return value


class BuiltOnRead:
    """A dataclass field (no default) that may be given a :class:`Deferred`, read as its built
    value; any other value is stored and read as given (so construction, assignment, equality,
    ``repr`` and ``dataclasses.replace`` see the built value)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:   # class access: dataclasses then give the field no default
            raise AttributeError(self._name)
        value = obj.__dict__[self._name]
        return value.get() if isinstance(value, Deferred) else value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self._name] = value


def shares_frame(fills: Fills, dates: pd.DatetimeIndex, tickers: pd.Index) -> pd.DataFrame:
    """End-of-day net shares (dates x tickers) from the fills (:meth:`Fills.shares`)."""
    return pd.DataFrame(fills.shares(len(dates), len(tickers)), index=dates, columns=tickers,
                        copy=False)   # a new array, not shared


@dataclass
class BacktestResult:
    """Daily equity, holdings by leg, fills and costs of one run.

    - ``equity``/``cash``: portfolio value and cash at each close (index: market dates).
    - ``shares``: end-of-day shares held per ticker (from :meth:`from_fills`: built on first
      read, :class:`BuiltOnRead`); ``leg_shares[leg]`` the same split by leg (long, short,
      hedge), summing to ``shares`` (a dict, or :class:`LegFrames` that builds each leg's frame
      on first use).
    - ``trades``: one row per fill, columns :data:`TRADE_COLUMNS` (+ anything else).
    - ``costs``: per date, columns ``commission`` and ``borrow`` (money, positive = paid).
    - ``overlay_log``: one row per overlay decision (date, signal, action, size, ...).
    - ``margin_calls``: one row per account-limit action (:data:`MARGIN_CALL_COLUMNS`): a close
      whose gross/equity crossed ``execution.max_leverage`` (cut at the next open), or orders cut
      to keep ``execution.cash_buffer``.
    - ``borrow_record``: per-name borrow charged, fees in force, locate cuts and recalls
      (:class:`strategies.borrow.BorrowRecord`; None from an engine that does not keep it).
    """

    equity: pd.Series
    cash: pd.Series
    shares: pd.DataFrame = BuiltOnRead()   # type: ignore[assignment]
    leg_shares: Mapping[str, pd.DataFrame]
    trades: pd.DataFrame
    costs: pd.DataFrame
    targets: Targets | None = None
    overlay_log: pd.DataFrame = field(default_factory=pd.DataFrame)
    engine: str = ""
    rejected_orders: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    margin_calls: pd.DataFrame = field(default_factory=margin_calls_frame)
    borrow_record: Any = None  # strategies.borrow.BorrowRecord

    @classmethod
    def from_fills(cls, dates: pd.DatetimeIndex, tickers: pd.Index, *, equity: np.ndarray,
                   cash: np.ndarray, borrow: np.ndarray, fills: Fills,
                   legs: tuple[np.ndarray, np.ndarray] | Mapping[str, pd.DataFrame] | None,
                   **rest: Any) -> BacktestResult:
        """The one result assembly of every engine.

        Parameters
        ----------
        dates, tickers : the market's rows and columns (fills index them by position).
        equity, cash : per-row portfolio value and cash at the close.
        borrow : per-row borrow charged (money, positive = paid).
        fills : every fill (:class:`Fills`; not changed afterwards: ``shares`` reads it when
            first read).
        legs : ``(fill_rows, leg_states)`` — the leg shares (legs x names) set at each fill row,
            held until the next — or ready ``{leg: DataFrame}`` frames, or None (no leg split).
        **rest : the other fields (targets, overlay_log, engine, rejected_orders, info,
            margin_calls).
        """
        leg_shares: Mapping[str, pd.DataFrame]
        if isinstance(legs, tuple):
            leg_shares = LegFrames(dates, tickers, *legs)   # built on first use
        else:
            leg_shares = dict(legs or {})
        return cls(
            equity=pd.Series(np.asarray(equity, np.float64), index=dates, name="equity"),
            cash=pd.Series(np.asarray(cash, np.float64), index=dates, name="cash"),
            shares=Deferred(functools.partial(shares_frame, fills, dates, tickers)),
            leg_shares=leg_shares,
            trades=fills.frame(dates, tickers),
            costs=costs_frame(dates, fills.commission_by_row(len(dates)),
                              np.asarray(borrow, dtype=np.float64)),
            **rest,
        )

    def returns(self) -> pd.Series:
        """Daily simple returns of the equity curve (first day 0)."""
        r = self.equity.pct_change(fill_method=None)
        r.iloc[0] = 0.0
        return r
