"""The market data model every feed produces and every strategy, engine and analyzer reads.

A :class:`Market` is a set of aligned, validated wide frames (trading dates x tickers) plus
per-ticker attributes, point-in-time short-interest history, named reference series and
provenance. Feeds (scenario, yahoo, csv) build one; nothing downstream reads raw files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import checks
from .errors import SqueezeLabError

if TYPE_CHECKING:
    from .short_interest import ShortInterestInfo

#: Price/volume fields, in the order backtrader's OHLCV lines use them.
FIELDS = ("open", "high", "low", "close", "volume")

#: Attribute columns the strategies understand (all optional except ``sector``).
ATTRIBUTE_COLUMNS = (
    "sector",          # str, e.g. "Technology"
    "profitable",      # bool: positive trailing net income
    "beta",            # float: beta to the broad index
    "short_interest",  # float: shares short as a fraction of float (0.25 = 25%), latest known
    "days_to_cover",   # float: short interest / average daily volume
    "shares",          # float: shares outstanding (for cap weights)
    "is_tech",         # bool: member of the technology universe (growth index, unprofitable tech)
)

#: Reference series names (daily simple returns) the feeds try to provide.
REFERENCE_SERIES = ("index", "growth", "most_shorted", "unprofitable_tech")

#: How orders are filled: at the next bar's open, or (close-only data) at the next bar's close.
FILL_MODELS = ("next_open", "next_close")


def normalize_index(index: pd.Index) -> pd.DatetimeIndex:
    """Naive, nanosecond, midnight-normalized DatetimeIndex named ``date`` (pandas 3 may give [s])."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return pd.DatetimeIndex(idx.normalize().astype("datetime64[ns]"), name="date")


