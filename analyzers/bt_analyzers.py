"""Thin backtrader analyzers over the project's pure functions; they drop into anyone's Cerebro.

::

    cerebro.addanalyzer(EpisodeDrawdowns, _name="dd", top_n=5)
    cerebro.addanalyzer(LegAttribution, _name="legs")
    cerebro.addanalyzer(Exposures, _name="exp", betas={"AAA": 1.3})
    cerebro.addanalyzer(Performance, _name="perf", benchmark=index_returns)
    strat = cerebro.run()[0]
    strat.analyzers.dd.get_analysis()   # a plain, JSON-able dict

Each analyzer only *collects* per bar (broker value and cash in ``next()``, fills in
``notify_order``) and computes everything in ``stop()``; the closes it needs are read once at
``stop()`` from the feeds' own line buffers (:func:`closes_at`), not copied bar by bar (only
memory-saving buffers, which forget old bars, are still read per bar) by building a
:class:`strategies.result.BacktestResult` and calling the same pure functions as
:func:`analyzers.report.build_metrics` does for the vectorized twin. Daily bars are assumed (one
bar per date). ``get_analysis()`` returns plain python values: floats, ints, ISO date strings,
None for missing (never NaN).

Positions are rebuilt from fills; legs come from the strategy's ``leg_shares_log`` (or
``leg_log``) when it has one, else positions are classified by sign (long/short). Accepted log
forms: ``{leg: DataFrame dates x tickers}`` of end-of-day shares (the ``BacktestResult.leg_shares``
shape, change-only rows are forward-filled), ``{leg: array (bars x datas)}`` in ``strategy.datas``
order, or long records (a DataFrame or a list of dicts) with ``date``, ``leg``, ``ticker``,
``shares``; or SqueezeBook's ``leg_log``, a list of ``(signal date, array legs x tickers)``
held from the next bar (the fill) on, tickers in ``strategy.tickers`` order. Recording is
:class:`strategies.recorder.Recorder`'s (the engine's own recorder): borrow is the short interest
the broker charged through the commission scheme's ``interest`` (its ``d_credit``, with or
without ``int2pnl``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..feeds.episodes import Episode, applicable_episodes
from ..feeds.errors import SqueezeLabError
from ..strategies.recorder import Recorder, closes_at, day_index
from ..strategies.result import BacktestResult
from ..strategies.targets import LEGS
from .attribution import Attribution, attribute, top_names, window_legs
from .drawdowns import drawdown_summary
from .episodes import episode_drawdown, split_episodes
from .exposures import exposures, summarize_exposures
from .performance import performance_stats
from .report import SUMMARY_COLUMNS, canonical
from .warmup import measured_equity


def _returns(equity: pd.Series) -> pd.Series:
    """Daily returns of an equity curve with the first one 0 (as ``BacktestResult.returns()``)."""
    r = equity.pct_change(fill_method=None)
    if len(r):
        r.iloc[0] = 0.0
    return r


__all__ = ["EpisodeDrawdowns", "Exposures", "LegAttribution", "Performance", "closes_at"]


class _Collector(Recorder):
    """The project's recorder (dates, broker value/cash, borrow, closes when needed, fills) plus
    the result the analyzers compute on."""

    def start(self) -> None:
        super().start()
        self.rets_plain: dict[str, Any] = {}

    # ----------------------------------------------------------------- build
    def _equity(self) -> pd.Series:
        return pd.Series(self._value[:self._n].copy(), index=self._dates(), name="equity")

    def _measured_equity(self) -> pd.Series:
        """Broker value from the last close before the first fill on (the warm-up left out, as
        in :func:`analyzers.report.build_metrics`); the whole curve when nothing was filled."""
        eq = self._equity()
        if not self.fills["dt"]:
            return eq
        first = day_index(np.array([min(self.fills["dt"])]))[0]
        return measured_equity(eq, first)

    def _close_frame(self) -> pd.DataFrame:
        """Every data's close per bar, read once for all the analyzers of the strategy."""
        return self.once("closes", lambda: self.closes(shared=True))

    def _result(self) -> BacktestResult:
        """The run as a BacktestResult (one assembly: ``Recorder.result``, shared by the
        analyzers of the strategy), legs from the strategy's log when it has one."""
        result, self._legs_from, self._leg_mismatch = self.once("result", self._build_result)
        return result

    def _build_result(self) -> tuple[BacktestResult, str, float]:
        dates, names = self._dates(), self._names
        legs, source = _strategy_legs(self.strategy, dates, names)
        result = self.result(legs, strict=False, engine="backtrader-analyzer")
        if isinstance(legs, tuple):
            legs = result.leg_shares
        mismatch = _max_mismatch(legs, result.shares) if legs and len(dates) else 0.0
        return result, source, mismatch

    def get_analysis(self) -> dict[str, Any]:
        """The analysis as plain JSON-able python values (see the class docstring)."""
        return self.rets_plain


