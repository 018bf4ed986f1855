"""Tearsheet figures drawn from run-folder frames: pure functions returning matplotlib Figures.

Every function takes the frames a run folder holds (``equity.csv`` indexed by date, the overlay
log, episode windows read from ``metrics.json``) and returns a :class:`matplotlib.figure.Figure`,
or ``None`` when the columns it needs are absent (real data without baskets, a run without an
overlay); the page then shows a note instead. Nothing here recomputes a backtest: cumulative
curves, drawdowns and rolling betas are arithmetic on the saved daily series.

Rendering is headless and deterministic. Figures are ``matplotlib.figure.Figure`` objects drawn
by an explicit Agg canvas (``FigureCanvasAgg``), the way matplotlib documents for web servers:
pyplot is never imported, so no GUI backend is ever loaded (backtrader's plot module forces TkAgg,
which fails without a display) and the process-wide backend is left alone (calling
``matplotlib.use("Agg")`` from a library would silently switch a notebook user's inline backend).
Each figure is built and saved under a fixed style (matplotlib's defaults plus :data:`STYLE`, not
the user's matplotlibrc) with a fixed size and DPI, and saved as PNG without the ``Software``
metadata entry (Agg writes no timestamp), so the same folder gives the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator, PercentFormatter

#: Fixed rendering parameters (on top of matplotlib's defaults, not the user's matplotlibrc).
DPI = 120
WIDTH = 10.0
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 8.5,
    "axes.edgecolor": "#9aa3ad",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d9dee4",
    "grid.linewidth": 0.6,
    "xtick.color": "#4a5563",
    "ytick.color": "#4a5563",
    "legend.frameon": False,
    "legend.fontsize": 8,
    "lines.linewidth": 1.2,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.hashsalt": "squeeze-lab",
    "path.simplify": True,
}

#: Colours: the book in ink, the broad index in grey, junk baskets in warm colours.
BOOK = "#14213d"
SERIES_COLORS = {
    "index": "#8d99ae",
    "growth": "#2a9d8f",
    "most_shorted": "#d62828",
    "unprofitable_tech": "#f77f00",
}
#: Default legend labels: what each series is for, not how it is built (a run folder's
#: provenance says that: ``index_label``, ``growth_label``, ...; see ``equity_figure``).
SERIES_LABELS = {
    "index": "Index",
    "growth": "Growth / tech index",
    "most_shorted": "Most-shorted basket",
    "unprofitable_tech": "Unprofitable-tech basket",
}
WARMUP_FILL = "#ced4da"
MARGIN_CALL = "#6a040f"
LEG_COLORS = {"pnl_long": "#2b9348", "pnl_short": "#c1121f", "pnl_hedge": "#1d4e89",
              "pnl_costs": "#6c757d"}
LEG_LABELS = {"pnl_long": "Long leg", "pnl_short": "Short leg", "pnl_hedge": "Hedge",
              "pnl_costs": "Costs"}
EXPOSURE_COLORS = {"gross": "#14213d", "net": "#7b2cbf", "long": "#2b9348", "short": "#c1121f",
                   "hedge": "#1d4e89"}
EPISODE_FILL = "#f4a261"
RUN_COLORS = ("#14213d", "#d62828", "#2a9d8f", "#f77f00", "#7b2cbf", "#8d6e63", "#1d4e89",
              "#6c757d")
ACTION_MARKERS = ("v", "^", "D", "s", "P", "X", "o", "*")
#: Rolling window (sessions) of the realized beta.
BETA_WINDOW = 63


@dataclass(frozen=True)
class Window:
    """A named episode window (inclusive dates) to shade on time-series figures."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    #: "episode" (warm colour) or "warmup" (grey: the sessions before the first position)
    kind: str = "episode"


