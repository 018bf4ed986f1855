"""squeeze-lab: the command line (``squeeze-lab`` or ``python run_backtest.py``).

Parses arguments and configuration, wires feeds -> strategies -> analyzers -> tearsheet, and
handles errors at the edge: any :class:`SqueezeLabError` becomes one line on stderr and exit
code 2. Heavy imports (backtrader, empyrical, matplotlib) happen inside the subcommands.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:  # `python run_backtest.py` in a checkout
    from squeeze_lab.run_backtest import main as _main

    raise SystemExit(_main())

from .feeds.errors import SqueezeLabError
from .pipeline.config import (
    Config,
    apply_overrides,
    check_output_folder,
    config_help,
    ignored_settings,
    load_config_file,
    resolve_config,
)
from .pipeline.ui import UI, fmt_pct

PROG = "squeeze-lab"
DEFAULT_CONFIG = Path(str(resources.files(__package__) / "configs" / "default.toml"))


# --------------------------------------------------------------------------- subcommands
def cmd_market(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .feeds.summary import market_summary

    ui = UI(args.quiet)
    raw = apply_overrides({}, _data_sets(args) + list(args.set or []))
    data = resolve_config(raw)["data"]
    if args.export:
        check_output_folder(args.export)
    market = ui.load_market(data)
    summary = market_summary(market)
    if args.export:
        from .feeds.export import export_market

        out = export_market(market, args.export, overwrite=args.overwrite)
        summary["exported_to"] = str(out)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return 0
    tag = "[bold red]SYNTHETIC[/]" if market.synthetic else "[bold green]real data[/]"
    seed = "" if market.seed is None else f" seed={market.seed}"  # real data has no seed
    ui.print(f"{tag} market: source={market.source}{seed} "
             f"{summary['start']}..{summary['end']} ({summary['n_days']} sessions), "
             f"{summary['n_names']} names, hash {summary['market_hash']}")
    if market.synthetic:  # a real market's notes were printed by load_market (even --quiet)
        for note in market.notes:
            ui.print(f"  note: {note}")
    table = Table(title="Reference series over each window", title_justify="left")
    table.add_column("window")
    table.add_column("dates")
    for series in summary["series"]:
        table.add_column(series, justify="right")
    for row in summary["windows"]:
        table.add_row(row["name"], f"{row['start']}..{row['end']} ({row['sessions']}d)",
                      *[fmt_pct(row["returns"].get(s)) for s in summary["series"]])
    ui.print(table)
    if market.synthetic and summary.get("targets"):  # real data has no calibration targets
        t2 = Table(title="Calibration targets (docs/scenario.md)", title_justify="left")
        for col in ("series", "window", "target", "got", "ok"):
            t2.add_column(col, justify="right" if col in ("target", "got") else "left")
        for row in summary["targets"]:
            t2.add_row(row["series"], f"{row['start']}..{row['end']}", fmt_pct(row["target"]),
                       fmt_pct(row["got"]), "[green]yes[/]" if row["ok"] else "[red]NO[/]")
        ui.print(t2)
    if args.export:
        ui.print(f"exported to {summary['exported_to']}")
    return 0


def _data_sets(args: argparse.Namespace) -> list[str]:
    """Translate --data/--seed/--start/--end into --set overrides."""
    sets: list[str] = []
    if getattr(args, "data", None):
        spec = args.data
        if spec.startswith("csv:"):
            sets += ["data.source=csv", f"data.path={json.dumps(spec[4:])}"]
        elif spec in ("scenario", "yahoo"):
            sets.append(f"data.source={spec}")
        else:
            raise SqueezeLabError(f"--data {spec!r} is not one of scenario, yahoo, csv:PATH")
    for flag, key in (("seed", "data.seed"), ("start", "data.start"), ("end", "data.end")):
        val = getattr(args, flag, None)
        if val is not None:
            sets.append(f"{key}={json.dumps(val)}")
    for flag, key in (("refresh", "data.refresh"), ("drop_missing", "data.drop_missing")):
        if getattr(args, flag, False):
            sets.append(f"{key}=true")
    if getattr(args, "attributes", None):
        sets.append(f"data.attributes={json.dumps(args.attributes)}")
    for ep in getattr(args, "episode", None) or []:
        sets.append(f"analysis.episodes={json.dumps([ep])}")
    if getattr(args, "book", None):
        sets.append(f"book.path={json.dumps(args.book)}")
    return sets


def build_run_config(args: argparse.Namespace) -> Config:
    """The resolved, checked :class:`Config` of ``run``/``sweep`` (config file, flags, --set)."""
    raw = load_config_file(args.config) if args.config else {}
    raw.pop("study", None)
    episodes = list((raw.get("analysis") or {}).get("episodes", []))
    sets = [s for s in _data_sets(args) if not s.startswith("analysis.episodes=")]
    raw = apply_overrides(raw, sets + list(args.set or []))
    if getattr(args, "episode", None):
        raw.setdefault("analysis", {})["episodes"] = episodes + list(args.episode)
    return resolve_config(raw, name=args.name)


def check_book_files(configs: Sequence[Config]) -> None:
    """Parse every own-book file (book.path) before any market is loaded: bad files fail first."""
    from .strategies.own_book import read_book_file

    for config in configs:
        if config["book"].get("path"):
            read_book_file(config["book"]["path"])


def cmd_run(args: argparse.Namespace) -> int:
    from .pipeline.run import run_one, summarize_run

    ui = UI(args.quiet)
    config = build_run_config(args)
    check_book_files([config])
    check_output_folder(args.out)
    path = run_one(config, out=args.out, ui=ui, command=_command_line())
    for note in ignored_settings(config, args.set or []):  # after the run: a refusal stays one line
        ui.note(note)
    summarize_run(path, ui)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .pipeline.study import run_study

    ui = UI(args.quiet)
    raw = load_config_file(args.config or DEFAULT_CONFIG)
    raw = apply_overrides(raw, _data_sets(args) + list(args.set or []))
    from .pipeline.study import study_configs

    check_book_files(study_configs(raw, args.name))
    check_output_folder(args.out)
    run_study(raw, out=args.out, ui=ui, command=_command_line(), name=args.name)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .pipeline.study import compare_runs

    ui = UI(args.quiet)
    compare_runs([Path(p) for p in args.runs], out=Path(args.out) if args.out else None, ui=ui)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .pipeline.sweep import run_sweep

    ui = UI(args.quiet)
    config = build_run_config(args)
    check_book_files([config])
    check_output_folder(args.out)
    run_sweep(config, grid=args.grid or [], engine=args.engine, jobs=args.jobs,
              confirm_top=args.confirm_top, executor=args.executor, scheduler=args.scheduler,
              out=args.out, resume=args.resume, ui=ui, command=_command_line())
    return 0


def tool_config(args: argparse.Namespace, name: str) -> Config:
    """The resolved config of monitor/stress: a config file (its study table ignored) + flags."""
    raw = load_config_file(args.config or DEFAULT_CONFIG)
    raw.pop("study", None)
    raw = apply_overrides(raw, _data_sets(args) + list(args.set or []))
    config = resolve_config(raw, name=name)
    check_book_files([config])
    return config


def _check_date(flag: str, value: str | None) -> None:
    if value is None:
        return
    from datetime import datetime

    try:
        datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError) as err:
        what = ("not YYYY-MM-DD" if "does not match format" in str(err) or not isinstance(value, str)
                else f"not a calendar date ({err})")   # the shape is right, the day is not
        raise SqueezeLabError(f"{flag} {value!r} is {what}: write e.g. {flag} 2026-01-21") from err


def write_json(obj: Any, path: str | Path) -> Path:
    """Write plain JSON atomically (a temporary sibling renamed), sorted keys, no timestamp."""
    from .analyzers.jsonable import canonical

    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(canonical(obj, 10), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, out)
    except OSError as err:
        raise SqueezeLabError(f"cannot write {out}: {err.strerror or err}; pick a writable path") from err
    return out


def cmd_monitor(args: argparse.Namespace) -> int:
    from .pipeline.monitor import build_monitor
    from .pipeline.monitor_view import monitor_html, print_monitor

    ui = UI(args.quiet)
    _check_date("--asof", args.asof)
    if args.sessions < 1 or args.top < 1:
        raise SqueezeLabError("--sessions and --top must be at least 1: e.g. --sessions 20 --top 20")
    config = tool_config(args, "monitor")
    credit = None
    if args.credit:
        from .feeds.credit import read_credit_csv

        credit = read_credit_csv(args.credit)
    data = _data_to_asof(config["data"], args.asof)
    try:
        market = ui.load_market(data)
    except SqueezeLabError as err:
        span = re.search(r"\(data: (\S+\.\.\S+)\)", str(err))
        if data is config["data"] or span is None:
            raise
        raise SqueezeLabError(f"--asof {args.asof} is outside the data ({span.group(1)}): pick a "
                              "date inside it") from err
    report, series = build_monitor(config, market, asof=args.asof, sessions=args.sessions,
                                   top=args.top, credit=credit, universe=args.universe)
    print_monitor(report, ui, rows=args.top)
    day = report["asof"].strftime("%Y-%m-%d")
    page = monitor_html(report, series, Path(args.out) / f"monitor-{day}.html")
    ui.print(f"page: {page}")
    if args.json:
        ui.print(f"json: {write_json(report, args.json)}")
    return 0


def _data_to_asof(data: Any, asof: str | None) -> Any:
    """Real data read only up to ``--asof``: the feed's checks (suspicious moves, listings) must
    not use what came later, or a name is dropped today for a defect of next month."""
    if not asof or data["source"] == "scenario" or (data["end"] and str(data["end"]) <= asof):
        return data
    return {**data, "end": asof}


def _dials(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("size", "length", "breadth", "index_drift", "momentum")
            if getattr(args, k) is not None}


def cmd_stress(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from .feeds.squeeze_paths import check_dials
    from .pipeline.stress import DEFAULT_DIALS, build_stress, dask_runner, run_local
    from .pipeline.stress_view import print_stress, stress_html, stress_png

    ui = UI(args.quiet)
    _check_date("--asof", args.asof)
    episodes = [e.strip() for e in (args.episodes or "").split(",") if e.strip()]
    if not episodes and not args.synthetic:
        raise SqueezeLabError("nothing to stress: give --episodes NAME,... and/or --synthetic N")
    if args.synthetic < 0 or args.grid_paths < 0:
        raise SqueezeLabError("--synthetic and --grid-paths must be >= 0: e.g. --synthetic 500")
    dials = {**DEFAULT_DIALS, **_dials(args)}
    check_dials(**dials)
    if args.scheduler and args.executor != "dask":
        raise SqueezeLabError("--scheduler needs --executor dask")
    config = tool_config(args, "stress")
    market = ui.load_market(config["data"])
    if args.executor == "dask" and args.synthetic:
        from .pipeline.sweep_executors import dask_client

        ctx = dask_client(args.jobs or os.cpu_count() or 1, args.scheduler)
    else:
        ctx = nullcontext(None)
    with ctx as client, ui.progress("stress", total=None):
        runner = dask_runner(client) if client is not None else run_local
        report = build_stress(config, market, asof=args.asof, episodes=episodes,
                              synthetic=args.synthetic, seed=args.seed_paths, dials=dials,
                              grid_paths=args.grid_paths if args.synthetic else 0, runner=runner)
    print_stress(report, ui)
    if args.out:
        out = Path(args.out)
        ui.print(f"json: {write_json(report, out / 'stress.json')}")
        ui.print(f"page: {stress_html(report, out / 'stress.html')}")
        ui.print(f"chart: {stress_png(report, out / 'stress.png')}")
    return 0


def _command_line() -> str:
    return " ".join(shlex.quote(a) for a in [PROG, *sys.argv[1:]])


# --------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: Each subcommand's ``--help`` examples (its epilog), one command line each.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "market": ("squeeze-lab market", "squeeze-lab market --seed 3 --export market_csv/",
               "squeeze-lab run --data csv:market_csv/   # the exported market, read back"),
    "run": (
        "squeeze-lab run configs/book_only.toml",
        "squeeze-lab run configs/default.toml --set overlay.enabled=true --set "
        "'overlay.actions=[\"degross\"]'",
        "squeeze-lab run --data csv:my_prices/ --start 2024-01-02 --end 2025-12-31 --name mybook",
        "squeeze-lab run configs/real_universe.toml --data yahoo --episode "
        "tariff:2025-04-01:2025-04-30",
        "squeeze-lab run runs/book-1a2b3c4d/config.json   # reproduces that run",
        "squeeze-lab run --book my_weights.csv --set overlay.enabled=true   # your own book",
    ),
    "study": ("squeeze-lab study                      # configs/default.toml",
              "squeeze-lab study configs/default.toml --seed 3",
              "squeeze-lab study configs/real_universe.toml --data yahoo"),
    "compare": ("squeeze-lab compare runs/book-1a2b3c4d runs/degross-5e6f7a8b",
                "squeeze-lab compare runs/*/ --out comparison.html"),
    "sweep": ("squeeze-lab sweep configs/overlay_degross.toml --grid overlay.threshold=1,1.5,2 "
              "--grid overlay.lookback=5,10,20",
              "squeeze-lab sweep --grid book.gross=1,2 --jobs 2 --confirm-top 2",
              "squeeze-lab sweep ... --executor dask --scheduler tcp://10.0.0.5:8786"),
    "monitor": ("squeeze-lab monitor --asof 2026-01-21",
                "squeeze-lab monitor configs/default.toml --book my_weights.csv "
                "--credit BAMLH0A0HYM2.csv --json today.json",
                "squeeze-lab monitor --universe --top 30"),
    "stress": ("squeeze-lab stress --episodes jan_2026,jun_jul_2025 --synthetic 500",
               "squeeze-lab stress --book my_weights.csv --synthetic 1000 --size 0.3 "
               "--breadth 0.25 --momentum loses --out stress/",
               "squeeze-lab stress --synthetic 1000 --executor dask --jobs 2"),
}


def _add_common(p: argparse.ArgumentParser, config: bool = True) -> None:
    if config:
        p.add_argument("config", nargs="?", help="TOML config (or a run folder's config.json)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key, e.g. book.gross=1.5 or data.n_names=200 (repeatable)")
    if config:
        p.add_argument("--name", help="run name (folder prefix)")
        p.add_argument("--out", default="runs", help="output folder (default: runs/)")
        p.add_argument("--episode", action="append", metavar="NAME:START:END",
                       help="analyze an extra episode (repeatable)")
        p.add_argument("--book", metavar="PATH",
                       help="your own book: CSV of date,ticker,weight (or wide, or "
                            "date,ticker,shares) instead of the built-in one (book.path)")
    p.add_argument("--data", metavar="SOURCE", help="scenario | yahoo | csv:PATH")
    p.add_argument("--seed", type=int, help="scenario seed")
    p.add_argument("--start", help="first date (YYYY-MM-DD)")
    p.add_argument("--end", help="last date (YYYY-MM-DD)")
    p.add_argument("--attributes", metavar="PATH|yahoo", help="per-ticker attributes")
    p.add_argument("--refresh", action="store_true", help="yahoo: ignore the cache")
    p.add_argument("--drop-missing", action="store_true", help="drop tickers that have no data")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress and no tables")


def _subcommand(sub: argparse._SubParsersAction, name: str, summary: str,
                func: Any) -> argparse.ArgumentParser:
    """One subcommand parser, its :data:`EXAMPLES` as the epilog (kept as written: raw format)."""
    epilog = "examples:\n" + "".join(f"  {line}\n" for line in EXAMPLES[name])
    p = sub.add_parser(name, help=summary, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=epilog)
    p.set_defaults(func=func)
    return p


def _add_executor(p: argparse.ArgumentParser) -> None:
    """--executor and --scheduler: where sweep and stress run their tasks (local pool or Dask)."""
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="dask scheduler address")


def _add_book_tool(p: argparse.ArgumentParser, asof_help: str) -> None:
    """Arguments monitor and stress share: config, data options, own book and the as-of date."""
    p.add_argument("config", nargs="?", help="TOML config (its [book] and [overlay]; default: "
                   "configs/default.toml, its study table ignored)")
    _add_common(p, config=False)
    p.add_argument("--book", metavar="PATH", help="your own book (CSV of date,ticker,weight ...); "
                   "default: the config's book")
    p.add_argument("--asof", metavar="DATE", help=asof_help)


def _add_market(sub: argparse._SubParsersAction) -> None:
    """`market`: summarize a market, optionally export it as CSV the csv feed reads back."""
    p = _subcommand(sub, "market", "summarize (and export) a market", cmd_market)
    _add_common(p, config=False)
    p.add_argument("--export", metavar="DIR", help="write the market as CSV files the csv feed reads")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --export folder (only one this command wrote)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_run_and_study(sub: argparse._SubParsersAction) -> None:
    """`run` and `study`: one backtest, or several and their comparison (same arguments)."""
    _add_common(_subcommand(sub, "run", "run one backtest into a run folder", cmd_run))
    _add_common(_subcommand(sub, "study", "run a study: several runs and their comparison",
                            cmd_study))


def _add_compare(sub: argparse._SubParsersAction) -> None:
    """`compare`: run folders side by side on one HTML page."""
    p = _subcommand(sub, "compare", "compare run folders side by side", cmd_compare)
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--out", help="HTML page to write (default: comparison.html next to the runs)")
    p.add_argument("--quiet", "-q", action="store_true")


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    """`sweep`: a parameter grid on the vectorized twin (or backtrader), locally or on Dask."""
    p = _subcommand(sub, "sweep", "run a parameter grid (vectorized twin by default)", cmd_sweep)
    _add_common(p)
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                   help="a grid axis (repeatable); the sweep is the product of the axes")
    p.add_argument("--engine", choices=("vectorized", "backtrader"), default="vectorized")
    p.add_argument("--jobs", type=int, default=0,
                   help="worker processes (default: the cores; more than the cores is capped, "
                        "with a note)")
    p.add_argument("--confirm-top", type=int, default=0, metavar="K",
                   help="re-run the top K points through backtrader and check they reconcile")
    _add_executor(p)
    p.add_argument("--resume", action="store_true", help="skip grid points already in sweep.csv")


def _add_monitor(sub: argparse._SubParsersAction) -> None:
    """`monitor`: the morning screen of the junk-rally signal and the crowded shorts."""
    p = _subcommand(sub, "monitor", "the morning screen: junk-rally signal, conditions, "
                    "crowded shorts", cmd_monitor)
    _add_book_tool(p, "report as of this session (default: the last)")
    p.add_argument("--credit", metavar="PATH",
                   help="credit spread CSV as FRED exports it (DATE,BAMLH0A0HYM2; '.' = missing)")
    p.add_argument("--sessions", type=int, default=20, help="signal sessions shown (default 20)")
    p.add_argument("--top", type=int, default=20,
                   help="crowding rows shown on the terminal, and in the universe table when "
                        "there is no book short (default 20)")
    p.add_argument("--universe", action="store_true",
                   help="show the universe's most crowded names instead of the book's shorts")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.add_argument("--out", default="runs", help="folder of the HTML page (default: runs/)")


def _add_stress(sub: argparse._SubParsersAction) -> None:
    """`stress`: the book as of a date through past episodes and synthetic squeeze paths."""
    p = _subcommand(sub, "stress", "the book as of a date through past episodes and synthetic "
                    "squeezes", cmd_stress)
    _add_book_tool(p, "the book held at its last rebalance on or before this date (default: the last)")
    p.add_argument("--episodes", metavar="NAME,...",
                   help="episodes to replay: built-in names (feeds.episodes) or NAME:START:END")
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help="synthetic squeeze paths")
    p.add_argument("--seed-paths", type=int, default=0, metavar="SEED",
                   help="seed of the synthetic paths (default 0)")
    p.add_argument("--size", type=float, help="dial: most-shorted basket return over the squeeze "
                   f"(default {0.183})")
    p.add_argument("--length", type=int, help="dial: sessions (default 13)")
    p.add_argument("--breadth", type=float,
                   help="dial: share of the basket's names that rip, 0..1 (default 0.5)")
    p.add_argument("--index-drift", type=float, help="dial: index return over the squeeze (default -0.007)")
    p.add_argument("--momentum", choices=("offsets", "loses", "flat"),
                   help="dial: momentum partly offsets (Jan 2026), loses too (Jun-Jul 2025), or flat")
    p.add_argument("--grid-paths", type=int, default=100, help="paths per dial-grid point (0: no grid)")
    _add_executor(p)
    p.add_argument("--jobs", type=int, default=0, help="dask: local worker processes (default: cores)")
    p.add_argument("--out", metavar="DIR", help="write stress.json, stress.html and stress.png there")


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser: the config keys in the epilog, one subcommand per job."""
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="config keys (use with --set SECTION.KEY=VALUE):\n" + _config_help_safe())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_market, _add_run_and_study, _add_compare, _add_sweep, _add_monitor, _add_stress):
        add(sub)
    return parser


def _config_help_safe() -> str:
    try:
        return config_help()
    except ImportError:  # during early development a section module may be missing
        return "(run `squeeze-lab run --help`)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn project errors into one line + exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SqueezeLabError as err:
        sys.stderr.write(f"{PROG} {args.command}: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
