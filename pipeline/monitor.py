"""The morning screen (``squeeze-lab monitor``): is a junk rally starting, and which shorts are exposed?

:func:`build_monitor` computes, from data up to ``asof`` only (the market is cut at ``asof`` before
any signal is computed), a plain JSON-able report:

- ``signal``: the overlay's junk-rally signal now (the run's own overlay settings), its thresholds,
  its percentile in its own history, the last sessions, and whether the overlay's state machine
  (:func:`strategies.overlay.regime_switch`, same hysteresis and cool-off) would be on;
- ``conditions``: most-shorted basket vs index and unprofitable tech over the signal lookback, the
  breadth of the book's shorts, the share of dollar volume in names under the low-price line, and
  a credit spread when one is given;
- ``crowding``: the book's current shorts (or, without any, the universe's most crowded names)
  with point-in-time short interest, days to cover, their change since the last report, recent
  return, beta, the under-$5 flag and the squeeze score (:mod:`analyzers.crowding`), highest first.

Rendering (terminal, HTML) lives in :mod:`pipeline.monitor_view`; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..analyzers.crowding import (
    DTC_FLAG,
    SI_FLAG,
    crowding_flags,
    last_report_change,
    squeeze_score,
)
from ..feeds.errors import SqueezeLabError
from ..feeds.market import Market

#: Sessions of signal history shown (sparkline / chart) by default.
DEFAULT_SESSIONS = 20
#: Rows of the universe's crowding table when there is no book short.
DEFAULT_TOP = 20
#: A credit value older than this many calendar days at ``asof`` is reported as stale.
CREDIT_STALE_DAYS = 7
SPARK = "▁▂▃▄▅▆▇█"


def resolve_asof(market: Market, asof: str | None) -> tuple[pd.Timestamp, list[str]]:
    """The session to report on (the last one on or before ``asof``), and a note when it moved.

    Data read up to ``asof`` (``cut_at`` in its meta: it goes on after) holds ``asof``'s session
    if there is one, so a later ``asof`` there is a weekend or holiday, not outside the data."""
    dates = market.dates
    if asof is None:
        return dates[-1], []
    try:
        a = pd.to_datetime(asof, format="%Y-%m-%d").normalize()
    except (TypeError, ValueError) as err:
        raise SqueezeLabError(f"--asof {asof!r} is not YYYY-MM-DD: write e.g. --asof 2026-01-21") from err
    read_to_asof = market.meta.get("cut_at") == f"{a:%Y-%m-%d}"
    if a < dates[0] or (a > dates[-1] and not read_to_asof):
        raise SqueezeLabError(f"--asof {a.date()} is outside the data ({dates[0].date()}.."
                              f"{dates[-1].date()}): pick a date inside it")
    i = dates.searchsorted(a, side="right") - 1
    if dates[i] != a:
        return dates[i], [f"--asof {a.date()} is not a session: reporting as of {dates[i].date()}, "
                          "the session before"]
    return a, []


def sparkline(values: np.ndarray) -> str:
    """Unicode block sparkline of a short series (NaN as a space)."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return ""
    lo, hi = np.nanmin(v), np.nanmax(v)
    span = hi - lo if hi > lo else 1.0
    idx = np.clip(((v - lo) / span * (len(SPARK) - 1)).round(), 0, len(SPARK) - 1)
    return "".join(SPARK[int(i)] if k else " " for i, k in zip(np.nan_to_num(idx), ok, strict=True))


def percentile_of(history: np.ndarray, value: float) -> float | None:
    """Share of the finite history at or below ``value``, in percent (None without history)."""
    h = np.asarray(history, np.float64)
    h = h[np.isfinite(h)]
    if not len(h) or not np.isfinite(value):
        return None
    return float(100.0 * np.mean(h <= value))


def _compound(r: pd.Series, n: int) -> float | None:
    tail = r.iloc[-n:].to_numpy(np.float64)
    if len(tail) < n or not np.isfinite(tail).all():
        return None
    return float(np.prod(1.0 + tail) - 1.0)