@dataclass(frozen=True, eq=False)
class Market:
    """Aligned market frames and their provenance; validated at construction.

    Price frames are float64, dates x tickers, adjusted. A ticker may be NaN before it lists and
    after it delists (``tradable`` tells which cells are live) but never in between.
    ``short_interest`` / ``days_to_cover`` are point-in-time: the value known on each date (already
    lagged by the publication delay), or None when only a static attribute is known;
    ``short_info`` says where that history came from and how it was lagged and cut (None when the
    feed read no short-interest file).
    """

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    attributes: pd.DataFrame
    reference: pd.DataFrame = field(default_factory=pd.DataFrame)
    factors: pd.DataFrame = field(default_factory=pd.DataFrame)
    short_interest: pd.DataFrame | None = None
    days_to_cover: pd.DataFrame | None = None
    source: str = "unknown"
    synthetic: bool = False
    seed: int | None = None
    fill_model: str = "next_open"
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    short_info: ShortInterestInfo | None = None
    #: "stop": a suspicious one-day move (:mod:`feeds.checks`) is an error; "keep": the feed has
    #: named them in ``notes`` and the user chose to trade them.
    suspicious: str = "stop"

    def __post_init__(self) -> None:
        validate(self)

    # ----------------------------------------------------------------- shape
    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.close.index  # type: ignore[return-value]

    @property
    def tickers(self) -> pd.Index:
        return self.close.columns

    @property
    def n_names(self) -> int:
        return int(self.close.shape[1])

    @property
    def tradable(self) -> pd.DataFrame:
        """True where the ticker has a price (listed) on that date."""
        return self.close.notna()

    @property
    def tradable_next(self) -> pd.DataFrame:
        """True where the ticker is listed on that date and on the next (an order decided at this
        close can be filled at the next open); False on the last date."""
        live = self.close.notna().to_numpy()
        out = np.zeros_like(live)
        out[:-1] = live[:-1] & live[1:]
        return pd.DataFrame(out, index=self.dates, columns=self.tickers)

    @property
    def has_volume(self) -> bool:
        return bool(np.isfinite(self.volume.to_numpy()).any())

    def returns(self) -> pd.DataFrame:
        """Daily close-to-close simple returns (NaN where not listed, 0 on the first row)."""
        r = self.close.pct_change(fill_method=None)
        r.iloc[0] = 0.0
        return r

    def frame(self, name: str) -> pd.DataFrame:
        """One of the OHLCV frames by name."""
        if name not in FIELDS:
            raise SqueezeLabError(f"unknown price field {name!r}: use one of {', '.join(FIELDS)}")
        return getattr(self, name)

    # ------------------------------------------------------------ selection
    def slice(self, start: str | pd.Timestamp | None = None,
              end: str | pd.Timestamp | None = None) -> Market:
        """The same market restricted to ``[start, end]``; an empty or outside range is an error."""
        first, last = self.dates[0], self.dates[-1]
        s = pd.Timestamp(start) if start is not None else first
        e = pd.Timestamp(end) if end is not None else last
        if s > e:
            raise SqueezeLabError(f"start {s.date()} is after end {e.date()}: swap --start and --end")
        if s > last or e < first:
            raise SqueezeLabError(
                f"dates {s.date()}..{e.date()} are outside the data ({first.date()}..{last.date()}): "
                "pick --start/--end inside it"
            )
        sl = slice(s, e)
        keep = self.close.loc[sl].notna().any(axis=0)
        cols = self.tickers[keep.to_numpy()]

        def cut(df: pd.DataFrame | None, columns: bool = True) -> pd.DataFrame | None:
            if df is None:
                return None
            out = df.loc[sl]
            return out[cols] if columns else out

        return replace(
            self,
            open=cut(self.open), high=cut(self.high), low=cut(self.low), close=cut(self.close),
            volume=cut(self.volume), attributes=self.attributes.loc[cols],
            reference=cut(self.reference, False) if not self.reference.empty else self.reference,
            factors=cut(self.factors, False) if not self.factors.empty else self.factors,
            short_interest=cut(self.short_interest), days_to_cover=cut(self.days_to_cover),
        )

    def slice_noted(self, start: str | pd.Timestamp | None = None,
                    end: str | pd.Timestamp | None = None) -> Market:
        """:meth:`slice`, with a note when the data covers only part of the requested range."""
        out = self.slice(start, end)
        notes = []
        slack = pd.Timedelta(days=5)   # a requested date on a weekend or holiday is no news
        if start is not None and pd.Timestamp(start) < out.dates[0] - slack:
            notes.append(f"the data starts on {out.dates[0].date()}, after the requested start "
                         f"{pd.Timestamp(start).date()}: the run starts there")
        if end is not None and pd.Timestamp(end) > out.dates[-1] + slack:
            notes.append(f"the data ends on {out.dates[-1].date()}, before the requested end "
                         f"{pd.Timestamp(end).date()}: the run ends there")
        return replace(out, notes=out.notes + tuple(notes)) if notes else out

    def select(self, tickers: list[str] | pd.Index) -> Market:
        """The same market restricted to ``tickers`` (reference series are kept as they are)."""
        missing = [t for t in tickers if t not in self.close.columns]
        if missing:
            raise SqueezeLabError(f"tickers not in the market: {', '.join(map(str, missing[:10]))}")
        cols = pd.Index(tickers)

        def cut(df: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if df is None else df[cols]

        return replace(
            self, open=cut(self.open), high=cut(self.high), low=cut(self.low), close=cut(self.close),
            volume=cut(self.volume), attributes=self.attributes.loc[cols],
            short_interest=cut(self.short_interest), days_to_cover=cut(self.days_to_cover),
        )

    # ----------------------------------------------------------- provenance
    @property
    def content_hash(self) -> str:
        """sha256 over dates, tickers, every frame's bytes and the attributes (first 16 hex)."""
        h = hashlib.sha256()
        h.update(self.dates.asi8.tobytes())
        h.update("\x1f".join(map(str, self.tickers)).encode())
        for name in FIELDS:
            h.update(np.ascontiguousarray(self.frame(name).to_numpy(np.float64)).tobytes())
        for df in (self.short_interest, self.days_to_cover):
            if df is not None:
                h.update(np.ascontiguousarray(df.to_numpy(np.float64)).tobytes())
        for df in (self.reference, self.factors):
            if not df.empty:
                h.update("\x1f".join(map(str, df.columns)).encode())
                h.update(np.ascontiguousarray(df.to_numpy(np.float64)).tobytes())
        h.update(self.attributes.to_csv(lineterminator="\n").encode())
        h.update(f"{self.source}|{self.synthetic}|{self.seed}|{self.fill_model}".encode())
        return h.hexdigest()[:16]

    def provenance(self) -> dict[str, Any]:
        """JSON-able description of where the data came from."""
        return {
            "source": self.source,
            "synthetic": bool(self.synthetic),
            "seed": self.seed,
            "market_hash": self.content_hash,
            "start": self.dates[0].strftime("%Y-%m-%d"),
            "end": self.dates[-1].strftime("%Y-%m-%d"),
            "n_names": self.n_names,
            "n_days": int(len(self.dates)),
            "fill_model": self.fill_model,
            "notes": list(self.notes),
            **{k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool, list))},
        }


