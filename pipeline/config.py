"""Configuration: sections as backtrader-style params tuples, TOML in, fully resolved dict out.

Every key has a default; ``--set section.key=value`` and config files are checked against the
params tuples (unknown key or wrong type -> one line naming the key and the valid choices).
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..feeds.errors import SqueezeLabError

#: Data section (backtrader-style params tuple: name, default).
DATA_PARAMS: tuple[tuple[str, Any], ...] = (
    ("source", "scenario"),     # scenario | yahoo | csv
    ("path", ""),               # csv: a file or folder
    ("seed", 7),                # scenario: the random seed
    ("n_names", 500),           # scenario: universe size
    ("start", "2023-01-03"),    # first date of the run
    ("end", "2026-03-31"),      # last date of the run
    ("tickers", []),            # yahoo: the universe
    ("tickers_file", ""),       # yahoo: a file with one ticker per line
    ("index", "SPY"),           # yahoo: broad index ticker
    ("growth", "QQQ"),          # yahoo: growth/tech index ticker
    ("attributes", ""),         # path to an attributes CSV, or "yahoo"
    ("short_interest", ""),     # FINRA file(s) or a short-interest CSV (file or folder)
    ("short_interest_lag", 8),  # sessions from settlement to first use (FINRA: 8th business day)
    ("short_interest_max_age", 30),  # sessions after settlement a record is carried forward
    ("drop_missing", False),    # drop tickers that fail to download instead of failing
    ("refresh", False),         # yahoo: ignore the cache and download again
    ("cache_dir", ""),          # yahoo: cache folder (default: the user cache dir)
    ("batch_size", 50),         # yahoo: tickers per download request
    ("ffill_limit", 0),         # csv: forward-fill gaps of at most this many sessions
)
DATA_CHOICES = {"source": ("scenario", "yahoo", "csv")}
DATA_DOCS = {
    "source": "where prices come from: the embedded synthetic scenario market, yfinance, or CSV",
    "path": "csv: a long-format file, a folder of per-ticker files, or a folder of wide files",
    "seed": "scenario: random seed (same seed, same market, byte for byte)",
    "n_names": "scenario: number of stocks in the universe",
    "start": "first trading date of the run (YYYY-MM-DD)",
    "end": "last trading date of the run (YYYY-MM-DD)",
    "tickers": "yahoo: list of tickers",
    "tickers_file": "yahoo: file with one ticker per line",
    "index": "yahoo: broad index ticker (reference series and beta)",
    "growth": "yahoo: growth/tech index ticker",
    "attributes": "CSV of per-ticker attributes (sector, profitable, beta, short_interest, ...) or 'yahoo'",
    "short_interest": "short-interest history: FINRA's pipe-delimited files as downloaded (a file or "
                      "a folder) or a CSV (date, ticker, shares_short | short_interest, "
                      "days_to_cover, ...)",
    "short_interest_lag": "sessions after a settlement date before its short interest is used (FINRA "
                          "publishes on the 8th business day; a publicationDate column overrides)",
    "short_interest_max_age": "sessions after its settlement date a short-interest record is carried "
                              "forward; older records are stale and dropped (the run says so)",
    "drop_missing": "drop tickers with no data instead of stopping",
    "refresh": "yahoo: download again even when the cache has the range",
    "cache_dir": "yahoo: cache folder (default: the platform user cache dir)",
    "batch_size": "yahoo: tickers per yfinance.download request (smaller if rate-limited)",
    "ffill_limit": "csv and yahoo: forward-fill price gaps of at most this many sessions",
}

#: Analysis section.
ANALYSIS_PARAMS: tuple[tuple[str, Any], ...] = (
    ("episodes", []),           # extra episodes, "NAME:START:END"
    ("builtin_episodes", True), # include jun_jul_2025 and jan_2026 (when inside the data)
    ("detect", True),           # detect junk-rally spells and worst drawdowns as episodes
    ("top_n", 5),               # rows of the top-N drawdown table
    ("top_k", 5),               # single-name contributors/detractors per episode
    ("reconcile", True),        # also run the vectorized twin and check it against backtrader
)
ANALYSIS_DOCS = {
    "episodes": "extra named episodes as NAME:START:END",
    "builtin_episodes": "analyze the built-in episodes (June-July 2025, January 2026)",
    "detect": "add episodes the data reveals (junk-rally spells, worst drawdowns)",
    "top_n": "rows in the top-N drawdown table",
    "top_k": "single names listed per episode as top contributors / detractors",
    "reconcile": "re-run the same targets through the vectorized twin and record the difference",
}


DATA_BOUNDS = {"n_names": "[50, 20000]", "ffill_limit": "[0, inf)", "batch_size": "[1, inf)",
               "short_interest_lag": "[0, inf)", "short_interest_max_age": "[1, inf)"}
ANALYSIS_BOUNDS = {"top_n": "[1, inf)", "top_k": "[1, inf)"}


def _strategy_sections() -> dict[str, tuple[tuple, dict, dict, dict]]:
    """Section -> (params tuple, choices, docs, bounds), in config order."""
    from ..strategies import book, execution, overlay

    return {
        "data": (DATA_PARAMS, DATA_CHOICES, DATA_DOCS, DATA_BOUNDS),
        "book": (book.BOOK_PARAMS, book.BOOK_PARAM_CHOICES, book.BOOK_PARAM_DOCS,
                 book.BOOK_PARAM_BOUNDS),
        "overlay": (overlay.OVERLAY_PARAMS, overlay.OVERLAY_PARAM_CHOICES,
                    overlay.OVERLAY_PARAM_DOCS, overlay.OVERLAY_PARAM_BOUNDS),
        "execution": (execution.EXEC_PARAMS, execution.EXEC_PARAM_CHOICES,
                      execution.EXEC_PARAM_DOCS, getattr(execution, "EXEC_PARAM_BOUNDS", {})),
        "analysis": (ANALYSIS_PARAMS, {}, ANALYSIS_DOCS, ANALYSIS_BOUNDS),
    }


SECTIONS = ("data", "book", "overlay", "execution", "analysis")
TOP_KEYS = ("name", "study", *SECTIONS)


def load_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML (or a run folder's config.json) into a nested dict; errors name the file."""
    if path is None:
        return {}
    p = Path(path)
    if p.is_dir() and (p / "config.json").is_file():
        p = p / "config.json"
    if not p.is_file():
        raise SqueezeLabError(f"config file {p} not found: give a path like configs/default.toml")
    try:
        text = p.read_text()
        return json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise SqueezeLabError(f"config file {p} is not valid {p.suffix[1:].upper()}: {err}") from err
    except UnicodeDecodeError as err:
        raise SqueezeLabError(f"config file {p} is not text: give a TOML file") from err