def new_figure(height: float, nrows: int = 1, ncols: int = 1, **kw) -> tuple[Figure, np.ndarray]:
    """A report-width figure and its axes grid, drawn off-screen (no pyplot state)."""
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _styled(build: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Run a figure builder under the fixed style (matplotlib defaults + :data:`STYLE`)."""

    def wrapper(*args, **kwargs):
        with matplotlib.style.context(["default", STYLE]):
            return build(*args, **kwargs)

    wrapper.__name__ = build.__name__
    wrapper.__doc__ = build.__doc__
    return wrapper


def png_data_uri(fig: Figure) -> str:
    """Encode a figure as a ``data:image/png;base64`` URI (no timestamp or software metadata)."""
    buf = io.BytesIO()
    with matplotlib.style.context(["default", STYLE]):
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_size(data_uri: str) -> tuple[int, int]:
    """(width, height) in pixels of a PNG data URI (read from its IHDR chunk)."""
    raw = base64.b64decode(data_uri.split(",", 1)[1])
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


# ---------------------------------------------------------------------------------------------
# small pure helpers over the saved series


def growth_of_one(returns: pd.Series) -> pd.Series:
    """Cumulative growth of 1 from daily simple returns (missing days count as 0)."""
    return (1.0 + returns.fillna(0.0)).cumprod()


def underwater(equity: pd.Series) -> pd.Series:
    """Drawdown from the running peak of an equity curve, as a fraction (<= 0)."""
    eq = equity.astype(float)
    return eq / eq.cummax() - 1.0


def rolling_beta(returns: pd.Series, benchmark: pd.Series, window: int = 63) -> pd.Series:
    """Rolling OLS beta of ``returns`` on ``benchmark`` over ``window`` days (cov / var)."""
    r = returns.astype(float)
    b = benchmark.astype(float).reindex(r.index)
    minp = max(10, window // 2)
    cov = r.rolling(window, min_periods=minp).cov(b)
    var = b.rolling(window, min_periods=minp).var()
    return cov / var.where(var > 0)


def daily_returns(equity: pd.DataFrame) -> pd.Series:
    """The book's daily returns: the saved ``returns`` (or ``return``) column, else from equity."""
    for col in ("returns", "return"):
        if col in equity and equity[col].notna().any():
            return equity[col].astype(float)
    eq = equity["equity"].astype(float)
    r = eq.pct_change(fill_method=None)
    return r.fillna(0.0)


def _looks_like_money(col: pd.Series, equity: pd.Series) -> bool:
    """A leverage ratio stays well below 20 in absolute value; money scales with equity."""
    med_eq = float(equity.abs().median())
    return med_eq > 1000 and float(col.abs().max()) > 20


def exposure_fractions(equity: pd.DataFrame) -> pd.DataFrame:
    """Gross/net/long/short/hedge exposure as fractions of equity from the saved columns.

    Uses the ``*_exposure`` columns (fractions) when present; otherwise divides the money columns
    (``long_value``, ``short_value``, ``hedge_value``, and ``gross``/``net`` when they are money
    rather than leverage ratios) by equity.
    """
    eq = equity["equity"].astype(float).where(lambda s: s != 0)
    out: dict[str, pd.Series] = {}
    for key in ("gross", "net", "long", "short", "hedge"):
        col = f"{key}_exposure"
        if col in equity and equity[col].notna().any():
            out[key] = equity[col].astype(float)
    money = {"long": ("long_value",), "short": ("short_value",),
             "hedge": ("hedge_value", "hedge_gross"), "gross": ("gross",), "net": ("net",)}
    for key, cols in money.items():
        if key in out:
            continue
        for col in cols:
            if col in equity and equity[col].notna().any():
                s = equity[col].astype(float)
                out[key] = s / eq if key in ("long", "short", "hedge") or \
                    _looks_like_money(s, equity["equity"]) else s
                break
    if "gross" not in out and {"long", "short"} <= out.keys():
        out["gross"] = out["long"].abs() + out["short"].abs()
    if "net" not in out and {"long", "short"} <= out.keys():
        out["net"] = out["long"] + out["short"]
    order = [k for k in ("gross", "net", "long", "short", "hedge") if k in out]
    return pd.DataFrame({k: out[k] for k in order}, index=equity.index)


def ex_ante_beta(equity: pd.DataFrame) -> pd.Series | None:
    """Beta-adjusted net exposure (holdings x name betas / equity), when equity.csv has it."""
    if "beta_net_exposure" in equity and equity["beta_net_exposure"].notna().any():
        return equity["beta_net_exposure"].astype(float)
    if "beta_net" in equity and equity["beta_net"].notna().any():
        s = equity["beta_net"].astype(float)
        return s / equity["equity"].astype(float) if _looks_like_money(s, equity["equity"]) else s
    return None


def leg_pnl_columns(equity: pd.DataFrame) -> pd.DataFrame:
    """Daily PnL (money) by leg: pnl_long, pnl_short, pnl_hedge and pnl_costs (commission + borrow
    when there is no pnl_costs column); only the legs equity.csv has."""
    out: dict[str, pd.Series] = {}
    for col in ("pnl_long", "pnl_short", "pnl_hedge", "pnl_costs"):
        if col in equity and equity[col].notna().any():
            out[col] = equity[col].astype(float)
    if "pnl_costs" not in out:
        parts = [c for c in ("pnl_commission", "pnl_borrow") if c in equity]
        if parts:
            out["pnl_costs"] = equity[parts].astype(float).fillna(0.0).sum(axis=1)
    return pd.DataFrame(out, index=equity.index)


def date_axis(ax) -> None:
    """Concise date ticks, 4 to 10 of them, on ``ax``'s x axis."""
    loc = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _shade(ax, windows: Iterable[Window], label_y: float | None = 0.98) -> None:
    xmin, xmax = ax.get_xlim()
    for w in windows:
        s, e = mdates.date2num(w.start), mdates.date2num(w.end)
        if e < xmin or s > xmax:
            continue
        warm = w.kind == "warmup"
        ax.axvspan(w.start, w.end, color=WARMUP_FILL if warm else EPISODE_FILL,
                   alpha=0.5 if warm else 0.22, lw=0, zorder=0)
        if label_y is not None:
            ax.text(max(s, xmin), label_y, " " + w.name, transform=ax.get_xaxis_transform(),
                    fontsize=7.5, color="#5c636a" if warm else "#9c4a12", va="top", ha="left",
                    zorder=5)
    ax.set_xlim(xmin, xmax)


def _mark_calls(ax, calls: Sequence[pd.Timestamp]) -> None:
    """Margin calls as dotted vertical lines (one legend entry)."""
    for i, d in enumerate(calls):
        ax.axvline(pd.Timestamp(d), color=MARGIN_CALL, ls=":", lw=1.1, zorder=3,
                   label="margin call" if i == 0 else None)


def _pct_axis(ax, decimals: int = 0) -> None:
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


# ---------------------------------------------------------------------------------------------
# run figures


@_styled
def equity_figure(equity: pd.DataFrame, windows: Sequence[Window] = (),
                  labels: dict[str, str] | None = None,
                  margin_calls: Sequence[pd.Timestamp] = ()) -> Figure | None:
    """Growth of 1 for the book against the index and junk baskets, episodes shaded.

    ``labels`` name the reference series in the legend (default :data:`SERIES_LABELS`);
    ``margin_calls`` are the sessions a margin call cut the book (marked).
    """
    labels = {**SERIES_LABELS, **(labels or {})}
    if "equity" not in equity or equity["equity"].dropna().empty:
        return None
    eq = equity["equity"].astype(float)
    curves = {}
    for col in ("index", "growth", "most_shorted", "unprofitable_tech"):
        if col in equity and equity[col].notna().any():
            curves[col] = growth_of_one(equity[col].astype(float))
    book = eq / eq.dropna().iloc[0]
    fig, axes = new_figure(4.2)
    ax = axes[0, 0]
    for col, curve in curves.items():
        ax.plot(curve.index, curve, color=SERIES_COLORS[col], lw=1.0, alpha=0.9,
                label=labels[col])
    ax.plot(book.index, book, color=BOOK, lw=1.8, label="Book", zorder=4)
    ax.axhline(1.0, color="#6c757d", lw=0.6, zorder=1)
    values = pd.concat([book, *curves.values()]).to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > 3.0:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylabel("growth of 1 (log scale)")
    else:
        ax.set_ylabel("growth of 1")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.2f}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
    ax.set_title("Cumulative return: book vs index and baskets")
    date_axis(ax)
    ax.margins(x=0.005)
    _shade(ax, windows)
    _mark_calls(ax, margin_calls)
    ax.legend(loc="upper left", ncol=3, bbox_to_anchor=(0.0, -0.08))
    return fig