#: Rows per block of :func:`_max_mismatch` (its scratch is this many rows x names).
_ROWS = 256


def _max_mismatch(legs: Mapping[str, pd.DataFrame], shares: pd.DataFrame) -> float:
    """max |sum of the legs - shares| (shares): by blocks of rows when the frames share one
    grid (each number as the whole-array sum gives it; scratch of one block)."""
    frames = list(legs.values())
    if all(f.index.equals(shares.index) and f.columns.equals(shares.columns) for f in frames):
        arrays = [f.to_numpy(np.float64) for f in frames]
        sh = shares.to_numpy(np.float64)
        worst = []
        for a in range(0, len(sh), _ROWS):
            acc = arrays[0][a:a + _ROWS].copy()
            for x in arrays[1:]:
                acc += x[a:a + _ROWS]
            acc -= sh[a:a + _ROWS]
            worst.append(np.abs(acc, out=acc).max())
        return float(np.max(worst))
    return float(np.abs(sum(frames) - shares).to_numpy().max())


def _frame_from_records(rec: pd.DataFrame, dates: pd.DatetimeIndex, names: list[str]
                        ) -> dict[str, pd.DataFrame]:
    need = {"date", "leg", "ticker", "shares"}
    if not need <= set(rec.columns):
        raise SqueezeLabError(
            f"strategy leg log has columns {sorted(rec.columns)}: give date, leg, ticker, shares"
        )
    rec = rec.assign(date=pd.to_datetime(rec["date"]).dt.normalize().astype("datetime64[ns]"))
    out = {}
    for leg, sub in rec.groupby("leg", sort=True):
        wide = sub.pivot_table(index="date", columns="ticker", values="shares", aggfunc="sum")
        out[str(leg)] = wide
    return _reindex_legs(out, dates, names)


def _frame_from_signal_log(log: list[tuple[Any, Any]], tickers: Any, dates: pd.DatetimeIndex,
                           names: list[str]) -> dict[str, pd.DataFrame]:
    """``[(signal date, array legs x tickers)]`` (SqueezeBook's ``leg_log``): held from the bar
    after the signal date (the fill bar) on."""
    sig = pd.DatetimeIndex([pd.Timestamp(d) for d, _ in log]).normalize().astype("datetime64[ns]")
    rows = dates.searchsorted(sig, side="right")
    keep = rows < len(dates)
    states = np.stack([np.asarray(a, dtype=np.float64) for _, a in log])[keep]
    cols = [str(t) for t in tickers]
    if states.ndim != 3 or states.shape[1] != len(LEGS) or states.shape[2] != len(cols):
        raise SqueezeLabError(
            f"strategy leg_log entries have shape {states.shape[1:]}: expected "
            f"({len(LEGS)} legs, {len(cols)} tickers)"
        )
    idx = dates[rows[keep]]
    frames = {leg: pd.DataFrame(states[:, i], index=idx, columns=cols)
              for i, leg in enumerate(LEGS)}
    frames = {k: v[~v.index.duplicated(keep="last")] for k, v in frames.items()}
    return _reindex_legs(frames, dates, names)


