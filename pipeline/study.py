"""A study (several runs on one market, then their comparison) and ``compare`` of run folders."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..feeds.errors import SqueezeLabError
from .config import Config, check_against_market, check_study, resolve_config
from .run import run_one
from .ui import UI


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base`` (tables merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def study_configs(raw: Mapping[str, Any], name: str | None = None) -> list[Config]:
    """Resolved configs of a study: the base config with each ``[[study.runs]]`` table merged over it."""
    base = {k: v for k, v in raw.items() if k != "study"}
    specs = check_study(raw.get("study")) or [{"name": base.get("name", "run")}]
    configs = []
    for spec in specs:
        run_name = f"{name}-{spec['name']}" if name else str(spec["name"])
        configs.append(resolve_config(merge(base, spec), name=run_name))
    names = [c["name"] for c in configs]
    if len(set(names)) != len(names):
        raise SqueezeLabError(f"study runs need distinct names, got {names}")
    return configs


def run_study(raw: Mapping[str, Any], out: str | Path, ui: UI, command: str,
              name: str | None = None) -> tuple[list[Path], Path]:
    """Run every configuration of the study (the market is built once) and compare them."""
    configs = study_configs(raw, name)
    markets: dict[str, Any] = {}
    for config in configs:  # every market loaded and every run checked before the first runs
        key = repr(sorted(config["data"].items()))
        if key not in markets:
            markets[key] = ui.load_market(config["data"])
        try:
            notes = check_against_market(config, markets[key])
        except SqueezeLabError as err:  # say which run of the study cannot be done
            raise SqueezeLabError(f"run {config.name!r}: {err}") from err
        for note in notes:
            ui.note(f"{config.name}: {note}")
    paths: list[Path] = []
    for i, config in enumerate(configs, 1):
        market = markets[repr(sorted(config["data"].items()))]
        path = run_one(config, out=out, ui=ui, command=command, market=market)
        ui.print(f"run {i}/{len(configs)}: {config['name']:<16} {path / 'tearsheet.html'}")
        paths.append(path)
    study_name = name or raw.get("name") or "study"
    page = compare_runs(paths, out=Path(out) / f"{study_name}-comparison.html", ui=ui)
    return paths, page


def compare_runs(paths: list[Path], out: Path | None, ui: UI) -> Path:
    """Side-by-side page and terminal table of complete run folders (refuses anything else)."""
    from rich.table import Table

    from ..tearsheet.comparison_page import different_data_note, measured_periods_note
    from ..tearsheet.render import comparison_table, render_comparison
    from ..tearsheet.rundir import read_run

    runs = [read_run(p) for p in paths]  # raises one line for an incomplete folder
    if out is None:
        out = Path(paths[0]).resolve().parent / "comparison.html"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SqueezeLabError(f"cannot write {out}: {err.strerror}; pick a writable --out") from err
    page = render_comparison([r.path for r in runs], out)
    rows = comparison_table(runs)
    table = Table(title="Runs side by side", title_justify="left")
    table.add_column("metric")
    names = [r.config.get("name", r.name) for r in runs]
    for r in runs:
        label = r.config.get("name", r.name) if names.count(r.config.get("name")) == 1 else r.name
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(row["label"], *row["text"])
    ui.print(table)
    periods = measured_periods_note(runs, [r.name for r in runs])
    if periods:
        ui.note(periods)
    data = different_data_note(runs, [r.name for r in runs])
    if data:
        ui.note(data)
    _print_tradeoff(runs, ui)
    ui.print(f"comparison: {page}")
    return page


def _print_tradeoff(runs: list[Any], ui: UI) -> None:
    """The trade-off table of the comparison page, in the terminal."""
    from rich.table import Table

    from ..tearsheet.render import tradeoff_rows
    from .ui import fmt_num, fmt_pct

    rows = tradeoff_rows(runs)
    if not rows:
        return
    names_of = {r.name: r.config.get("name", r.name) for r in runs}
    if len(set(names_of.values())) == len(names_of):
        for r in rows:
            r["run"], r["baseline"] = names_of.get(r["run"], r["run"]), names_of.get(r["baseline"], r["baseline"])
    names = [k[:-len(".saved")] for k in rows[0] if k.endswith(".saved")]
    t = Table(title=f"What each run saves and costs (against {rows[0]['baseline']})",
              title_justify="left")
    t.add_column("run")
    for n in names:
        t.add_column(f"{n} max DD", justify="right")
        t.add_column("cut by", justify="right")
    for col in ("return given up outside episodes", "Sharpe change outside", "Sharpe change"):
        t.add_column(col, justify="right")
    for r in rows:
        given_up = r["outside.annual_return"]
        t.add_row(r["run"], *[c for n in names for c in (fmt_pct(r[f"{n}.drawdown"]),
                                                          fmt_pct(r[f"{n}.saved"]))],
                  fmt_pct(None if given_up is None else -given_up),
                  fmt_num(r["outside.sharpe_ratio"], sign=True), fmt_num(r["full.sharpe_ratio"], sign=True))
    ui.print(t)
