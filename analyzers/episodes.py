"""Episodes of a run: named windows checked against the data, detected windows, episode drawdowns.

Named episodes come from :mod:`feeds.episodes` (built-in + the user's ``NAME:START:END``).
Detected episodes are junk-rally spells (a signal above a threshold) and the book's own worst
drawdowns, merged when they overlap. For each window, :func:`episode_drawdown` measures the
drawdown the book was in at its worst point inside the window.

Window conventions follow :func:`feeds.episodes.window_return`: a window covers the trading
sessions in ``[start, end]`` (both included) and its return runs from the close *before* the
first session to the close of the last one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..feeds.episodes import EPISODES, Episode
from ..feeds.errors import SqueezeLabError
from .drawdowns import drawdown_periods, drawdown_series, max_drawdown

#: Default junk-rally detector: relative return of the most-shorted basket over the index across
#: this many sessions ...
DEFAULT_JUNK_WINDOW = 10
#: ... above this threshold (practitioners' rule of thumb: +15% in two weeks keeps squeezing; the
#: relative version at 10% catches the scenario's June-July 2025 and January 2026 episodes).
DEFAULT_JUNK_THRESHOLD = 0.10

KIND_NAMED = "named"
KIND_JUNK = "junk_rally"
KIND_DRAWDOWN = "drawdown"


def iso_day(ts: Any) -> str:
    """A date as ``YYYY-MM-DD`` (episode names, windows and error messages)."""
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def session_mask(dates: pd.DatetimeIndex, start: Any, end: Any) -> np.ndarray:
    """Boolean mask of the sessions of ``dates`` inside ``[start, end]`` (both included).

    Parameters
    ----------
    dates : pd.DatetimeIndex
        Trading dates (sorted).
    start, end : date-like
        Window bounds.

    Returns
    -------
    np.ndarray
        bool, one per date.
    """
    d = np.asarray(pd.DatetimeIndex(dates), dtype="datetime64[ns]")
    lo = np.datetime64(pd.Timestamp(start).as_unit("ns"))
    hi = np.datetime64(pd.Timestamp(end).as_unit("ns"))
    return (d >= lo) & (d <= hi)


def is_builtin(episode: Episode) -> bool:
    """True when ``episode`` is one of :data:`feeds.episodes.EPISODES`, unchanged."""
    return EPISODES.get(episode.name) == episode


def check_episodes_in_range(episodes: Mapping[str, Episode] | Iterable[Episode],
                            dates: pd.DatetimeIndex) -> None:
    """Raise when an episode has no trading session inside the data.

    Parameters
    ----------
    episodes : mapping or iterable of Episode
        Typically the user-named ones (built-ins outside the data are skipped instead).
    dates : pd.DatetimeIndex
        The run's trading dates.

    Raises
    ------
    SqueezeLabError
        ``episode X (start..end) is outside the data (a..b): ...`` naming the first offender.
    """
    eps = episodes.values() if isinstance(episodes, Mapping) else episodes
    if len(dates) == 0:
        raise SqueezeLabError("no trading dates to check episodes against: load some data first")
    for ep in eps:
        if not session_mask(dates, ep.start, ep.end).any():
            raise SqueezeLabError(
                f"episode {ep.name} ({iso_day(ep.start)}..{iso_day(ep.end)}) is outside the data "
                f"({iso_day(dates[0])}..{iso_day(dates[-1])}): pick an episode window inside the data "
                "or load data that covers it"
            )


def split_episodes(episodes: Mapping[str, Episode], dates: pd.DatetimeIndex
                   ) -> tuple[dict[str, Episode], list[dict[str, Any]]]:
    """Separate episodes with sessions in the data from those without (skipped, with a reason).

    Parameters
    ----------
    episodes : mapping name -> Episode
    dates : pd.DatetimeIndex

    Returns
    -------
    (dict, list)
        Episodes to analyze (same order) and skipped records ``{name, start, end, reason}``.
    """
    keep: dict[str, Episode] = {}
    skipped: list[dict[str, Any]] = []
    for name, ep in episodes.items():
        if len(dates) and session_mask(dates, ep.start, ep.end).any():
            keep[name] = ep
        else:
            span = f"{iso_day(dates[0])}..{iso_day(dates[-1])}" if len(dates) else "empty"
            skipped.append({"name": name, "start": iso_day(ep.start), "end": iso_day(ep.end),
                            "reason": f"outside the data ({span})"})
    return keep, skipped


# --------------------------------------------------------------------------- detection
def default_junk_signal(reference: pd.DataFrame, window: int = DEFAULT_JUNK_WINDOW) -> pd.Series:
    """Trailing ``window``-session return of the most-shorted basket minus the index's.

    Parameters
    ----------
    reference : pd.DataFrame
        ``Market.reference`` (daily simple returns; needs ``most_shorted``, uses ``index`` if any).
    window : int
        Sessions compounded.

    Returns
    -------
    pd.Series
        NaN for the first ``window - 1`` sessions; empty when ``most_shorted`` is missing.
    """
    if reference is None or reference.empty or "most_shorted" not in reference.columns:
        return pd.Series(dtype=np.float64)

    def trailing(r: pd.Series) -> pd.Series:
        lw = np.log1p(r.fillna(0.0).astype(np.float64))
        return np.expm1(lw.rolling(window, min_periods=window).sum())

    sig = trailing(reference["most_shorted"])
    if "index" in reference.columns:
        sig = sig - trailing(reference["index"])
    return sig.rename("junk_signal")


def signal_spells(signal: pd.Series, threshold: float, min_sessions: int = 1,
                  lookback: int = 0) -> list[Episode]:
    """Windows where ``signal > threshold`` on consecutive sessions.

    Parameters
    ----------
    signal : pd.Series
        Indexed by trading date (bool or numeric; NaN is "off").
    threshold : float
        Strict lower bound for "on".
    min_sessions : int
        Shorter spells are dropped.
    lookback : int
        Extend each spell's start back by this many sessions (a trailing-window signal turns on
        only at the end of the move it measures), clipped to the first date.

    Returns
    -------
    list of Episode
        In time order, described as ``junk_rally``.
    """
    if signal is None or len(signal) == 0:
        return []
    v = np.asarray(signal, dtype=np.float64)
    on = np.nan_to_num(v, nan=-np.inf) > threshold
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    idx = signal.index
    out = []
    for a, b in zip(starts, ends, strict=True):
        if b - a + 1 < min_sessions:
            continue
        s = max(int(a) - int(lookback), 0)
        out.append(Episode(f"junk_rally_{iso_day(idx[s])}", idx[s], idx[b], KIND_JUNK))
    return out


def drawdown_windows(returns: pd.Series, top: int = 5, min_depth: float = 0.0) -> list[Episode]:
    """The ``top`` worst drawdowns as windows from the session after the peak to the valley.

    The window's return (close before start to close of end) is the drawdown itself.

    Parameters
    ----------
    returns : pd.Series
        Daily simple returns of the book indexed by date.
    top : int
        Number of drawdowns.
    min_depth : float
        Keep only drawdowns deeper than this (a positive fraction, e.g. 0.01).

    Returns
    -------
    list of Episode
        In time order, described as ``drawdown``.
    """
    dd = np.asarray(drawdown_series(returns), dtype=np.float64)
    periods = sorted(drawdown_periods(dd), key=lambda p: (dd[p[1]], p[1]))[: max(int(top), 0)]
    idx = returns.index
    out = []
    for peak, valley, _ in sorted(periods, key=lambda p: p[1]):
        if dd[valley] >= -abs(min_depth) or dd[valley] >= 0:
            continue
        s = idx[peak + 1]
        out.append(Episode(f"drawdown_{iso_day(s)}", s, idx[valley], KIND_DRAWDOWN))
    return out


def merge_windows(windows: Iterable[Episode]) -> list[Episode]:
    """Merge windows whose date ranges overlap (inclusive ends) into their union.

    Parameters
    ----------
    windows : iterable of Episode
        ``description`` holds the kind(s), ``+``-separated.

    Returns
    -------
    list of Episode
        Sorted, pairwise disjoint (``prev.end < next.start``), named ``detected_<start>_<end>``,
        described by the sorted union of the merged kinds.
    """
    ws = sorted(windows, key=lambda w: (w.start, w.end, w.name))
    groups: list[list[Any]] = []
    for w in ws:
        kinds = set(filter(None, w.description.split("+")))
        if groups and w.start <= groups[-1][1]:
            g = groups[-1]
            g[1] = max(g[1], w.end)
            g[2] |= kinds
        else:
            groups.append([w.start, w.end, kinds])
    return [Episode(f"detected_{iso_day(s)}_{iso_day(e)}", s, e, "+".join(sorted(k))) for s, e, k in groups]


def detect_episodes(returns: pd.Series, junk_signal: pd.Series | None = None,
                    threshold: float = DEFAULT_JUNK_THRESHOLD, lookback: int = 0,
                    top: int = 5, min_sessions: int = 1, min_depth: float = 0.0) -> list[Episode]:
    """Junk-rally spells and the book's worst drawdowns, merged where they overlap.

    Parameters
    ----------
    returns : pd.Series
        Daily simple returns of the book.
    junk_signal : pd.Series, optional
        Rally signal on (a subset of) the same dates; reindexed to ``returns.index``.
    threshold, lookback, min_sessions
        See :func:`signal_spells`.
    top, min_depth
        See :func:`drawdown_windows`.

    Returns
    -------
    list of Episode
        Disjoint windows inside the data, in time order (see :func:`merge_windows`).
    """
    windows = drawdown_windows(returns, top=top, min_depth=min_depth)
    if junk_signal is not None and len(junk_signal):
        sig = junk_signal.reindex(returns.index)
        if sig.dtype == bool:
            sig = sig.astype(np.float64)
        windows += signal_spells(sig, threshold, min_sessions=min_sessions, lookback=lookback)
    return merge_windows(windows)


# --------------------------------------------------------------------------- measures
def window_bounds(dates: pd.DatetimeIndex, start: Any, end: Any) -> tuple[int, int]:
    """Positions of the first and last session inside ``[start, end]``.

    Raises
    ------
    SqueezeLabError
        When no session falls inside.
    """
    m = session_mask(dates, start, end)
    if not m.any():
        raise SqueezeLabError(
            f"window {iso_day(start)}..{iso_day(end)} has no session in the data "
            f"({iso_day(dates[0])}..{iso_day(dates[-1])}): pick a window inside the data"
        )
    pos = np.flatnonzero(m)
    return int(pos[0]), int(pos[-1])


def window_path(v: np.ndarray, a: int, b: int) -> dict[str, Any]:
    """The numbers of an equity path ``v`` inside rows ``a..b`` (:func:`window_bounds`) that
    :func:`episode_drawdown` reports: ``base`` (row the window return starts from), ``return``,
    ``max_drawdown_in_window``, ``trough``, ``peak`` (the last close at the high-water mark
    before it) and ``depth``; arrays only, for sweeps."""
    base = a - 1 if a > 0 else 0
    trough = a + int(np.argmin(v[a: b + 1]))
    seg = v[: trough + 1]
    peak = int(trough - np.argmax(seg[::-1]))  # the last close at the high-water mark
    if a > 0:
        win_r = v[a: b + 1] / v[a - 1: b] - 1.0
    else:  # the first session has no return (as in BacktestResult.returns())
        win_r = np.concatenate(([0.0], v[1: b + 1] / v[:b] - 1.0))
    return {"base": base, "return": float(v[b] / v[base] - 1.0),
            "max_drawdown_in_window": max_drawdown(win_r), "trough": trough, "peak": peak,
            "depth": float(v[trough] / v[peak] - 1.0)}


def episode_drawdown(equity: pd.Series, episode: Episode) -> dict[str, Any]:
    """How deep under water the book got inside an episode, and whether it came back.

    The trough is the lowest close inside the window (the first one on a tie); the peak is the
    last close at the high-water mark before it (anywhere from the first date to the trough:
    before or inside the window, as the drawdown table's peak). Depth is
    ``trough / peak - 1``; recovery is the first later close at or above the peak.

    Parameters
    ----------
    equity : pd.Series
        Portfolio value at each close, indexed by trading date.
    episode : Episode
        The window (must have at least one session in the data).

    Returns
    -------
    dict
        ``name``, ``start``/``end`` (as asked), ``first_session``/``last_session``, ``sessions``,
        ``truncated`` (the data cut the window), ``base_date`` (close the window return starts
        from), ``return`` (compounded over the window), ``max_drawdown_in_window`` (drawdown of
        the window's own path, from the base close), ``peak_date``, ``peak_in_window``,
        ``trough_date``, ``depth`` (<= 0), ``peak_to_trough_sessions``, ``peak_to_trough_days``
        (calendar), ``recovered``, ``recovery_date`` (None when not recovered),
        ``trough_to_recovery_sessions`` (None when not recovered).
    """
    dates = equity.index
    v = np.asarray(equity, dtype=np.float64)
    a, b = window_bounds(dates, episode.start, episode.end)
    path = window_path(v, a, b)
    base, trough, peak, depth = path["base"], path["trough"], path["peak"], path["depth"]
    rec = None
    if depth < 0:
        later = np.flatnonzero(v[trough + 1:] >= v[peak])
        rec = trough + 1 + int(later[0]) if later.size else None
    recovered = depth >= 0 or rec is not None
    cut_start = a == 0 and len(pd.bdate_range(episode.start, dates[0] - pd.Timedelta(days=1))) > 0
    cut_end = b == len(dates) - 1 and len(pd.bdate_range(dates[-1] + pd.Timedelta(days=1),
                                                         episode.end)) > 0
    return {
        "name": episode.name,
        "start": iso_day(episode.start),
        "end": iso_day(episode.end),
        "first_session": iso_day(dates[a]),
        "last_session": iso_day(dates[b]),
        "sessions": int(b - a + 1),
        "truncated": bool(cut_start or cut_end),
        "base_date": iso_day(dates[base]),
        "return": path["return"],
        "max_drawdown_in_window": path["max_drawdown_in_window"],
        "peak_date": iso_day(dates[peak]),
        "peak_in_window": bool(peak >= a),
        "trough_date": iso_day(dates[trough]),
        "depth": float(depth),
        "peak_to_trough_sessions": int(trough - peak),
        "peak_to_trough_days": int((dates[trough] - dates[peak]).days),
        "recovered": bool(recovered),
        "recovery_date": iso_day(dates[rec]) if rec is not None else None,
        "trough_to_recovery_sessions": int(rec - trough) if rec is not None else None,
    }