def _reindex_legs(legs: Mapping[str, pd.DataFrame], dates: pd.DatetimeIndex, names: list[str]
                  ) -> dict[str, pd.DataFrame]:
    out = {}
    for leg in LEGS:
        df = legs.get(leg)
        if df is None:
            out[leg] = pd.DataFrame(0.0, index=dates, columns=names)
            continue
        df = df.copy()
        df.index = pd.DatetimeIndex(df.index).normalize().astype("datetime64[ns]")
        full = df.reindex(df.index.union(dates)).sort_index().ffill()
        out[leg] = full.reindex(index=dates, columns=names).fillna(0.0).astype(np.float64)
    unknown = set(legs) - set(LEGS)
    if unknown:
        raise SqueezeLabError(f"strategy leg log has unknown legs {sorted(unknown)}: use {LEGS}")
    return out


def _change_rows(log: Mapping[str, Any], dates: pd.DatetimeIndex, names: list[str]
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows, states legs x names)`` of a ``{leg: DataFrame}`` log of change-only rows
    (SqueezeBook's ``leg_shares_log``), for the result's leg frames to be built on first use
    (:class:`strategies.result.LegFrames`): the same numbers as :func:`_reindex_legs`, without
    its dates x names copies. None when the log is not in that simple form (all legs, one
    shared index of bar dates, increasing, finite float shares): then it is reindexed as usual.
    """
    if set(log) != set(LEGS) or not all(isinstance(v, pd.DataFrame) for v in log.values()):
        return None
    first = log[LEGS[0]]
    idx = pd.DatetimeIndex(first.index).normalize().astype("datetime64[ns]")
    if not all(v.index.equals(first.index) and v.columns.equals(first.columns)
               for v in log.values()):
        return None
    rows = dates.get_indexer(idx)
    if (rows < 0).any() or (len(rows) > 1 and not (np.diff(rows) > 0).all()):
        return None
    states = np.stack([log[leg].to_numpy(np.float64) for leg in LEGS], axis=1)
    if np.isnan(states).any():
        return None
    cols = pd.Index(first.columns).get_indexer(pd.Index(names))
    out = np.zeros((len(rows), len(LEGS), len(names)))
    have = cols >= 0
    out[:, :, have] = states[:, :, cols[have]]
    return rows, out


def _strategy_legs(strategy: bt.Strategy, dates: pd.DatetimeIndex, names: list[str]
                   ) -> tuple[Any, str]:
    """End-of-day shares per leg from the strategy's log, or (None, "sign") without one."""
    log = None
    for attr in ("leg_shares_log", "leg_log"):
        log = getattr(strategy, attr, None)
        if log is not None and len(log):
            break
        log = None
    if log is None:
        return None, "sign"
    if isinstance(log, pd.DataFrame):
        return _frame_from_records(log, dates, names), "strategy"
    if isinstance(log, list) and isinstance(log[0], tuple) and len(log[0]) == 2:
        return _frame_from_signal_log(log, getattr(strategy, "tickers", names), dates,
                                      names), "strategy"
    if isinstance(log, list):
        return _frame_from_records(pd.DataFrame(log), dates, names), "strategy"
    if isinstance(log, Mapping):
        change_rows = _change_rows(log, dates, names)
        if change_rows is not None:
            return change_rows, "strategy"
        frames = {}
        for leg, v in log.items():
            if isinstance(v, pd.DataFrame):
                frames[leg] = v
            else:
                arr = np.asarray(v, dtype=np.float64)
                if arr.ndim == 2 and arr.shape[1] == len(names) and arr.shape[0] < len(dates):
                    # logged from the strategy's next() only: no holdings in its prenext bars
                    pad = np.zeros((len(dates) - arr.shape[0], len(names)))
                    arr = np.vstack([pad, arr])
                if arr.ndim != 2 or arr.shape[1] != len(names) or arr.shape[0] != len(dates):
                    raise SqueezeLabError(
                        f"strategy leg log for {leg!r} has shape {arr.shape}: expected "
                        f"({len(dates)} bars, {len(names)} datas)"
                    )
                frames[leg] = pd.DataFrame(arr, index=dates, columns=names)
        return _reindex_legs(frames, dates, names), "strategy"
    raise SqueezeLabError(
        f"strategy leg log is a {type(log).__name__}: give a dict of DataFrames or records"
    )


def _episodes_param(episodes: Any, dates: pd.DatetimeIndex) -> dict[str, Episode]:
    """The episodes asked for; None: the built-ins the data reaches (the others do not apply)."""
    if episodes is None:
        return applicable_episodes(dates, partial=True)
    if isinstance(episodes, Mapping):
        return dict(episodes)
    return {e.name: e for e in episodes}


def _daily_lists(df: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {"dates": pd.DatetimeIndex(df.index).strftime("%Y-%m-%d").tolist()}
    for c in df.columns:
        out[str(c)] = df[c].to_numpy()   # canonical() turns float arrays into lists at once
    return out


class EpisodeDrawdowns(_Collector):
    """Drawdown table of the broker value and the drawdown inside each named episode.

    Params
    ------
    episodes : mapping name -> Episode, iterable of Episode, or None (the built-ins inside the data)
    top_n : int, rows of the drawdown table
    strict : bool, raise (SqueezeLabError) for an episode outside the data instead of skipping

    ``get_analysis()``: ``max_drawdown``, ``current_drawdown``, ``n_periods``, ``table``
    (see :func:`analyzers.drawdowns.drawdown_summary`), ``episodes`` {name:
    :func:`analyzers.episodes.episode_drawdown`}, ``skipped`` [{name, start, end, reason}].
    """

    params = (("episodes", None), ("top_n", 5), ("strict", False))

    def stop(self) -> None:
        eq = self._measured_equity()
        r = _returns(eq)
        out = drawdown_summary(r, top=self.p.top_n)
        eps = _episodes_param(self.p.episodes, eq.index)
        keep, skipped = split_episodes(eps, eq.index)
        if self.p.strict and skipped:
            from .episodes import check_episodes_in_range
            check_episodes_in_range(eps, eq.index)
        out["episodes"] = {n: episode_drawdown(eq, e) for n, e in keep.items()}
        out["skipped"] = skipped
        self.rets_plain = canonical(out)


class LegAttribution(_Collector):
    """Daily PnL by leg (long, short, hedge), commission and borrow; top names; per episode.

    Params
    ------
    top_k : int, contributors/detractors listed
    episodes : mapping/iterable of Episode or None (the built-ins); those outside the data skip
    attributes : pd.DataFrame or None, ``Market.attributes`` for the top-name records
    daily : bool, include the daily series (lists) in the analysis

    ``get_analysis()``: ``legs_from`` ("strategy" | "sign"), ``max_abs_leg_mismatch`` (shares:
    the strategy's legs vs the positions rebuilt from fills; 0 when consistent),
    ``max_abs_residual`` (money the holdings/fills/costs do not explain), ``overall``
    {legs, top_names}, ``episodes`` {name: {legs, top_names}}, ``daily`` {dates, long, short,
    hedge, commission, borrow, total, residual} (when ``daily``). See
    :mod:`analyzers.attribution`.
    """

    params = (("top_k", 5), ("episodes", None), ("attributes", None), ("daily", True))
    keep_closes = True

    def stop(self) -> None:
        result = self._result()
        attr: Attribution = attribute(result, self._close_frame(),
                                      initial_equity=self._start_cash)
        keep, skipped = split_episodes(_episodes_param(self.p.episodes, attr.dates), attr.dates)
        out: dict[str, Any] = {
            "legs_from": self._legs_from,
            "max_abs_leg_mismatch": self._leg_mismatch,
            "max_abs_residual": float(np.abs(attr.daily["residual"].to_numpy()).max())
            if len(attr.daily) else 0.0,
            "overall": {"legs": window_legs(attr),
                        "top_names": top_names(attr, k=self.p.top_k,
                                               attributes=self.p.attributes)},
            "episodes": {n: {"legs": window_legs(attr, e.start, e.end),
                             "top_names": top_names(attr, e.start, e.end, k=self.p.top_k,
                                                    attributes=self.p.attributes)}
                         for n, e in keep.items()},
            "skipped": skipped,
        }
        if self.p.daily:
            out["daily"] = _daily_lists(attr.daily)
        self.rets_plain = canonical(out)


class Exposures(_Collector):
    """Daily gross/net/long/short value, beta-adjusted net, names per leg, turnover, hedge size.

    Params
    ------
    betas : mapping ticker -> beta, pd.Series, or None (beta-adjusted net = net)
    episodes : mapping/iterable of Episode or None (the built-ins)
    daily : bool, include the daily series (lists)

    ``get_analysis()``: ``legs_from`` ("strategy" | "sign"), ``overall`` {column: {mean, max,
    min, at_start, at_end}} for :data:`analyzers.report.SUMMARY_COLUMNS`, ``episodes``
    {name: same}, ``daily`` {dates, column: [...]} (all columns of
    :func:`analyzers.exposures.exposures`, when ``daily``).
    """

    params = (("betas", None), ("episodes", None), ("daily", True))
    keep_closes = True

    def stop(self) -> None:
        result = self._result()
        betas = self.p.betas
        if betas is not None and not isinstance(betas, pd.Series):
            betas = pd.Series(dict(betas), dtype=np.float64)
        exp = exposures(result, self._close_frame(), betas=betas)
        self.frame = exp
        keep, skipped = split_episodes(_episodes_param(self.p.episodes, exp.index), exp.index)
        out: dict[str, Any] = {
            "legs_from": self._legs_from,
            "overall": summarize_exposures(exp, columns=SUMMARY_COLUMNS),
            "episodes": {n: summarize_exposures(exp, e.start, e.end, SUMMARY_COLUMNS)
                         for n, e in keep.items()},
            "skipped": skipped,
        }
        if self.p.daily:
            out["daily"] = _daily_lists(exp)
        self.rets_plain = canonical(out)


class Performance(_Collector):
    """Annual return, volatility, Sharpe, Sortino, Calmar, max drawdown, tail ratio, alpha/beta,
    hit rate of the broker value: :func:`analyzers.performance.performance_stats` (empyrical).

    Params
    ------
    benchmark : pd.Series of daily returns (indexed by date), a data feed (its closes are
        collected), or None
    risk_free : float, constant daily risk-free return

    Returns follow ``BacktestResult.returns()`` (the first bar's is 0 and left out) over the
    measured period (from the first fill on; the warm-up before it is left out), so the numbers
    match :func:`analyzers.report.build_metrics` on the same run.
    """

    params = (("benchmark", None), ("risk_free", 0.0))

    def start(self) -> None:
        super().start()
        self._bench: list[float] = []

    def next(self) -> None:
        super().next()
        b = self.p.benchmark
        if isinstance(b, bt.AbstractDataBase):
            self._bench.append(b.close[0] if len(b) else np.nan)

    def stop(self) -> None:
        eq = self._measured_equity()
        r = _returns(eq)
        b = self.p.benchmark
        bench, name = None, None
        if isinstance(b, bt.AbstractDataBase):
            c = pd.Series(np.asarray(self._bench, dtype=np.float64), index=self._dates())
            bench = c.pct_change(fill_method=None)
            name = b._name or "benchmark"
        elif isinstance(b, pd.Series):
            bench = b.copy()
            bench.index = pd.DatetimeIndex(bench.index).normalize().astype("datetime64[ns]")
            name = str(b.name) if b.name is not None else "benchmark"
        self.returns = r
        self.rets_plain = canonical(performance_stats(r, benchmark=bench, risk_free=self.p.risk_free,
                                                      benchmark_name=name))