def parse_value(text: str) -> Any:
    """A --set/--grid value as TOML would read it (1.5, true, "x", [1, 2]); bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``section.key`` in a nested config dict (the key is checked at resolution)."""
    parts = dotted.split(".")
    if len(parts) == 1 and parts[0] == "name":
        config["name"] = value
        return
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise SqueezeLabError(
            f"unknown config key {dotted!r}: keys are SECTION.KEY with SECTION one of "
            f"{', '.join(SECTIONS)} (e.g. book.gross=1.5)"
        )
    config.setdefault(parts[0], {})[parts[1]] = value


def apply_overrides(config: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set section.key=value`` overrides to a copy of ``config``."""
    out = copy.deepcopy(config)
    for item in sets:
        if "=" not in item:
            raise SqueezeLabError(f"--set {item!r} is not KEY=VALUE: write e.g. --set book.gross=1.5")
        key, value = item.split("=", 1)
        set_key(out, key.strip(), parse_value(value.strip()))
    return out


def resolve_config(raw: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """Fill every default, reject unknown keys and wrong types; the result reproduces the run."""
    from ..strategies.params import check_params

    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise SqueezeLabError(
            f"unknown config section {unknown[0]!r}: sections are {', '.join(TOP_KEYS)}"
        )
    out: dict[str, Any] = {"name": str(name or raw.get("name") or "run")}
    for section, (params, choices, _docs, bounds) in _strategy_sections().items():
        given = raw.get(section, {}) or {}
        if not isinstance(given, Mapping):
            raise SqueezeLabError(f"config section [{section}] must be a table of keys")
        out[section] = check_params(params, dict(given), choices, bounds=bounds, where=section)
    return out


def config_help() -> str:
    """Every config key with its default and meaning (for --help and the README)."""
    from ..strategies.params import describe_choices

    lines = []
    for section, (params, choices, docs, _bounds) in _strategy_sections().items():
        lines.append(f"[{section}]")
        for key, default in params:
            choice = f" (one of: {describe_choices(choices[key])})" if key in choices else ""
            lines.append(f"  {key} = {json.dumps(default)}  # {docs.get(key, '')}{choice}")
    return "\n".join(lines)


def load_market(data: Mapping[str, Any], progress: Callable[[str, int, int], None] | None = None):
    """Build the Market the data section asks for, restricted to [start, end]."""
    source = data["source"]
    if source == "scenario":
        from ..feeds.scenario import scenario_market

        market = scenario_market(seed=int(data["seed"]), n_names=int(data["n_names"]))
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
            tickers, data["start"], data["end"], index=data["index"], growth=data["growth"],
            attributes=data["attributes"] or None, short_interest=data["short_interest"] or None,
            si_lag=int(data["short_interest_lag"]), si_max_age=int(data["short_interest_max_age"]),
            cache_dir=data["cache_dir"] or None, refresh=bool(data["refresh"]),
            drop_missing=bool(data["drop_missing"]), batch_size=int(data["batch_size"]),
            ffill_limit=int(data["ffill_limit"]), progress=progress,
        )
    else:
        from ..feeds.csv_feed import csv_market

        if not data["path"]:
            raise SqueezeLabError("--data csv needs a path: write --data csv:PATH")
        market = csv_market(
            data["path"], attributes=data["attributes"] or None,
            short_interest=data["short_interest"] or None, ffill_limit=int(data["ffill_limit"]),
            si_lag=int(data["short_interest_lag"]), si_max_age=int(data["short_interest_max_age"]),
        )
    return market.slice(data["start"], data["end"])


def read_tickers_file(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise SqueezeLabError(f"tickers file {p} not found: give a file with one ticker per line")
    return [t.strip().upper() for t in p.read_text().splitlines() if t.strip() and not t.startswith("#")]


