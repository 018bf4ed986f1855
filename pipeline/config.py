"""Configuration: TOML/JSON in, a frozen, typed :class:`Config` out, checked before any work.

The keys, their types, defaults, bounds and relations are the tables of :mod:`strategies.spec`
(add a key there, nowhere else). :func:`resolve_config` checks everything that can be checked
without data (types, bounds, dates, relations, names); :func:`check_against_market` checks what
needs the market (warm-up inside the range, legs the universe can fill, episodes with sessions)
as soon as it is loaded, before any output folder exists. Every failure is one
:class:`SqueezeLabError` naming the key and the fix.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..feeds.errors import SqueezeLabError
from ..strategies.params import SectionValues
from ..strategies.spec import SECTION_NAMES, SECTIONS, STUDY, TOP, TOP_KEYS, WARMUP_KEYS


@dataclass(frozen=True)
class Config(Mapping):
    """A resolved run configuration: every key defaulted, typed and checked; immutable.

    Sections are attributes (``config.book.gross``); it is also a read-only mapping
    (``config["book"]["gross"]``), and :meth:`to_dict` is the JSON written as config.json.
    """

    name: str
    data: SectionValues
    book: SectionValues
    overlay: SectionValues
    execution: SectionValues
    analysis: SectionValues

    def __getitem__(self, key: str) -> Any:
        if key not in ("name", *SECTION_NAMES):
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(("name", *SECTION_NAMES))

    def __len__(self) -> int:
        return 1 + len(SECTION_NAMES)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, not tuples): what config.json holds."""
        return {"name": self.name, **{s: self[s].as_dict() for s in SECTION_NAMES}}

    def replace(self, **changes: Any) -> Config:
        """A re-validated copy: ``config.replace(name="x", book={"gross": 1.5})`` (tables merge)."""
        raw = self.to_dict()
        for key, value in changes.items():
            if isinstance(value, Mapping) and isinstance(raw.get(key), Mapping):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        return resolve_config(raw)

    def __deepcopy__(self, memo: dict[int, Any]) -> Config:  # immutable
        return self


