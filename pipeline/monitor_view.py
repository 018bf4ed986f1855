"""Showing the monitor report: rich tables on the terminal, one HTML page, the signal chart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .ui import fmt_num, fmt_pct

#: Sessions of signal history drawn on the HTML page.
CHART_SESSIONS = 250


def _pct(x: Any, digits: int = 1, signed: bool = True) -> str:
    out = fmt_pct(x, digits)
    return out if signed else out.lstrip("+")


def _yes(flag: bool) -> str:
    return "[bold red]yes[/]" if flag else ""


def condition_text(row: Mapping[str, Any]) -> str:
    """A condition's value as shown: bp for a credit spread, % otherwise (signed for returns)."""
    if row["name"] == "credit_spread":
        return "n/a" if row["value"] is None else f"{row['value']:.0f} bp"
    return _pct(row["value"], signed=row["name"] not in ("short_breadth", "under_5_volume_share"))


def _points(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}pt"


def print_monitor(report: Mapping[str, Any], ui: Any, rows: int = 20) -> None:
    """The morning screen on the terminal (the first ``rows`` crowding rows)."""
    from rich.table import Table

    sig = report["signal"]
    tag = "[bold red]SYNTHETIC[/] scenario market" if report["synthetic"] else f"{report['source']} data"
    ui.print(f"squeeze-lab monitor as of {pd.Timestamp(report['asof']).date()} ({tag}); book: "
             f"{report['book']}" + (f", held as decided {pd.Timestamp(report['book_date']).date()}"
                                    if report["book_date"] is not None else ""))
    state = "[bold red]ON[/]" if sig["overlay_on"] else "[green]off[/]"
    above = "[bold red]above[/]" if sig["above_threshold"] else "below"
    t = Table(title="Junk-rally signal", title_justify="left")
    for col in ("value", "threshold (exit)", "vs threshold", "percentile", f"last {len(sig['recent'])} sessions",
                "overlay would be"):
        t.add_column(col, justify="right" if col != f"last {len(sig['recent'])} sessions" else "left")
    t.add_row(fmt_num(sig["value"]), f"{sig['threshold']:g} ({sig['exit_threshold']:g})", above,
              "n/a" if sig["percentile"] is None else f"{sig['percentile']:.0f}th",
              sig["sparkline"], state)
    ui.print(t)
    ui.print(f"  {sig['mode']} signal over {sig['lookback']} sessions, {sig['basket']}; overlay "
             f"{'enabled' if sig['overlay_enabled'] else 'not enabled'} in this config")
    c = Table(title="Conditions", title_justify="left")
    c.add_column("condition")
    c.add_column("now", justify="right")
    c.add_column("detail")
    for row in report["conditions"]:
        c.add_row(row["label"], condition_text(row), row["detail"])
    ui.print(c)
    shown = report["crowding"][:rows]
    more = (f"; top {len(shown)} of {len(report['crowding'])} shown, the page and --json have all"
            if len(shown) < len(report["crowding"]) else "")
    k = Table(title=f"Crowding: {report['crowding_covers']}, highest squeeze score first{more}",
              title_justify="left")
    for col in ("ticker", "score", "weight", "SI % float", "SI chg", "reported", "DTC",
                "return", "beta", "price", "<$5", "SI>25%", "DTC>5"):
        k.add_column(col, justify="left" if col in ("ticker", "reported") else "right")
    for r in shown:
        k.add_row(r["ticker"], fmt_num(r["score"], 1), _pct(r["weight"], 2),
                  _pct(r["short_interest"], 1, signed=False), _points(r["si_change"]),
                  "" if r["si_reported"] is None else str(pd.Timestamp(r["si_reported"]).date()),
                  fmt_num(r["days_to_cover"], 1), _pct(r["recent_return"]), fmt_num(r["beta"]),
                  "" if r["price"] is None else f"{r['price']:.2f}", "yes" if r["under_5"] else "",
                  _yes(r["si_over_25"]), _yes(r["dtc_over_5"]))
    ui.print(k)
    for note in report["notes"]:
        ui.note(note)


def signal_figure(series: pd.Series, threshold: float, exit_threshold: float):
    """The signal over its last :data:`CHART_SESSIONS` sessions with the overlay's thresholds."""
    from ..tearsheet import figures as F

    s = series.iloc[-CHART_SESSIONS:]
    if not np.isfinite(s.to_numpy(np.float64)).any():
        return None
    with F.matplotlib.style.context(["default", F.STYLE]):
        fig, axes = F.new_figure(2.8)
        ax = axes[0, 0]
        ax.plot(s.index, s.to_numpy(), color="#1d4e89", lw=1.4, label="junk-rally signal")
        ax.axhline(threshold, color="#b3261e", lw=1, ls="--", label=f"threshold {threshold:g}")
        ax.axhline(exit_threshold, color="#e0a800", lw=1, ls=":", label=f"exit {exit_threshold:g}")
        ax.scatter([s.index[-1]], [s.iloc[-1]], color="#b3261e", zorder=3)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        F.date_axis(ax)
    return fig


def monitor_html(report: Mapping[str, Any], series: pd.Series, out: Path) -> Path:
    """Write the monitor page (self-contained HTML) to ``out``."""
    from ..analyzers.jsonable import canonical
    from ..tearsheet.formatting import records_table
    from ..tearsheet.page import embed, environment, write_html

    r = canonical(dict(report), 6)
    sig = r["signal"]
    fig = embed("signal", "Junk-rally signal", f"last {CHART_SESSIONS} sessions, the overlay's "
                "thresholds dashed; the dot is today", signal_figure(series, sig["threshold"],
                                                                      sig["exit_threshold"]),
                "no signal history yet (warm-up)")
    cond = records_table("Conditions", [
        {"condition": c["label"], "now": condition_text(c), "detail": c["detail"]}
        for c in r["conditions"]])
    crowd = records_table(
        "Crowding, highest squeeze score first",
        [{k: v for k, v in row.items()} for row in r["crowding"]],
        columns=["ticker", "score", "weight", "short_interest", "si_change", "si_reported",
                 "days_to_cover", "recent_return", "beta", "price", "under_5", "si_over_25",
                 "dtc_over_5"],
        labels={"short_interest": "SI % float", "si_change": "SI change", "si_reported": "SI reported",
                "days_to_cover": "Days to cover", "recent_return": "Return", "under_5": "Under $5",
                "si_over_25": "SI > 25%", "dtc_over_5": "DTC > 5"},
        kinds={"score": "num1", "si_change": "spct", "recent_return": "spct", "weight": "spct",
               "short_interest": "pct", "days_to_cover": "num1", "beta": "ratio", "price": "money2",
               "under_5": "bool", "si_over_25": "bool", "dtc_over_5": "bool"},
        note=f"{r['crowding_covers']}. Squeeze score 0-100: analyzers/crowding.py.")
    html = environment().get_template("monitor.html").render(
        r=r, sig=sig, figure=fig, conditions=cond, crowding=crowd)
    return write_html(html, out)