@_styled
def underwater_figure(equity: pd.DataFrame, windows: Sequence[Window] = (),
                      margin_calls: Sequence[pd.Timestamp] = ()) -> Figure | None:
    """Drawdown from the running peak, episode windows shaded and labelled, margin calls marked."""
    if "equity" not in equity or equity["equity"].dropna().empty:
        return None
    if "drawdown" in equity and equity["drawdown"].notna().any():
        dd = equity["drawdown"].astype(float)
    else:
        dd = underwater(equity["equity"])
    fig, axes = new_figure(2.8)
    ax = axes[0, 0]
    ax.fill_between(dd.index, dd.to_numpy(), 0.0, color="#c1121f", alpha=0.35, lw=0)
    ax.plot(dd.index, dd, color="#8b0000", lw=0.9)
    lowest = float(dd.min()) if dd.notna().any() else 0.0
    ax.set_ylim(min(lowest * 1.15, -0.005), 0.002)
    _pct_axis(ax, 1 if lowest > -0.1 else 0)
    ax.set_ylabel("drawdown")
    ax.set_title("Underwater: drawdown from peak")
    date_axis(ax)
    ax.margins(x=0.005)
    _shade(ax, windows, label_y=0.12)
    if len(margin_calls):
        _mark_calls(ax, margin_calls)
        ax.legend(loc="lower left")
    return fig