def load_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML (or a run folder's config.json) into a nested dict; errors name the file."""
    if path is None:
        return {}
    p = Path(path)
    if p.is_dir():
        if (p / "config.json").is_file():
            p = p / "config.json"
        else:
            raise SqueezeLabError(f"config {p} is a folder, not a config file: give a TOML file "
                                  "(e.g. configs/default.toml) or a run folder's config.json")
    if not p.is_file():
        raise SqueezeLabError(f"config file {p} not found: give a path like configs/default.toml")
    kind = "JSON" if p.suffix.lower() == ".json" else "TOML"
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a byte-order mark from a Windows editor is fine
        raw = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise SqueezeLabError(f"config file {p} is not valid {kind}: {err}") from err
    except UnicodeDecodeError as err:
        raise SqueezeLabError(f"config file {p} is not text: give a TOML file") from err
    except OSError as err:
        raise SqueezeLabError(f"config file {p} cannot be read ({err.strerror}): check it") from err
    if not isinstance(raw, Mapping):
        raise SqueezeLabError(f"config file {p} holds {type(raw).__name__ if raw is not None else 'null'}"
                              ", not a table of sections: write {\"book\": {...}, ...} or [book] ...")
    return dict(raw)


def parse_value(text: str) -> Any:
    """A --set/--grid value as TOML would read it (1.5, true, "x", [1, 2]); bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``section.key`` in a nested config dict (the key itself is checked at resolution)."""
    parts = dotted.split(".")
    if len(parts) == 1 and parts[0] == "name":
        config["name"] = value
        return
    if len(parts) != 2 or parts[0] not in SECTION_NAMES:
        raise SqueezeLabError(
            f"unknown config key {dotted!r}: keys are SECTION.KEY with SECTION one of "
            f"{', '.join(SECTION_NAMES)} (e.g. book.gross=1.5)"
        )
    section = config.setdefault(parts[0], {})
    if not isinstance(section, dict):
        section = config[parts[0]] = dict(section) if isinstance(section, Mapping) else {}
    section[parts[1]] = value


def apply_overrides(config: Mapping[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set section.key=value`` overrides to a copy of ``config``."""
    out = copy.deepcopy(dict(config))
    for item in sets:
        if "=" not in item:
            raise SqueezeLabError(f"--set {item!r} is not KEY=VALUE: write e.g. --set book.gross=1.5")
        key, value = item.split("=", 1)
        set_key(out, key.strip(), parse_value(value.strip()))
    return out


def resolve_config(raw: Mapping[str, Any] | None, name: str | None = None) -> Config:
    """Fill every default, check every key, value and relation; return the frozen :class:`Config`.

    ``name`` (``--name``) wins over ``raw["name"]``. A ``study`` table is ignored here (see
    :func:`pipeline.study.study_configs`).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SqueezeLabError(f"a config is a table of sections, not {type(raw).__name__}: "
                              "write [book] gross = 2.0 ...")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise SqueezeLabError(
            f"unknown config section {unknown[0]!r}: sections are {', '.join(TOP_KEYS)}"
        )
    given_name = name if name is not None else raw.get("name", TOP.param("name").default)
    run_name = TOP.resolve({"name": given_name})["name"]
    sections = {s: SECTIONS[s].resolve(raw.get(s) if raw.get(s) is not None else {})
                for s in SECTION_NAMES}
    return Config(name=run_name, **sections)


def ignored_settings(config: Config, sets: Sequence[str]) -> list[str]:
    """Notes for ``--set`` keys the run will not read (an overlay key with the overlay off, ...)."""
    notes = []
    for item in sets:
        key = item.split("=", 1)[0].strip()
        section, _, name = key.partition(".")
        if section not in SECTIONS or name not in SECTIONS[section].names:
            continue
        reason = SECTIONS[section].inert_reason(name, config[section], sweep=False)
        if reason is not None:
            notes.append(f"--set {key} has no effect: {reason[0]} ({reason[1]})")
    return notes


def check_study(study: Any) -> tuple[Mapping[str, Any], ...]:
    """The ``[study]`` table checked: only ``runs``, a list of tables with names."""
    if study is None:
        return ()
    if not isinstance(study, Mapping):
        raise SqueezeLabError("[study] must be a table with a list of [[study.runs]]")
    return STUDY.resolve(study)["runs"]


def config_help() -> str:
    """Every config key with its default and meaning (for --help)."""
    lines: list[str] = []
    for section in SECTIONS.values():
        lines += section.help_lines()
    return "\n".join(lines)


# --------------------------------------------------------------------------- data-dependent
def warmup_sessions(book: Mapping[str, Any]) -> tuple[int, str]:
    """Sessions of history the book needs before its first signal, and the key that sets it."""
    key = max(WARMUP_KEYS, key=lambda k: book[k])
    return int(book[key]), key


def check_against_market(config: Config, market: Any) -> list[str]:
    """Refuse a config the market cannot honour; return notes on what will differ from the ask.

    Called as soon as the market is loaded, before any output folder or backtest.
    """
    notes: list[str] = []
    dates = market.dates
    n_sessions, n_names = len(dates), int(market.n_names)
    span = f"{dates[0].date()}..{dates[-1].date()}" if n_sessions else "the data"
    check_user_episodes(config.analysis["episodes"], dates)
    book = config.book
    need, key = warmup_sessions(book)
    if book["path"]:
        pass  # the user's own book: the built-in book's windows and legs are unused
    elif need >= n_sessions - 1:
        raise SqueezeLabError(
            f"book.{key}={need} needs {need} sessions of history before the first trade, but "
            f"{span} has {n_sessions} sessions: start earlier (--start) or lower book.{key}"
        )
    if not book["path"] and n_names < 2:
        raise SqueezeLabError(
            f"the universe has {n_names} name(s) in {span}: a long-short book needs at least 2 "
            "(one long, one short); give more tickers or a longer range")
    if not book["path"] and book["fraction_per_leg"] == 0:
        most = n_names // 2
        if book["names_per_leg"] > most:
            raise SqueezeLabError(
                f"book.names_per_leg={book['names_per_leg']} cannot be filled: the universe has "
                f"{n_names} names, so at most {most} a leg: set book.names_per_leg <= {most} "
                "(or book.fraction_per_leg)"
            )
    ov = config.overlay
    if ov["enabled"]:
        window = ov["signal_lookback"] + (ov["signal_vol_window"]
                                          if ov["signal_mode"] == "zscore" else 0)
        if window >= n_sessions - 1:
            raise SqueezeLabError(
                f"overlay.signal_lookback={ov['signal_lookback']} (+ signal_vol_window in zscore "
                f"mode) needs {window} sessions, but {span} has {n_sessions}: the overlay could "
                "never act; lower overlay.signal_lookback or run a longer range"
            )
        if ov["basket_names"] > n_names:
            raise SqueezeLabError(
                f"overlay.basket_names={ov['basket_names']} is more than the universe's {n_names} "
                f"names: set overlay.basket_names <= {n_names}"
            )
    return notes


def check_user_episodes(specs: Sequence[str], dates: Any) -> None:
    """Each user episode has at least one session in the data (a weekend is not an episode)."""
    import pandas as pd

    if len(dates) == 0:
        raise SqueezeLabError("the market has no trading dates: check data.start and data.end")
    first, last = dates[0], dates[-1]
    for spec in specs:
        name, start, end = spec.split(":")
        s, e = pd.Timestamp(start), pd.Timestamp(end)
        if e < first or s > last:
            raise SqueezeLabError(
                f"episode {name} ({start}..{end}) is outside the data ({first.date()}..{last.date()})"
                ": pick an episode window inside the data or load data that covers it")
        if not ((dates >= s) & (dates <= e)).any():
            raise SqueezeLabError(
                f"episode {name} ({start}..{end}) has no session in it (a weekend or holiday): "
                "widen it to include a trading day")


def check_jobs(jobs: int, note: Callable[[str], None] | None = None) -> int:
    """``--jobs`` as worker processes: 0 = the cores; more than the cores is capped, with a note."""
    cores = os.cpu_count() or 1
    if jobs < 0:
        raise SqueezeLabError(f"--jobs {jobs} is negative: give a number of workers (0 = cores)")
    if jobs == 0:
        return cores
    if jobs > cores:
        if note is not None:
            note(f"--jobs {jobs} is more than the {cores} cores: using {cores} worker processes")
        return cores
    return jobs


def check_output_folder(out_dir: str | Path) -> Path:
    """Refuse an ``--out`` that cannot be written, before any work (nothing is created here)."""
    out = Path(out_dir)
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise SqueezeLabError(f"cannot write to output folder {out}: {probe} is a file; pick a "
                              "writable --out")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise SqueezeLabError(f"cannot write to output folder {out}: {probe} is not writable; "
                              "pick a writable --out")
    return out


# --------------------------------------------------------------------------- the market
def load_market(data: Mapping[str, Any], progress: Callable[[str, int, int], None] | None = None):
    """Build the Market the data section asks for, restricted to [start, end] (empty: the data's
    own range; the scenario keeps its own)."""
    check_input_paths(data)
    source = data["source"]
    start, end = (data["start"] or None), (data["end"] or None)
    if source == "scenario":
        from ..feeds.scenario import BURN_IN, scenario_market

        # without a start the scenario keeps its own range plus its simulated year before 2023,
        # so a book's warm-up ends by 2023 and it trades through 2023-2026
        market = scenario_market(seed=int(data["seed"]), n_names=int(data["n_names"]),
                                 history=BURN_IN if start is None else 0)
    elif source == "yahoo":
        from ..feeds.yahoo import yahoo_market

        tickers = list(data["tickers"])
        if data["tickers_file"]:
            tickers += read_tickers_file(data["tickers_file"])
        if not tickers:
            raise SqueezeLabError(
                "--data yahoo needs a universe: set data.tickers in the config or data.tickers_file"
            )
        market = yahoo_market(
            tickers, start, end, index=data["index"], growth=data["growth"],
            attributes=data["attributes"] or None, short_interest=data["short_interest"] or None,
            cache_dir=data["cache_dir"] or None, refresh=bool(data["refresh"]),
            drop_missing=bool(data["drop_missing"]), batch_size=int(data["batch_size"]),
            ffill_limit=int(data["ffill_limit"]), progress=progress,
            si_lag=int(data["short_interest_lag"]), si_max_age=int(data["short_interest_max_age"]),
            exclude=list(data["exclude"]), suspicious=data["suspicious"],
        )
    else:
        from ..feeds.csv_feed import csv_market
        from ..strategies.spec import DATA

        defaults = {p.name: p.default for p in DATA.params}
        market = csv_market(
            data["path"], attributes=data["attributes"] or None,
            short_interest=data["short_interest"] or None, ffill_limit=int(data["ffill_limit"]),
            si_lag=int(data["short_interest_lag"]), si_max_age=int(data["short_interest_max_age"]),
            start=start, end=end, exclude=list(data["exclude"]), suspicious=data["suspicious"],
            index_ticker=data["index"] or None, growth_ticker=data["growth"] or None,
            reference_prices=data["reference_prices"] or None,
            optional_references=[r for r in ("index", "growth") if data[r] == defaults[r]],
            cache_dir=data["cache_dir"] or None, progress=progress,
        )
    market = market.slice_noted(start, end)
    if market.short_info is not None:
        from ..feeds.short_interest import check_known_in_range

        check_known_in_range(market.short_info, (market.short_interest, market.days_to_cover),
                             market.dates)
    return market


def check_input_paths(data: Mapping[str, Any]) -> None:
    """Files the data section names exist and are of the right kind (before any download)."""
    checks = (("attributes", "a CSV file of per-ticker attributes, or yahoo"),
              ("tickers_file", "a file with one ticker per line"),
              ("reference_prices", "a price file of reference tickers (date,ticker,close)"))
    for key, what in checks:
        value = data[key]
        if not value or (key == "attributes" and value == "yahoo"):
            continue
        p = Path(value)
        if p.is_dir():
            raise SqueezeLabError(f"data.{key} {p} is a folder: give {what}")
        if not p.exists():
            raise SqueezeLabError(f"data.{key} {p} not found: give {what}")


def read_tickers_file(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise SqueezeLabError(f"tickers file {p} not found: give a file with one ticker per line")
    return [t.strip().upper() for t in p.read_text().splitlines() if t.strip() and not t.startswith("#")]
