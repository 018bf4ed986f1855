"""Every configuration parameter, once: one :class:`~strategies.params.Param` per key, one table per
section, plus the relations between keys.

This module is the single source of the facts; everything else is generated from it:

- backtrader ``params`` tuples: ``BOOK.bt_params()`` (``SqueezeBook.params``), ``OVERLAY``, ...;
- validation: :func:`pipeline.config.resolve_config` builds frozen, typed section objects with
  :meth:`Section.resolve`; the book, overlay and execution code resolve through the same tables;
- ``squeeze-lab --help`` (:func:`pipeline.config.config_help`) and ``docs/configuration.md``
  (:func:`configuration_markdown`, written by ``make docs``; tests/test_spec.py proves the file,
  ``--help`` and the backtrader params agree).

To add a key: add one ``Param(name, default, "one-line doc", choices=..., bounds=...)`` to its
section's tuple below. The type comes from the default (or ``type="date"``, ``"list"``, ...); a
rule between keys is a ``Relation`` in the section's ``relations``; a key read only in some setups
gets ``used_if=("text", predicate)``; a key that changes no number of a sweep row gets
``affects_result=False``; a flag that sets it, ``cli="--flag"``. Read it in the code as
``config.section.key`` (or ``p["key"]`` in the book/overlay/execution functions), then run
``make docs``. Nothing else lists the keys. Only light imports here: ``--help`` reads this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..feeds.errors import SqueezeLabError
from .params import Param, Relation, Section, parse_date

#: Characters allowed in a run name and an episode name (they become folder and column names).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_name(value: str, what: str = "run name", fix: str = "--name my-book") -> str:
    """A name that is safe as a folder or column name, or one error saying what is allowed."""
    if not NAME_RE.match(value) or value in (".", ".."):
        raise SqueezeLabError(f"{what} {value!r} is not a valid name ({NAME_RULE}): write e.g. {fix}")
    return value


def check_episodes(specs: tuple[Any, ...]) -> tuple[str, ...]:
    """``NAME:START:END`` strings (or a built-in episode's bare name, written out as its window):
    names valid and distinct, dates real, start <= end."""
    from ..feeds.episodes import EPISODES

    seen: dict[str, str] = {}
    out = []
    for spec in specs:
        if not isinstance(spec, str):
            raise SqueezeLabError(f"analysis.episodes item {spec!r} is not NAME:START:END text: "
                                  "write e.g. may_2024:2024-05-01:2024-05-31")
        if spec.strip() in EPISODES:
            ep = EPISODES[spec.strip()]
            spec = f"{ep.name}:{ep.start:%Y-%m-%d}:{ep.end:%Y-%m-%d}"
        parts = spec.split(":")
        if len(parts) != 3 or not parts[0]:
            raise SqueezeLabError(f"episode {spec!r} is not NAME:START:END nor a built-in episode "
                                  f"({', '.join(EPISODES)}): write e.g. "
                                  "--episode may_2024:2024-05-01:2024-05-31")
        name = check_name(parts[0].strip(), "episode name", "--episode may_2024:2024-05-01:2024-05-31")
        try:
            start = parse_date(parts[1], f"episode {name} start")
            end = parse_date(parts[2], f"episode {name} end")
        except SqueezeLabError as err:
            raise SqueezeLabError(f"episode {spec!r} has a date that is not YYYY-MM-DD ({err}); "
                                  f"write e.g. {name}:2024-05-01:2024-05-31") from None
        if end < start:
            raise SqueezeLabError(f"episode {name!r} ends ({end}) before it starts ({start}): "
                                  "give START:END in order")
        if name in seen:
            raise SqueezeLabError(f"episode name {name!r} is given twice ({seen[name]} and {spec}): "
                                  "give each episode its own name")
        seen[name] = spec
        out.append(f"{name}:{start}:{end}")
    return tuple(out)


def check_tickers(values: tuple[Any, ...]) -> tuple[str, ...]:
    """Ticker symbols as given, stripped; the same symbol twice (any case) is refused."""
    out: list[str] = []
    seen: dict[str, str] = {}
    for t in values:
        if not isinstance(t, str) or not t.strip():
            raise SqueezeLabError(f"ticker {t!r} is not a symbol: give tickers as text, e.g. [\"AAPL\"]")
        key = t.strip().upper()
        if key in seen:
            raise SqueezeLabError(f"ticker {t!r} is listed twice (also as {seen[key]!r}): "
                                  "list each ticker once")
        seen[key] = t
        out.append(t.strip())
    return tuple(out)


def _rel(doc: str):
    """Decorator: a function ``values -> message | None`` becomes a :class:`Relation`."""
    def wrap(fn):
        return Relation(doc, fn)
    return wrap


# --------------------------------------------------------------------------- data
@_rel("data.start must not be after data.end")
def _start_before_end(v: Mapping[str, Any]) -> str | None:
    if v["start"] and v["end"] and v["start"] > v["end"]:
        return f"data.start {v['start']} is after end {v['end']}: swap --start and --end"
    return None


@_rel("source = csv needs data.path")
def _csv_needs_path(v: Mapping[str, Any]) -> str | None:
    if v["source"] == "csv" and not v["path"]:
        return "--data csv needs a path: write --data csv:PATH (or data.path)"
    return None


@_rel("source = yahoo needs data.tickers or data.tickers_file")
def _yahoo_needs_universe(v: Mapping[str, Any]) -> str | None:
    if v["source"] == "yahoo" and not v["tickers"] and not v["tickers_file"]:
        return ("--data yahoo needs a universe: set data.tickers in the config or "
                "data.tickers_file")
    return None


@_rel("attributes = \"yahoo\" only with source = yahoo")
def _yahoo_attributes(v: Mapping[str, Any]) -> str | None:
    if v["attributes"] == "yahoo" and v["source"] != "yahoo":
        return (f"--attributes yahoo reads yfinance's ticker info, which only --data yahoo has "
                f"(data.source is {v['source']}): give a CSV file of attributes, or --data yahoo")
    return None


#: Real data runs at its defaults: names with suspicious prices are dropped, and the run says so.
SUSPICIOUS_DEFAULT = "exclude"


@_rel("data.exclude / data.suspicious / data.reference_prices only with real data")
def _real_data_keys(v: Mapping[str, Any]) -> str | None:
    if v["source"] == "scenario" and (v["exclude"] or v["suspicious"] != SUSPICIOUS_DEFAULT
                                      or v["reference_prices"]):
        return ("data.exclude, data.suspicious and data.reference_prices apply to real data "
                "(--data csv:PATH or yahoo): the scenario market has no suspicious prices to drop "
                "and builds its own references")
    return None


DATA = Section("data", "where prices come from and which dates are run", (
    Param("source", "scenario", "where prices come from: the embedded synthetic scenario market, "
          "yfinance, or CSV", choices=("scenario", "yahoo", "csv"), cli="--data"),
    Param("path", "", "csv: a long-format file, a folder of per-ticker files, or a folder of "
          "wide files", cli="--data csv:PATH"),
    Param("seed", 7, "scenario: random seed (same seed, same market, byte for byte)", cli="--seed"),
    Param("n_names", 500, "scenario: number of stocks in the universe", bounds="[50, 20000]"),
    Param("start", "", "first date of the run; empty: the data's own first date (the scenario "
          "keeps its own range; yahoo needs a start)", type="date", cli="--start"),
    Param("end", "", "last date of the run; empty: the data's own last date (yahoo: the last "
          "complete session)", type="date", cli="--end"),
    Param("tickers", (), "yahoo: list of tickers", choices=(str,), check=check_tickers,
          example=("AAPL", "MSFT")),
    Param("tickers_file", "", "yahoo: file with one ticker per line"),
    Param("index", "SPY", "broad index ticker (reference series and beta), never traded: yahoo "
          "downloads it, csv finds it in the prices or data.reference_prices (without it, and at "
          "the default, the index is built from the universe and the run says so); 'none' builds "
          "it from the universe"),
    Param("growth", "QQQ", "growth/tech index ticker, found like data.index"),
    Param("attributes", "", "CSV of per-ticker attributes (sector, profitable, beta, "
          "short_interest, ...) or 'yahoo'", cli="--attributes"),
    Param("short_interest", "", "short-interest history: FINRA's pipe-delimited files as "
          "downloaded (a file or a folder) or a CSV (date, ticker, shares_short | short_interest, "
          "days_to_cover, ...)"),
    Param("short_interest_lag", 8, "sessions after a settlement date before its short interest "
          "is used (FINRA publishes on the 8th business day; a publicationDate column overrides)",
          bounds="[0, inf)"),
    Param("short_interest_max_age", 30, "sessions after its settlement date a short-interest "
          "record is carried forward; older records are stale and dropped (the run says so)",
          bounds="[1, inf)"),
    Param("borrow", "", "CSV of daily borrow fees: date,ticker,fee_bps[,available_shares] (basis "
          "points a year; empty available_shares = no limit); used when execution.borrow_model "
          "= 'file' (docs/borrow.md)"),
    Param("drop_missing", False, "drop tickers with no data instead of stopping",
          cli="--drop-missing"),
    Param("refresh", False, "yahoo: download again even when the cache has the range",
          cli="--refresh"),
    Param("cache_dir", "", "yahoo: cache folder (default: the platform user cache dir)"),
    Param("batch_size", 50, "yahoo: tickers per yfinance.download request (smaller if "
          "rate-limited)", bounds="[1, inf)"),
    Param("ffill_limit", 0, "csv and yahoo: forward-fill price gaps of at most this many "
          "sessions", bounds="[0, inf)"),
    Param("exclude", (), "csv and yahoo: tickers dropped from the universe (exact names, not "
          "case-sensitive; each must be in the data), e.g. [\"TTNP\", \"CHCI\"]; the run notes "
          "them", choices=(str,), check=check_tickers, example=("TTNP", "CHCI")),
    Param("suspicious", SUSPICIOUS_DEFAULT, "csv and yahoo: names with a one-day move of x3 or "
          "more, or of x2 reversed the next day (or a price too high to trade at share "
          "granularity): exclude them from the universe, keep and trade them (both noted), or "
          "stop naming them",
          choices=("stop", "keep", "exclude")),
    Param("reference_prices", "", "csv: a price file of reference tickers (e.g. etf_close.csv.gz "
          "with date,ticker,close) that data.index / data.growth name; never traded"),
), relations=(_start_before_end, _csv_needs_path, _yahoo_needs_universe, _yahoo_attributes,
               _real_data_keys))


# --------------------------------------------------------------------------- book
@_rel("book.momentum_skip < book.momentum_lookback")
def _skip_below_lookback(v: Mapping[str, Any]) -> str | None:
    if v["momentum_skip"] >= v["momentum_lookback"]:
        return (f"book.momentum_skip={v['momentum_skip']} must be smaller than "
                f"book.momentum_lookback={v['momentum_lookback']}: lower book.momentum_skip or "
                "raise book.momentum_lookback (e.g. 252 and 21, or 60 and 5)")
    return None


@_rel("|book.net| < book.gross")
def _net_inside_gross(v: Mapping[str, Any]) -> str | None:
    if abs(v["net"]) >= v["gross"]:
        return (f"book.net={v['net']} must be inside (-book.gross, book.gross) with "
                f"book.gross={v['gross']}: e.g. book.net=0.0")
    return None


#: Book windows that need history before the first signal: the warm-up is the longest of them.
WARMUP_KEYS = ("momentum_lookback", "vol_window", "beta_window")

BOOK = Section("book", "the crowded long-short book: scores, selection, weights, exposures", (
    Param("rebalance", "monthly", "when the book is rebuilt: 'monthly' / 'weekly' (first session "
          "of each month / week), 'daily', or an int N (every N sessions after warm-up)",
          choices=("monthly", "weekly", "daily", int), bounds="[1, inf)"),
    Param("momentum_lookback", 252, "sessions back to the start of the 12-1 momentum window "
          "(252 ~ 12 months)", bounds="[2, inf)"),
    Param("momentum_skip", 21, "most recent sessions left out of momentum (21 ~ 1 month)",
          bounds="[0, inf)"),
    Param("vol_window", 63, "sessions of realized volatility (quality, junk proxy, inverse_vol "
          "weights)", bounds="[2, inf)"),
    Param("beta_window", 126, "sessions of the rolling beta to the index (quality, junk, beta "
          "neutrality)", bounds="[2, inf)"),
    Param("names_per_leg", 100, "names held in each leg (used when fraction_per_leg is 0)",
          bounds="[1, inf)", used_if=("fraction_per_leg = 0", lambda v: v["fraction_per_leg"] == 0)),
    Param("fraction_per_leg", 0.0, "if > 0: share of the scored universe held in each leg, "
          "instead of names_per_leg", bounds="[0, 0.5]"),
    Param("weighting", "equal", "weights within a leg: 'equal', 'score' (proportional to rank: "
          "best = k, worst selected = 1) or 'inverse_vol'",
          choices=("equal", "score", "inverse_vol")),
    Param("gross", 2.0, "target gross exposure, sum of |weights| as a fraction of equity "
          "(2.0 = 200%)", bounds="(0, inf)"),
    Param("net", 0.0, "target net exposure (long - short) when neutral='dollar' (0.0 = dollar "
          "neutral)", bounds="(-inf, inf)",
          used_if=("neutral = 'dollar'", lambda v: v["neutral"] == "dollar")),
    Param("neutral", "dollar", "'dollar': legs sized by gross and net; 'beta': legs sized so long "
          "beta exposure = short beta exposure, gross unchanged (net is ignored)",
          choices=("dollar", "beta")),
    Param("net_limit", 1.0, "neutral='beta': the net exposure (long - short, fraction of "
          "equity) the beta-neutral legs may reach; beyond it they are held at +/-net_limit and "
          "the rebalance reason says so (a stock account pays for a net long with its equity: "
          "1.0 = all of it; execution.cash_buffer keeps a margin on top)",
          bounds="[0, inf)"),
    Param("max_weight", 0.05, "cap on any one name's |weight| (excess redistributed within the "
          "leg)", bounds="(0, inf)"),
    Param("quality_weight", 0.5, "weight of quality vs 12-1 momentum in the long composite "
          "(0..1)", bounds="[0, 1]"),
    Param("short_momentum_weight", 0.7, "weight of minus 12-1 momentum vs the junk score in the "
          "short ranking (0..1; 0 = junk score alone)", bounds="[0, 1]"),
    Param("low_price", 5.0, "price under which a stock counts as low-priced junk (dollars)",
          bounds="[0, inf)"),
    Param("path", "", "your own book instead of the built-in one: a CSV of target weights "
          "(date,ticker,weight or wide date,TICKER,...) or shares (date,ticker,shares); see "
          "strategies/own_book.py. The other book keys are then unused", cli="--book"),
    Param("capital", 1_000_000.0, "own book in shares only: the equity the share counts belong "
          "to (weights = shares x close / capital)", bounds="(0, inf)",
          used_if=("path is set", lambda v: bool(v["path"]))),
), relations=(_skip_below_lookback, _net_inside_gross))


# --------------------------------------------------------------------------- overlay
@_rel("overlay.threshold and exit_threshold are finite; exit_threshold <= threshold")
def _hysteresis(v: Mapping[str, Any]) -> str | None:
    import math

    ex = v["exit_threshold"]
    if not math.isfinite(v["threshold"]) or (ex is not None and not math.isfinite(ex)):
        return ("overlay params threshold and exit_threshold must be finite numbers: "
                "e.g. threshold=2.0, exit_threshold=1.0")
    if ex is not None and ex > v["threshold"]:
        return (f"overlay param exit_threshold={ex} is above threshold={v['threshold']}: give an "
                f"exit_threshold <= threshold (hysteresis), e.g. {v['threshold'] / 2}")
    return None


@_rel("overlay.actions lists each action once")
def _actions_once(v: Mapping[str, Any]) -> str | None:
    if len(set(v["actions"])) != len(v["actions"]):
        return f"overlay param actions={list(v['actions'])} repeats an action: list each action once"
    return None


@_rel("overlay.hedge_size <= 1 (the hedge is at most the equity)")
def _hedge_sane(v: Mapping[str, Any]) -> str | None:
    if v["hedge_size"] > 1:
        return (f"overlay.hedge_size={v['hedge_size']} would hold more than the equity in the "
                "hedge basket (the longs are trimmed to fund it): give a fraction in [0, 1], "
                "e.g. 0.1")
    return None


@_rel("an enabled overlay has at least one action")
def _enabled_acts(v: Mapping[str, Any]) -> str | None:
    if v["enabled"] and not v["actions"]:
        return ("overlay.enabled=true with overlay.actions=[] would do nothing: give actions, e.g. "
                "overlay.actions=[\"degross\"], or set overlay.enabled=false")
    return None


OVERLAY_ACTIONS = ("degross", "cover_crowded", "hedge_basket", "neutralize_beta", "cover_expensive")

OVERLAY = Section("overlay", "the junk-momentum overlay: when it switches on and what it does", (
    Param("enabled", False, "switch the overlay on (False: the book's targets pass through "
          "unchanged)"),
    Param("actions", ("degross",), "actions applied in this order while the overlay is on: "
          "degross, cover_crowded, hedge_basket, neutralize_beta, cover_expensive",
          choices=OVERLAY_ACTIONS),
    Param("signal_mode", "zscore", "'zscore': most-shorted basket minus index over "
          "signal_lookback, in units of its trailing volatility; 'return': the basket's raw "
          "return over signal_lookback", choices=("zscore", "return")),
    Param("signal_lookback", 10, "sessions of the junk-rally move (10 ~ two weeks)",
          bounds="[1, inf)"),
    Param("signal_vol_window", 63, "sessions of the trailing volatility that scales the zscore "
          "signal", bounds="[2, inf)",
          used_if=("signal_mode = 'zscore'", lambda v: v["signal_mode"] == "zscore")),
    Param("threshold", 2.0, "switch on when the signal reaches this (e.g. 2.0 z, or 0.15 in "
          "return mode)"),
    Param("exit_threshold", None, "switch off (re-risk) when the signal falls below this; None = "
          "half the threshold (the threshold itself if it is not positive)", type="float",
          choices=(None, float)),
    Param("cooloff", 10, "minimum sessions between two switches: time de-risked before "
          "re-risking, and time after re-risking before de-risking again", bounds="[0, inf)"),
    Param("degross_to", 0.5, "degross: the book's long and short legs are scaled to this "
          "fraction", bounds="[0, 1]",
          used_if=("actions include degross", lambda v: "degross" in v["actions"])),
    Param("cover_fraction", 0.5, "cover_crowded: fraction of the short names bought back, most "
          "squeezable first (rounded up)", bounds="[0, 1]",
          used_if=("actions include cover_crowded", lambda v: "cover_crowded" in v["actions"])),
    Param("hedge_size", 0.1, "hedge_basket: fraction of equity held long in the most-shorted "
          "basket's constituents, equal weight (at most 1)", bounds="[0, inf)",
          used_if=("actions include hedge_basket", lambda v: "hedge_basket" in v["actions"])),
    Param("basket_names", 50, "names in the most-shorted basket (hedge, and the signal when the "
          "market has no most_shorted reference series)", bounds="[1, inf)"),
    Param("basket_min_cap", 1e9, "market-cap floor (dollars) of the most-shorted basket",
          bounds="[0, inf)"),
    Param("breadth_min", 0.0, "if > 0: also require this share of the book's current shorts to "
          "be up over signal_lookback before switching on", bounds="[0, 1]"),
    Param("overlay_beta_window", 126, "sessions of the rolling beta used by neutralize_beta",
          bounds="[2, inf)",
          used_if=("actions include neutralize_beta", lambda v: "neutralize_beta" in v["actions"])),
    Param("max_net_long", 0.9, "funding: after the actions, long + hedge - short may not exceed "
          "this fraction of equity (covering shorts is paid for by trimming the longs and the "
          "hedge), so no order can be refused for cash; also applied after a borrow locate cut "
          "or recall, with or without the overlay", bounds="[0, 1]"),
    Param("cover_fee_bps", 1000.0, "cover_expensive: shorts whose yearly borrow fee (bps, "
          "execution.borrow_model) is at least this are bought back (1000 = 10% a year)",
          bounds="[0, inf)"),
), relations=(_hysteresis, _actions_once, _hedge_sane, _enabled_acts), enabled_by="enabled")


# --------------------------------------------------------------------------- execution
@_rel("execution.margin_call_to <= execution.max_leverage (when there is a limit)")
def _call_below_limit(v: Mapping[str, Any]) -> str | None:
    if v["max_leverage"] and v["margin_call_to"] > v["max_leverage"]:
        return (f"execution.margin_call_to={v['margin_call_to']:g} is above execution.max_leverage="
                f"{v['max_leverage']:g}: a margin call must cut the book below the limit; lower "
                "margin_call_to or raise max_leverage")
    return None


EXECUTION = Section("execution", "fills, costs and the account (shared by both engines)", (
    Param("cash", 1_000_000.0, "starting cash in the account currency", bounds="[1, 1e13]"),
    Param("commission_bps", 1.0, "commission in basis points of |size| x fill price "
          "(1.0 = 0.01%)", bounds="[0, 10000)"),
    Param("slippage_bps", 0.0, "slippage in basis points of the open (buys higher, sells lower; "
          "capped at the bar's high/low like backtrader's set_slippage_perc)",
          bounds="[0, 10000)"),
    Param("borrow_bps", 50.0, "yearly fee on short positions in basis points, charged per "
          "calendar day on |size| x average short price (backtrader's CommInfo interest rule)",
          bounds="[0, 100000]"),
    Param("borrow_model", "flat", "short borrow fees and availability: 'flat' (borrow_bps on "
          "every short, backtrader's rule), 'file' (per-name daily fees and available shares "
          "from data.borrow) or 'crowding' (fees from short interest, days to cover and "
          "squeezes); both ACT/360 on the previous close; locates and recalls (docs/borrow.md)",
          choices=("flat", "file", "crowding")),
    Param("fractional", True, "trade fractional shares (to 2**-20 of a share); false truncates "
          "each leg's target toward zero to whole shares"),
    Param("max_leverage", 4.0, "maintenance margin: when gross exposure / equity at a close "
          "exceeds this (losses on a squeezed short), every leg is cut pro rata to "
          "margin_call_to at the next open and the call is logged (margin_calls.csv); 0 = no "
          "limit", bounds="[0, 1000]"),
    Param("margin_call_to", 2.0, "gross exposure / equity the book is cut back to by a margin "
          "call (at most max_leverage)", bounds="(0, 1000]"),
    Param("cash_buffer", 0.05, "funding: orders that would leave less cash than this fraction of "
          "equity (at the signal close, after commission) have their long buys cut pro rata so "
          "the account can pay at the next open (0.05 = 5%); logged in margin_calls.csv",
          bounds="[0, 1)"),
), relations=(_call_below_limit,))


# --------------------------------------------------------------------------- analysis
ANALYSIS = Section("analysis", "episodes and the report's tables", (
    Param("episodes", (), "extra named episodes as NAME:START:END", choices=(str,),
          check=check_episodes, cli="--episode", example=("may_2024:2024-05-01:2024-05-31",)),
    Param("builtin_episodes", True, "analyze the built-in episodes (June-July 2025, January "
          "2026)"),
    Param("detect", True, "add episodes the data reveals (junk-rally spells, worst drawdowns)",
          affects_result=False),
    Param("top_n", 5, "rows in the top-N drawdown table", bounds="[1, inf)",
          affects_result=False),
    Param("top_k", 5, "single names listed per episode as top contributors / detractors",
          bounds="[1, inf)", affects_result=False),
    Param("reconcile", True, "re-run the same targets through the vectorized twin and record "
          "the difference", affects_result=False),
))


# --------------------------------------------------------------------------- top level, study
def _check_runs(runs: tuple[Any, ...]) -> tuple[Any, ...]:
    for i, spec in enumerate(runs):
        if not isinstance(spec, Mapping):
            raise SqueezeLabError(f"study.runs item #{i + 1} is {spec!r}, not a table: write each "
                                  "run as [[study.runs]] with name = \"...\"")
        if not spec.get("name") or not isinstance(spec.get("name"), str):
            raise SqueezeLabError(f"study run #{i + 1} needs a name: write name = \"...\" in its "
                                  "table")
    return runs


TOP = Section("top", "keys outside any table", (
    Param("name", "run", "run name: the run folder is NAME-HASH under --out", check=check_name,
          affects_result=False, cli="--name"),
))

STUDY = Section("study", "a study: runs, each the config above with its own table merged over it", (
    Param("runs", (), "the study's runs: [[study.runs]] tables, each with a name and any "
          "sections to merge over the base config", type="list", check=_check_runs),
))

#: The run's sections, in config order (``study`` is only read by ``squeeze-lab study``).
SECTIONS: dict[str, Section] = {s.name: s for s in (DATA, BOOK, OVERLAY, EXECUTION, ANALYSIS)}
SECTION_NAMES = tuple(SECTIONS)

#: Each section's frozen value class, made by ``Section``, named here so that pickle (process
#: pools, Dask workers) finds it by reference: ``squeeze_lab.strategies.spec.BookConfig``.
DataConfig, BookConfig, OverlayConfig, ExecutionConfig, AnalysisConfig, TopConfig, StudyConfig = (
    s.values_type for s in (DATA, BOOK, OVERLAY, EXECUTION, ANALYSIS, TOP, STUDY))
for _cls in (DataConfig, BookConfig, OverlayConfig, ExecutionConfig, AnalysisConfig, TopConfig,
             StudyConfig):
    _cls.__module__ = __name__
del _cls
TOP_KEYS = ("name", "study", *SECTION_NAMES)


def section(name: str) -> Section:
    """A section by name (``study`` and ``top`` included)."""
    return {"study": STUDY, "top": TOP}.get(name) or SECTIONS[name]


def configuration_markdown() -> str:
    """docs/configuration.md: every key of every section, generated from this module."""
    out = ["# Configuration reference", "",
           "Generated from `strategies/spec.py` by `make docs`; do not edit by hand. Set a key "
           "in a TOML config under its `[section]`, or on the command line with "
           "`--set section.key=value`. Every value is checked before any work; a bad one stops "
           "the command with one line naming the key and the fix (exit code 2).", "",
           f"- `name` = `{TOP.param('name').default_text()}`: {TOP.param('name').doc} "
           f"({NAME_RULE}; `--name`)", ""]
    for sec in (*SECTIONS.values(), STUDY):
        out += [f"## [{sec.name}]", "", sec.doc[0].upper() + sec.doc[1:] + ".", "",
                "| key | type | default | bounds | flag | meaning |",
                "| --- | --- | --- | --- | --- | --- |"]
        for p in sec.params:
            doc = p.doc + (f" (read only when {p.used_if[0]})" if p.used_if else "")
            cells = [f"`{p.name}`", p.type_text(), f"`{p.default_text()}`",
                     f"`{p.bounds}`" if p.bounds else "", f"`{p.cli}`" if p.cli else "", doc]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
        if sec.relations:
            out += ["Rules checked before any work:", ""]
            out += [f"- {r.doc}" for r in sec.relations]
            out.append("")
        if sec.enabled_by:
            out += [f"While `{sec.name}.{sec.enabled_by}` is false the other keys do nothing "
                    "(a sweep over them is refused).", ""]
        inert = [p.name for p in sec.params if not p.affects_result]
        if inert:
            out += [f"`{'`, `'.join(inert)}` change no number of a sweep row (a sweep over them is "
                    "refused).", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m squeeze_lab.strategies.spec`
    import sys

    sys.stdout.write(configuration_markdown())
