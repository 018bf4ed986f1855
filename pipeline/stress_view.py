"""Showing the stress report: rich tables, one chart (replays, loss distribution, dial grid), HTML."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .ui import fmt_pct

QUANTILE_ROWS = (("p1", "1st percentile"), ("p5", "5th percentile"), ("p25", "25th percentile"),
                 ("p50", "median"), ("p75", "75th percentile"), ("mean", "mean"),
                 ("expected_shortfall_5", "expected shortfall 5%"),
                 ("expected_shortfall_1", "expected shortfall 1%"), ("worst", "worst path"))


def _d(x: Any) -> str:
    return str(pd.Timestamp(x).date())


def print_stress(report: Mapping[str, Any], ui: Any) -> None:
    """The stress report on the terminal."""
    from rich.table import Table

    tag = ("[bold red]SYNTHETIC[/] scenario market" if report["synthetic_market"]
           else f"{report['source']} data")
    ex = report["book_exposure"]
    ui.print(f"squeeze-lab stress: book as of {_d(report['book_date'])} (asof {_d(report['asof'])}, "
             f"{tag}): {report['book']}, {report['book_names']} names, long {fmt_pct(ex['long'])}, "
             f"short {fmt_pct(ex['short'])}, hedge {fmt_pct(ex['hedge'])}")
    ov = report["overlay"]
    ui.print(f"overlay: {'+'.join(ov['actions'])} when the {ov['mode']} signal ({ov['lookback']} "
             f"sessions) >= {ov['threshold']:g}, off below {ov['exit_threshold']:g}; costs: "
             f"{report['costs']}")
    if report["replay"]:
        t = Table(title="Replay: the book through each episode's actual returns", title_justify="left")
        for col in ("episode", "sessions", "PnL", "max DD", "long", "short", "hedge",
                    "overlay PnL", "overlay DD", "top detractor", "fallback"):
            t.add_column(col, justify="left" if col in ("episode", "top detractor") else "right",
                         no_wrap=True)
        for name, e in report["replay"].items():
            off, on = e["without_overlay"], e["with_overlay"]
            det = off["top_detractors"][0] if off["top_detractors"] else None
            t.add_row(name, str(e["sessions"]), fmt_pct(off["pnl"], 2), fmt_pct(off["max_drawdown"], 2),
                      fmt_pct(off["legs"]["long"], 2), fmt_pct(off["legs"]["short"], 2),
                      fmt_pct(off["legs"]["hedge"], 2), fmt_pct(on["pnl"], 2),
                      fmt_pct(on["max_drawdown"], 2),
                      f"{det['ticker']} {det['leg'][0]} {fmt_pct(det['pnl'], 2)}" if det else "",
                      str(e["fallback_names"]))
        ui.print(t)
        for name, e in report["replay"].items():
            for ticker, src in e["names"].items():
                if src != "actual":
                    ui.note(f"{name}: {ticker} did not trade through the window; {src}")
    syn = report.get("synthetic")
    if syn:
        d = syn["dials"]
        t = Table(title=f"Synthetic squeezes: {syn['paths']} paths (seed {syn['seed']}), basket "
                        f"{fmt_pct(d['size'])} over {d['length']} sessions, breadth {d['breadth']:g}, "
                        f"index {fmt_pct(d['index_drift'])}, momentum {d['momentum']}: book PnL",
                  title_justify="left")
        for col in ("", "without overlay", "with overlay", "saved"):
            t.add_column(col, justify="left" if not col else "right")
        q = syn["quantiles"]
        for key, label in QUANTILE_ROWS:
            a, b = q["without_overlay"][key], q["with_overlay"][key]
            t.add_row(label, fmt_pct(a, 2), fmt_pct(b, 2), fmt_pct(b - a, 2))
        ui.print(t)
        ui.print(f"  realized: basket {fmt_pct(syn['basket_total_mean'])}, index "
                 f"{fmt_pct(syn['index_total_mean'])} (mean over paths); overlay on in "
                 f"{syn['overlay_on_share']:.0%} of paths")
        if syn["grid"]:
            g = Table(title=f"Dial grid ({syn['grid_paths']} paths each): mean PnL and expected "
                            "shortfall 5%", title_justify="left")
            for col in ("basket size", "breadth", "mean", "mean w/ overlay", "ES 5%", "ES 5% w/ overlay"):
                g.add_column(col, justify="right")
            for r in syn["grid"]:
                g.add_row(fmt_pct(r["size"], 0), f"{r['breadth']:g}", fmt_pct(r["mean_without_overlay"], 2),
                          fmt_pct(r["mean_with_overlay"], 2),
                          fmt_pct(r["expected_shortfall_5_without_overlay"], 2),
                          fmt_pct(r["expected_shortfall_5_with_overlay"], 2))
            ui.print(g)
    for note in report["notes"]:
        ui.note(note)


def stress_figure(report: Mapping[str, Any]):
    """Replay paths, the synthetic loss distribution and the dial grid, side by side."""
    from matplotlib.ticker import PercentFormatter

    from ..tearsheet import figures as F

    panels = []
    if report["replay"]:
        panels.append("replay")
    syn = report.get("synthetic")
    if syn:
        panels.append("hist")
        if syn["grid"]:
            panels.append("grid")
    if not panels:
        return None
    with F.matplotlib.style.context(["default", F.STYLE]):
        fig, axes = F.new_figure(3.4, 1, len(panels))
        colors = ["#1d4e89", "#b3261e", "#1b7a3a", "#7a4b1b"]
        for ax, kind in zip(axes[0], panels, strict=True):
            if kind == "replay":
                for (name, e), c in zip(report["replay"].items(), colors, strict=False):
                    x = np.arange(len(e["without_overlay"]["path"]))
                    ax.plot(x, e["without_overlay"]["path"], color=c, lw=1.6, label=name)
                    ax.plot(x, e["with_overlay"]["path"], color=c, lw=1.2, ls="--")
                ax.axhline(0, color="#888", lw=0.8)
                ax.set_title("Replay: book PnL (dashed: overlay)", fontsize=8.5)
                ax.set_xlabel("sessions into the episode")
            elif kind == "hist":
                a = np.asarray(syn["pnl_without_overlay"], float)
                b = np.asarray(syn["pnl_with_overlay"], float)
                bins = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 40)
                ax.hist(a, bins=bins, color="#b3261e", alpha=0.55, label="without overlay")
                ax.hist(b, bins=bins, color="#1d4e89", alpha=0.55, label="with overlay")
                for v, c in ((syn["quantiles"]["without_overlay"]["expected_shortfall_5"], "#b3261e"),
                             (syn["quantiles"]["with_overlay"]["expected_shortfall_5"], "#1d4e89")):
                    ax.axvline(v, color=c, lw=1.2, ls=":")
                ax.set_title(f"Synthetic: PnL of {syn['paths']} paths (ES 5% dotted)", fontsize=8.5)
                ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            else:
                grid = pd.DataFrame(syn["grid"])
                for (br, sub), c in zip(grid.groupby("breadth"), colors, strict=False):
                    ax.plot(sub["size"], sub["expected_shortfall_5_without_overlay"], color=c,
                            marker="o", lw=1.4, label=f"breadth {br:g}")
                    ax.plot(sub["size"], sub["expected_shortfall_5_with_overlay"], color=c,
                            marker="o", lw=1.0, ls="--")
                ax.set_title("ES 5% by basket size (dashed: overlay)", fontsize=8.5)
                ax.set_xlabel("most-shorted basket return")
                ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            if kind != "hist":
                ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
            ax.legend(fontsize=7, frameon=False)
    return fig


def stress_html(report: Mapping[str, Any], out: Path) -> Path:
    """Write the stress page (self-contained HTML)."""
    from ..analyzers.jsonable import canonical
    from ..tearsheet.formatting import records_table
    from ..tearsheet.page import embed, environment, write_html

    r = canonical(dict(report), 6)
    fig = embed("stress-chart", "Stress", "left: replayed episodes (solid: the book, dashed: with the "
                "overlay); middle: synthetic squeezes' PnL; right: the dial grid",
                stress_figure(report), "nothing to draw")
    replay = records_table("Replay", [
        {"episode": k, "sessions": e["sessions"], "pnl": e["without_overlay"]["pnl"],
         "max_drawdown": e["without_overlay"]["max_drawdown"],
         "long": e["without_overlay"]["legs"]["long"], "short": e["without_overlay"]["legs"]["short"],
         "hedge": e["without_overlay"]["legs"]["hedge"],
         "pnl_with_overlay": e["with_overlay"]["pnl"],
         "max_drawdown_with_overlay": e["with_overlay"]["max_drawdown"],
         "fallback_names": e["fallback_names"]} for k, e in r["replay"].items()],
        labels={"pnl": "PnL", "pnl_with_overlay": "PnL with overlay",
                "max_drawdown_with_overlay": "Max DD with overlay"},
        kinds={"pnl": "spct", "max_drawdown": "spct", "long": "spct", "short": "spct",
               "hedge": "spct", "pnl_with_overlay": "spct", "max_drawdown_with_overlay": "spct",
               "fallback_names": "int", "sessions": "int"})
    detractors = [records_table(f"{k}: top detractors (without overlay)",
                                e["without_overlay"]["top_detractors"],
                                labels={"pnl": "PnL"}, kinds={"pnl": "spct"}) for k, e in r["replay"].items()]
    syn = r.get("synthetic")
    dist = grid = None
    if syn:
        dist = records_table("Synthetic squeezes: book PnL", [
            {"statistic": label, "without_overlay": syn["quantiles"]["without_overlay"][k],
             "with_overlay": syn["quantiles"]["with_overlay"][k]} for k, label in QUANTILE_ROWS],
            kinds={"without_overlay": "spct", "with_overlay": "spct"})
        if syn["grid"]:
            grid = records_table("Dial grid", syn["grid"], kinds={
                "size": "spct", "breadth": "ratio", **{k: "spct" for k in syn["grid"][0]
                                                       if k not in ("size", "breadth")}})
    html = environment().get_template("stress.html").render(
        r=r, figure=fig, replay=replay, detractors=detractors, dist=dist, grid=grid, syn=syn)
    return write_html(html, out)


def stress_png(report: Mapping[str, Any], out: Path) -> Path | None:
    """The stress chart as a PNG file (None when there is nothing to draw)."""
    from ..feeds.errors import SqueezeLabError
    from ..tearsheet import figures as F

    fig = stress_figure(report)
    if fig is None:
        return None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with F.matplotlib.style.context(["default", F.STYLE]):
            fig.savefig(out, format="png", dpi=F.DPI, metadata={"Software": None})
    except OSError as err:
        raise SqueezeLabError(f"cannot write {out}: {err.strerror or err}; pick a writable path") from err
    return out