@_styled
def beta_exposure_figure(equity: pd.DataFrame, windows: Sequence[Window] = (),
                         window: int = BETA_WINDOW, ex_ante: bool = True) -> Figure | None:
    """Rolling beta to the index (and the book's ex-ante net beta) above gross/net/leg exposures.

    ``ex_ante=False`` leaves the ex-ante line out (no name betas: it would be the dollar net).
    """
    has_beta = "index" in equity and equity["index"].notna().any() and "equity" in equity
    ex_ante = ex_ante_beta(equity) if ex_ante and "equity" in equity else None
    has_beta_net = ex_ante is not None
    expo = exposure_fractions(equity) if "equity" in equity else pd.DataFrame()
    expo = expo.dropna(axis=1, how="all")
    if not (has_beta or has_beta_net) and expo.empty:
        return None
    panels = int(has_beta or has_beta_net) + int(not expo.empty)
    fig, axes = new_figure(2.5 * panels + 0.4, nrows=panels, sharex=True)
    i = 0
    if has_beta or has_beta_net:
        ax = axes[i, 0]
        if has_beta:
            beta = rolling_beta(daily_returns(equity), equity["index"], window)
            ax.plot(beta.index, beta, color=BOOK, lw=1.3, label=f"realized beta ({window}d rolling)")
        if has_beta_net:
            ax.plot(ex_ante.index, ex_ante, color="#7b2cbf", lw=1.0, ls="--",
                    label="ex-ante beta (holdings)")
        ax.axhline(0.0, color="#6c757d", lw=0.6)
        ax.set_ylabel("beta to index")
        ax.set_title("Beta to the index")
        ax.legend(loc="best", ncol=2, frameon=True, framealpha=0.9, edgecolor="none")
        ax.margins(x=0.005)
        date_axis(ax)
        _shade(ax, windows)
        i += 1
    if not expo.empty:
        ax = axes[i, 0]
        for col in expo.columns:
            ax.plot(expo.index, expo[col], color=EXPOSURE_COLORS[col], label=col,
                    lw=1.5 if col in ("gross", "net") else 1.0)
        ax.axhline(0.0, color="#6c757d", lw=0.6)
        _pct_axis(ax)
        ax.set_ylabel("% of equity")
        ax.set_title("Exposures")
        ax.legend(loc="upper left", ncol=len(expo.columns), bbox_to_anchor=(0.0, -0.12))
        ax.margins(x=0.005)
        date_axis(ax)
        _shade(ax, windows, label_y=None)
    return fig


def episode_leg_pnl(equity: pd.DataFrame, window: Window) -> pd.DataFrame | None:
    """Cumulative leg PnL inside an episode, as fractions of the equity before it starts.

    Columns: the ``pnl_*`` legs present plus ``total`` (their sum); index: the window's days.
    The base is the equity at the last close before the window (or its first close).
    """
    pnl_cols = leg_pnl_columns(equity)
    legs = list(pnl_cols.columns)
    if not legs or "equity" not in equity:
        return None
    inside = (equity.index >= window.start) & (equity.index <= window.end)
    if not inside.any():
        return None
    first = int(np.flatnonzero(inside)[0])
    base = float(equity["equity"].iloc[max(first - 1, 0)])
    if not np.isfinite(base) or base == 0:
        return None
    pnl = pnl_cols.loc[inside].fillna(0.0).cumsum() / base
    pnl["total"] = pnl[legs].sum(axis=1)
    return pnl