def book_now(market: Market, config: Mapping[str, Any], asof: pd.Timestamp
             ) -> tuple[pd.Series | None, pd.Timestamp | None]:
    """The book's target weights (net over legs) decided at or before ``asof``, and that date.

    Built on the full market (the book's signals are point-in-time, so rows up to ``asof`` use
    data up to their own dates only); None when the book has no row by then.
    """
    from ..strategies.book import book_targets

    if config["book"].get("path"):
        return own_book_now(market, config["book"], asof)
    targets = book_targets(market, **config["book"])
    rows = targets.dates[targets.dates <= asof]
    if not len(rows):
        return None, None
    return targets.total().loc[rows[-1]], rows[-1]


def own_book_now(market: Market, book: Mapping[str, Any], asof: pd.Timestamp
                 ) -> tuple[pd.Series | None, pd.Timestamp | None]:
    """The book file's last block on or before ``asof`` (net over legs), checked against the data
    up to ``asof``: later blocks are not read (the data may stop at ``asof``), nothing is filled."""
    from dataclasses import replace

    from ..strategies.own_book import book_weights, read_book_file

    f = read_book_file(book["path"])
    past = f.frame[f.frame["date"] <= asof]
    if past.empty:
        return None, None
    day = pd.Timestamp(past["date"].max())
    legs = book_weights(replace(f, frame=past[past["date"] == day]), market,
                        float(book["capital"]), trade=False)
    return (legs["long"] + legs["short"] + legs["hedge"]).loc[day], day


def signal_section(config: Mapping[str, Any], market: Market, sessions: int,
                   shorts: pd.Series | None) -> tuple[dict[str, Any], pd.Series]:
    """The junk-rally signal at the market's last date, with its thresholds and state."""
    from ..strategies.overlay import regime_switch, resolve_overlay_params
    from ..strategies.signals import short_breadth
    from .run import overlay_signal

    p = resolve_overlay_params(config["overlay"])
    sig = overlay_signal(config, market)
    arr = sig.to_numpy(np.float64)
    value = float(arr[-1]) if np.isfinite(arr[-1]) else None
    finite = np.flatnonzero(np.isfinite(arr))
    gate = None
    if p["breadth_min"] > 0 and shorts is not None:
        held = pd.DataFrame(False, index=market.dates, columns=market.tickers)
        names = [t for t in shorts.index[shorts < 0] if t in held.columns]
        held[names] = True
        br = short_breadth(market.close, held, p["signal_lookback"]).to_numpy()
        gate = np.where(np.isfinite(br), br >= p["breadth_min"], False)
    on = False
    if len(finite):
        state, _ = regime_switch(arr, p["threshold"], p["exit_threshold"], p["cooloff"],
                                 start=int(finite[0]), gate=gate)
        on = bool(state[-1])
    last = sig.iloc[-sessions:]
    return {
        "value": value,
        "threshold": p["threshold"],
        "exit_threshold": p["exit_threshold"],
        "above_threshold": bool(value is not None and value >= p["threshold"]),
        "percentile": percentile_of(arr, value if value is not None else np.nan),
        "overlay_on": on,
        "overlay_enabled": bool(p["enabled"]),
        "mode": p["signal_mode"],
        "lookback": p["signal_lookback"],
        "basket": source_text(sig.attrs.get("basket", "")),
        "history_sessions": int(len(finite)),
        "sparkline": sparkline(last.to_numpy()),
        "recent": [{"date": d, "value": v} for d, v in zip(last.index, last.to_numpy(), strict=True)],
    }, sig