def _bad(what: str, ticker: Any = None, date: Any = None, fix: str = "") -> SqueezeLabError:
    where = ""
    if ticker is not None:
        where += f" for {ticker}"
    if date is not None:
        where += f" on {pd.Timestamp(date).date()}"
    return SqueezeLabError(f"market: {what}{where}{': ' + fix if fix else ''}")


def validate(m: Market) -> None:
    """Check the invariants every consumer relies on; raise one error naming ticker, date and fix."""
    close = m.close
    if not isinstance(close, pd.DataFrame) or close.empty:
        raise _bad("no prices", fix="the data source returned nothing; check tickers and dates")
    idx = close.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise _bad("the date index is not a DatetimeIndex", fix="parse dates at the feed")
    if idx.has_duplicates:
        d = idx[idx.duplicated()][0]
        raise _bad("duplicate date", date=d, fix="remove the repeated rows")
    if not idx.is_monotonic_increasing:
        raise _bad("dates are not sorted", fix="sort the rows by date")
    if close.columns.has_duplicates:
        t = close.columns[close.columns.duplicated()][0]
        raise _bad("duplicate ticker column", ticker=t, fix="give each ticker once")
    if m.fill_model not in FILL_MODELS:
        raise _bad(f"unknown fill model {m.fill_model!r}", fix=f"use one of {', '.join(FILL_MODELS)}")
    for name in FIELDS:
        df = m.frame(name)
        if df.shape != close.shape or not df.index.equals(idx) or not df.columns.equals(close.columns):
            raise _bad(f"the {name} frame is not aligned with close", fix="build all frames on one index")
        if df.dtypes.ne(np.float64).any():
            raise _bad(f"the {name} frame is not float64", fix="convert prices to float at the feed")
    c = close.to_numpy()
    live = ~np.isnan(c)   # +-inf counts as a (bad) price, not as "not listed"
    dead = ~live.any(axis=0)
    if dead.any():
        raise _bad("ticker has no prices at all", ticker=close.columns[int(np.argmax(dead))],
                   fix="drop it from the universe (--drop-missing)")
    # NaN only before listing / after delisting: the live cells of each column are contiguous.
    holes = checks.holes(live)
    if holes.any():
        i, j = np.argwhere(holes)[0]
        raise _bad("missing price inside the listed period", ticker=close.columns[j], date=idx[i],
                   fix="fill the gap (csv: --ffill-limit) or drop the ticker")
    o, h, lo = m.open.to_numpy(), m.high.to_numpy(), m.low.to_numpy()
    for name, arr in (("open", o), ("high", h), ("low", lo), ("close", c)):
        bad = checks.bad_prices(arr, live)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise _bad(f"non-positive or NaN {name} price", ticker=close.columns[j], date=idx[i],
                       fix="correct or drop the row")
    bad = checks.ohlc_inconsistent(o, h, lo, c, live)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise _bad("OHLC inconsistent (need low <= open, close <= high)", ticker=close.columns[j],
                   date=idx[i], fix="correct the row or load close-only data")
    if m.suspicious not in ("stop", "keep"):
        raise _bad(f"suspicious={m.suspicious!r}", fix="use 'stop' or 'keep'")
    if m.suspicious == "stop":
        moves = checks.suspicious_moves(c)
        if moves:
            names = list(dict.fromkeys(str(close.columns[mv.col]) for mv in moves))
            shown = ", ".join(f"{close.columns[mv.col]} {mv.describe()} on {idx[mv.row].date()}"
                              for mv in moves[:3])
            raise _bad(f"suspicious one-day moves in {len(names)} name(s) ({shown}"
                       f"{'' if len(moves) <= 3 else f'; {len(moves)} in all'})",
                       fix="check the prices; drop the names (data.exclude) or build the Market "
                           "with suspicious='keep' (data.suspicious=\"keep\") to trade them")
    att = m.attributes
    if not att.index.equals(close.columns):
        raise _bad("attributes are not indexed by the market's tickers",
                   fix="give one attribute row per ticker, in the same order")
    for df_name in ("short_interest", "days_to_cover"):
        df = getattr(m, df_name)
        if df is not None and (df.shape != close.shape or not df.index.equals(idx)):
            raise _bad(f"{df_name} history is not aligned with prices", fix="reindex it at the feed")
    for df_name in ("reference", "factors"):
        df = getattr(m, df_name)
        if not df.empty and not df.index.equals(idx):
            raise _bad(f"{df_name} series are not on the market's dates", fix="reindex them at the feed")