@_styled
def leg_pnl_figure(equity: pd.DataFrame, windows: Sequence[Window]) -> Figure | None:
    """Small multiples: cumulative PnL by leg (long, short, hedge, costs) through each episode."""
    panels = [(w, episode_leg_pnl(equity, w)) for w in windows]
    panels = [(w, p) for w, p in panels if p is not None]
    if not panels:
        return None
    n = len(panels)
    ncols = min(n, 2)
    nrows = (n + ncols - 1) // ncols
    fig, axes = new_figure(3.0 * nrows + 0.3, nrows=nrows, ncols=ncols)
    for k, (w, pnl) in enumerate(panels):
        ax = axes[k // ncols, k % ncols]
        for col in pnl.columns:
            if col == "total":
                ax.plot(pnl.index, pnl[col], color="black", lw=1.8, label="Total")
            else:
                ax.plot(pnl.index, pnl[col], color=LEG_COLORS[col], lw=1.2, label=LEG_LABELS[col])
        ax.axhline(0.0, color="#6c757d", lw=0.6)
        _pct_axis(ax, 1)
        ax.set_title(f"{w.name}  ({w.start:%Y-%m-%d} to {w.end:%Y-%m-%d})")
        ax.set_ylabel("cumulative PnL, % of equity")
        loc = mdates.AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        ax.margins(x=0.01)
        if k == 0:
            handles, labels = ax.get_legend_handles_labels()
    for k in range(n, nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


@_styled
def overlay_figure(equity: pd.DataFrame, overlay_log: pd.DataFrame,
                   windows: Sequence[Window] = (), thresholds: dict[str, float] | None = None
                   ) -> Figure | None:
    """The overlay's junk-rally signal, the periods it was on, and each decision marked by action.

    ``thresholds`` (e.g. ``{"entry": 2.0, "exit": 1.0}`` from the run's config) are drawn as
    dashed horizontal lines.
    """
    has_signal = "junk_signal" in equity and equity["junk_signal"].notna().any()
    log = overlay_log if overlay_log is not None else pd.DataFrame()
    has_log = not log.empty and "date" in log
    if not has_signal and not has_log:
        return None
    fig, axes = new_figure(3.0)
    ax = axes[0, 0]
    if has_signal:
        sig = equity["junk_signal"].astype(float)
        ax.plot(sig.index, sig, color=BOOK, lw=1.1, label="junk-rally signal")
    on = equity["overlay_on"].fillna(0).astype(float) > 0 if "overlay_on" in equity else None
    if on is not None and on.any():
        ax.fill_between(equity.index, 0, 1, where=on.to_numpy(), transform=ax.get_xaxis_transform(),
                        color="#7b2cbf", alpha=0.12, lw=0, step="post", label="overlay on")
    if has_log:
        dates = pd.to_datetime(log["date"])
        actions = log["action"].astype(str) if "action" in log else pd.Series("decision", log.index)
        if has_signal:
            yvals = equity["junk_signal"].astype(float).reindex(dates).to_numpy()
        else:
            yvals = np.zeros(len(log))
        if "signal" in log:
            logged = pd.to_numeric(log["signal"], errors="coerce").to_numpy(dtype=float)
            yvals = np.where(np.isfinite(yvals), yvals, logged)
        yvals = np.where(np.isfinite(yvals), yvals, 0.0)
        for k, action in enumerate(sorted(actions.unique())):
            m = (actions == action).to_numpy()
            ax.scatter(dates[m], yvals[m], marker=ACTION_MARKERS[k % len(ACTION_MARKERS)],
                       s=34, color=RUN_COLORS[(k + 1) % len(RUN_COLORS)], edgecolor="white",
                       linewidth=0.5, zorder=5, label=action)
    for k, (name, level) in enumerate(sorted((thresholds or {}).items())):
        ax.axhline(level, color="#9c4a12", lw=0.9, ls=(0, (4, 3)) if k == 0 else (0, (1, 2)),
                   label=f"{name} threshold ({level:g})", zorder=2)
    ax.set_title("Overlay: junk-rally signal and actions")
    ax.set_ylabel("signal")
    date_axis(ax)
    ax.margins(x=0.005)
    if len(equity.index) > 1:  # the same dates as the other figures (the signal starts later)
        ax.set_xlim(equity.index[0], equity.index[-1])
    _shade(ax, windows, label_y=None)
    ax.legend(loc="upper left", ncol=6, bbox_to_anchor=(0.0, -0.1))
    return fig


# ---------------------------------------------------------------------------------------------
# comparison and sweep figures


@_styled
def compare_figure(curves: dict[str, pd.Series], windows: Sequence[Window] = ()) -> Figure | None:
    """Overlaid growth-of-1 (top) and underwater (bottom) curves of several runs' equity."""
    curves = {k: v.dropna().astype(float) for k, v in curves.items()}
    curves = {k: v for k, v in curves.items() if not v.empty}
    if not curves:
        return None
    fig, axes = new_figure(6.0, nrows=2, sharex=True, height_ratios=(3, 2))
    top, bot = axes[0, 0], axes[1, 0]
    for k, (label, eq) in enumerate(curves.items()):
        color = RUN_COLORS[k % len(RUN_COLORS)]
        top.plot(eq.index, eq / eq.iloc[0], color=color, lw=1.4, label=label)
        dd = underwater(eq)
        bot.plot(dd.index, dd, color=color, lw=1.1)
    top.axhline(1.0, color="#6c757d", lw=0.6)
    top.set_ylabel("growth of 1")
    top.set_title("Equity")
    fig.legend(*top.get_legend_handles_labels(), loc="outside lower center",
               ncol=min(len(curves), 4))
    _pct_axis(bot, 1)
    bot.set_ylabel("drawdown")
    bot.set_title("Underwater")
    for ax in (top, bot):
        date_axis(ax)
        ax.margins(x=0.005)
    _shade(top, windows)
    _shade(bot, windows, label_y=None)
    return fig


@_styled
def tradeoff_figure(rows: Sequence[dict], episodes: Sequence[str]) -> Figure | None:
    """Grouped bars per run: drawdown cut in each episode and return given up outside them."""
    if not rows:
        return None
    keys = [(f"{n}.saved", f"{n}: drawdown cut") for n in episodes]
    keys.append(("outside.annual_return", "annual return given up outside episodes"))
    fig, axes = new_figure(max(2.4, 0.28 * len(rows) * len(keys) + 1.0))
    ax = axes[0, 0]
    height = 0.8 / len(keys)
    for k, (key, name) in enumerate(keys):
        vals = [r.get(key) for r in rows]
        vals = [np.nan if v is None else (-v if key.startswith("outside.") else v) for v in vals]
        y = np.arange(len(rows)) + (k - (len(keys) - 1) / 2) * height
        ax.barh(y, vals, height=height * 0.9, color=RUN_COLORS[(k + 1) % len(RUN_COLORS)],
                label=name)
    ax.set_yticks(np.arange(len(rows)), [r["run"] for r in rows])
    ax.invert_yaxis()
    ax.axvline(0.0, color="#6c757d", lw=0.8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_xlabel(f"points, against {rows[0]['baseline']}")
    ax.legend(loc="best", fontsize="small")
    return fig


@_styled
def heatmap_figure(grid: pd.DataFrame, title: str, x: str, y: str,
                   fmt: Callable[[float], str], diverging: bool = True,
                   higher_is_better: bool = True) -> Figure:
    """A heatmap of one metric over two grid parameters (rows = ``y`` values, columns = ``x``).

    Each cell is annotated with ``fmt(value)``; a diverging map is centred on zero, green where
    the metric is good (``higher_is_better`` flips it, e.g. for turnover).
    """
    z = grid.to_numpy(dtype=float)
    nr, nc = z.shape
    fig, axes = new_figure(max(2.6, 0.45 * nr + 1.6))
    ax = axes[0, 0]
    ax.grid(False)
    finite = z[np.isfinite(z)]
    cmap = matplotlib.colormaps["RdYlGn" if higher_is_better else "RdYlGn_r"].with_extremes(
        bad="#eeeeee")
    if finite.size == 0:
        vmin, vmax = -1.0, 1.0
    elif diverging and finite.min() < 0 < finite.max():
        m = float(np.abs(finite).max())
        vmin, vmax = -m, m
    else:
        vmin, vmax = float(finite.min()), float(finite.max())
        if vmin == vmax:
            vmin, vmax = vmin - 1e-12, vmax + 1e-12
    im = ax.imshow(np.ma.masked_invalid(z), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                   origin="lower", interpolation="nearest")
    ax.set_xticks(range(nc), [str(v) for v in grid.columns])
    ax.set_yticks(range(nr), [str(v) for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    for spine in ax.spines.values():
        spine.set_visible(False)
    span = vmax - vmin
    for i in range(nr):
        for j in range(nc):
            v = z[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=8, color="#6c757d")
                continue
            dark = span > 0 and abs((v - (vmin + vmax) / 2) / span) > 0.35
            ax.text(j, i, fmt(v), ha="center", va="center", fontsize=8,
                    color="white" if dark else "#111111")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02,
                 format=FuncFormatter(lambda v, _p: fmt(v)))
    return fig