def conditions_section(config: Mapping[str, Any], market: Market, shorts: pd.Series | None,
                       credit: pd.Series | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The conditions the reporting points to, over the signal lookback, as rows."""
    from ..strategies.signals import index_returns, most_shorted_returns, short_breadth

    ov = config["overlay"]
    n = int(ov["signal_lookback"])
    low = float(config["book"]["low_price"])
    asof = market.dates[-1]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    basket, src = most_shorted_returns(market, ov["basket_names"], ov["basket_min_cap"])
    idx = index_returns(market)
    b, m = _compound(basket, n), _compound(idx, n)
    rows.append({"name": "most_shorted_vs_index", "label": f"Most-shorted basket vs index, {n} sessions",
                 "value": None if b is None or m is None else b - m,
                 "detail": f"basket {_pct(b)}, index {_pct(m)} ({source_text(src)})"})
    ref = market.reference
    if "unprofitable_tech" in ref.columns:
        u = _compound(ref["unprofitable_tech"].astype(np.float64), n)
        rows.append({"name": "unprofitable_tech", "label": f"Unprofitable tech, {n} sessions",
                     "value": u, "detail": "reference unprofitable_tech basket"})
    else:
        rows.append({"name": "unprofitable_tech", "label": f"Unprofitable tech, {n} sessions",
                     "value": None, "detail": "not available: the data has no unprofitable_tech "
                                              "series (needs sector and profitability attributes)"})
    if shorts is not None and (shorts < 0).any():
        held = pd.DataFrame(False, index=market.dates, columns=market.tickers)
        names = [t for t in shorts.index[shorts < 0] if t in held.columns]
        held[names] = True
        br = short_breadth(market.close, held, n)
        rows.append({"name": "short_breadth", "label": f"Book's shorts up over {n} sessions",
                     "value": _num(br.iloc[-1]), "detail": f"{len(names)} shorts held"})
    else:
        rows.append({"name": "short_breadth", "label": f"Book's shorts up over {n} sessions",
                     "value": None, "detail": "no short position in the book at this date"})
    dv = (market.close * market.volume).to_numpy(np.float64)
    under = market.close.to_numpy(np.float64) < low
    ok = np.isfinite(dv)
    tot = np.where(ok, dv, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, np.where(ok & under, dv, 0.0).sum(axis=1) / tot, np.nan)
    if np.isfinite(share).any():
        now = float(np.nanmean(share[-n:]))
        year = share[-252:]
        rows.append({"name": "under_5_volume_share",
                     "label": f"Dollar volume in names under ${low:g}, last {n} sessions",
                     "value": now,
                     "detail": f"{_pct(float(np.nanmean(year)), signed=False)} over the last "
                               f"{min(252, len(share))} sessions (retail-activity proxy)"})
    else:
        rows.append({"name": "under_5_volume_share", "label": f"Dollar volume in names under ${low:g}",
                     "value": None, "detail": "not available: the data has no volume"})
    if credit is not None:
        c = credit.loc[:asof]
        if c.empty:
            raise SqueezeLabError(f"credit series starts {credit.index[0].date()}, after --asof "
                                  f"{asof.date()}: give a series that covers it")
        age = (asof - c.index[-1]).days
        if age > CREDIT_STALE_DAYS:
            notes.append(f"credit spread is stale: last value {c.index[-1].date()}, {age} days "
                         f"before {asof.date()}")
        prev = c.loc[: asof - pd.Timedelta(days=int(round(n * 7 / 5)))]
        year = c.loc[asof - pd.Timedelta(days=365):]
        chg = float(c.iloc[-1] - prev.iloc[-1]) if len(prev) else None
        rows.append({"name": "credit_spread", "label": f"Credit spread ({credit.name}), bp",
                     "value": float(c.iloc[-1]),
                     "detail": f"as of {c.index[-1].date()}; change over ~{n} sessions "
                               f"{'n/a' if chg is None else f'{chg:+.0f} bp'}; one-year low "
                               f"{year.min():.0f} bp, percentile {percentile_of(year.to_numpy(), float(c.iloc[-1])):.0f}"})
    return rows, notes


def crowding_section(config: Mapping[str, Any], market: Market, shorts: pd.Series | None,
                     top: int, universe: bool) -> tuple[list[dict[str, Any]], str]:
    """Crowding rows (highest squeeze score first) and what they cover."""
    from ..strategies.signals import index_returns, listed_returns, point_in_time, rolling_beta

    asof = market.dates[-1]
    n = int(config["overlay"]["signal_lookback"])
    low = float(config["book"]["low_price"])
    si_hist, si_src = point_in_time(market, "short_interest")
    dtc_hist, _ = point_in_time(market, "days_to_cover")
    tick = market.tickers
    if si_hist is not None:
        si, si_chg, si_since = last_report_change(si_hist, asof)
    else:
        si = si_chg = pd.Series(np.nan, index=tick)
        si_since = pd.Series(pd.NaT, index=tick)
    dtc = (last_report_change(dtc_hist, asof)[0] if dtc_hist is not None
           else pd.Series(np.nan, index=tick))
    close = market.close
    listed = close.iloc[-1].notna()
    ret = close.iloc[-1] / close.iloc[-1 - n] - 1.0 if len(close) > n else pd.Series(np.nan, index=tick)
    beta = rolling_beta(listed_returns(market), index_returns(market),
                        int(config["book"]["beta_window"])).iloc[-1]
    if "beta" in market.attributes.columns:
        static = pd.to_numeric(market.attributes["beta"], errors="coerce")
        beta = beta.where(beta.notna(), static)
    frame = pd.DataFrame({
        "short_interest": si, "si_change": si_chg, "days_to_cover": dtc, "recent_return": ret,
        "beta": beta, "price": close.iloc[-1],
        "under_5": (close.iloc[-1] < low).astype(float).where(listed),
    }, index=tick)
    frame["score"] = squeeze_score(frame)
    frame = frame.join(crowding_flags(frame))
    frame["si_reported"] = si_since
    if shorts is not None and (shorts < 0).any() and not universe:
        held = shorts[shorts < 0]
        held = held[held.index.isin(tick)]
        rows = frame.loc[held.index].assign(weight=held)
        what = f"the book's {len(rows)} shorts"
    else:
        rows = frame[listed].assign(weight=np.nan)
        what = f"the universe's {min(top, len(rows))} most crowded names"
    rows = rows.assign(ticker=rows.index.astype(str))
    rows = rows.sort_values(["score", "ticker"], ascending=[False, True], na_position="last",
                            kind="stable")
    if not (shorts is not None and (shorts < 0).any() and not universe):
        rows = rows.head(top)
    what += f" (short interest: {si_src})"
    out = []
    for t, r in rows.iterrows():
        out.append({
            "ticker": str(t), "score": _num(r["score"]), "weight": _num(r["weight"]),
            "short_interest": _num(r["short_interest"]), "si_change": _num(r["si_change"]),
            "si_reported": None if pd.isna(r["si_reported"]) else pd.Timestamp(r["si_reported"]),
            "days_to_cover": _num(r["days_to_cover"]), "recent_return": _num(r["recent_return"]),
            "beta": _num(r["beta"]), "price": _num(r["price"]),
            "under_5": bool(r["under_5"] == 1.0),
            "si_over_25": bool(r["si_over_25"]), "dtc_over_5": bool(r["dtc_over_5"]),
        })
    return out, what


def build_monitor(config: Mapping[str, Any], market: Market, asof: str | None = None,
                  sessions: int = DEFAULT_SESSIONS, top: int = DEFAULT_TOP,
                  credit: pd.Series | None = None, universe: bool = False
                  ) -> tuple[dict[str, Any], pd.Series]:
    """The monitor report as plain data (see the module docstring), and the signal's history."""
    if sessions < 1 or top < 1:
        raise SqueezeLabError("--sessions and --top must be at least 1")
    day, notes = resolve_asof(market, asof)
    shorts, book_date = book_now(market, config, day)
    cut = market.slice(None, day)
    if shorts is not None:
        shorts = shorts[shorts.index.isin(cut.tickers)]
    else:
        notes.append(f"the book holds nothing by {day.date()} (warm-up or no block in the book "
                     "file yet): crowding shows the universe's most crowded names")
    signal, series = signal_section(config, cut, sessions, shorts)
    conditions, cnotes = conditions_section(config, cut, shorts, credit)
    crowding, what = crowding_section(config, cut, shorts, top, universe)
    book = config["book"].get("path") or "built-in crowded book"
    return {
        "asof": day,
        "synthetic": bool(market.synthetic),
        "source": market.source,
        "market_notes": list(market.notes) if market.synthetic else [],
        "book": book,
        "book_date": book_date,
        "signal": signal,
        "conditions": conditions,
        "crowding": crowding,
        "crowding_covers": what,
        "flags": {"si_over": SI_FLAG, "dtc_over": DTC_FLAG},
        "notes": notes + cnotes,
    }, series


def source_text(src: Any) -> str:
    """A basket source as one line (a typed ``BasketSource`` has ``text``; older ones are str)."""
    return str(getattr(src, "text", src))


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.1%}" if signed else f"{x:.1%}"
