"""Typed sections of ``metrics.json``: one frozen dataclass per section, with ``to_json``/``from_json``.

:func:`analyzers.report.build_metrics` assembles these from the pure functions' outputs (strictly:
a key no type declares is a bug and fails loudly) and writes ``Metrics.to_json()``; the tearsheet,
the comparison page and the terminal read a run folder back with ``Metrics.from_json`` (leniently:
missing keys are ``None``/empty, so older run folders still render) and use attributes, never
string lookups. Open-ended mappings (legs, factor names, reference series, a name's attributes)
stay ``dict``. Sections no type knows (added by a newer writer) are kept in ``Metrics.extra``
and written back unchanged, so ``from_json(d).to_json() == d`` for every metrics.json.

To add a section: a dataclass deriving from :class:`Section`, a field on :class:`Metrics`, its
rows in :mod:`tearsheet.metric_formats` and a table in :mod:`tearsheet.run_page`.

Schema (section -> keys; ``<E>`` = an episode entry name, named or detected)
--------------------------------------------------------------------------
``performance`` (all empyrical; daily returns over the measured period, from the first session
    the book holds positions: ``invested_from``; None when undefined)
    warmup: {start, end, sessions} before ``invested_from`` (recorded, not in any statistic);
    outside_episodes: {annual_return, annual_volatility, sharpe_ratio, max_drawdown, n_days,
    excluded} on the days outside every named episode (what an overlay costs in ordinary times);
    start, end, n_days, cumulative_return, annual_return, annual_volatility, sharpe_ratio,
    sortino_ratio, calmar_ratio, max_drawdown, tail_ratio, stability, value_at_risk,
    conditional_value_at_risk, hit_rate (share of up days), benchmark ("index" or None), alpha
    (annualized), beta, hit_rate_vs_benchmark, up_market_hit_rate, down_market_hit_rate.

``drawdowns``
    max_drawdown, current_drawdown, n_periods, table: [top_n x {peak_date, valley_date,
    recovery_date (None = not recovered), drawdown (<0), duration (business days peak ->
    recovery inclusive, pyfolio's count; None if not recovered), peak_to_valley_sessions,
    sessions, recovered}] worst first.

``episodes``
    named: {<E>: entry} (built-in + user episodes with sessions in the data),
    detected: [entry, ...] in time order (junk-rally spells and worst drawdowns, merged),
    skipped: [{name, start, end, reason}] (episodes with no session in the data),
    detection: {enabled, signal ("default"|"user"|"none"), signal_description, threshold,
    lookback, top_drawdowns}.
    entry = {name, kind ("named" | "junk_rally" | "drawdown" | "drawdown+junk_rally"),
    description, start, end, first_session, last_session, sessions, truncated, base_date,
    return (compounded, close before first session -> last close), max_drawdown_in_window,
    peak_date, peak_in_window, trough_date, depth (trough / high-water mark - 1),
    peak_to_trough_sessions, peak_to_trough_days, recovered, recovery_date,
    trough_to_recovery_sessions, legs {long, short, hedge, commission, borrow, costs, total,
    residual: contribution to the window return}, drawdown_legs {same keys: contribution to
    the peak -> trough move, relative to the peak equity; None when the trough is the peak},
    factors {contribution {factor: ..}, specific, betas {factor: ..}, r2, factor_returns
    {factor: compounded window return}} (contribution/specific/betas/r2 None when the window is
    too short to regress; the whole entry None when the market has no factors or reference),
    reference_returns {index, growth, most_shorted, unprofitable_tech: compounded window
    return of the market's reference series that exist}}.

``attribution``
    factor_source ("factors" | "reference" | "none"), max_abs_residual (money, over all days),
    overall: {legs, top_names, factors}, episodes: {<E>: {legs, top_names, factors}} where
    legs = {base_equity, pnl {long, short, hedge, commission, borrow, costs, total, residual},
    contribution {same keys / base_equity}},
    top_names = {contributors: [...], detractors: [...]}, each item {ticker, pnl (before
    costs), contribution, leg, sector, short_interest (point-in-time at the window start when
    the market has the history), days_to_cover, profitable, beta, is_tech (when known)},
    factors = {n_obs, factors [names], betas, alpha (daily), r2, factor_returns, contribution,
    specific, sum_return, window_return}.

``exposures``
    columns: [summarized columns], overall: {column: {mean, max, min, at_start, at_end}} over
    the measured period, episodes: {<E>: same}, beta_source ("attributes" | "partial" | "none"). Columns: gross_exposure, net_exposure, long_exposure,
    short_exposure, beta_net_exposure, hedge_exposure (fractions of equity), gross, net,
    hedge_gross (money), n_long, n_short, n_hedge (names per leg), turnover (traded value /
    previous equity).

``overlay``
    n_decisions, first_date, last_date, actions {action: count}, episodes {<E>:
    {n_decisions, first_date, first_action, sessions_to_first (sessions from the episode's
    first session to its first decision), actions {action: count}}}.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..feeds.errors import SqueezeLabError

S = TypeVar("S", bound="Section")


def _json_name(f: dataclasses.Field) -> str:
    return f.metadata.get("json", f.name)


def _convert_in(tp: Any, value: Any, strict: bool, where: str) -> Any:
    """JSON value -> typed value (nested sections, lists and dicts of them)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert_in(args[0], value, strict, where) if len(args) == 1 else value
    if isinstance(tp, type) and issubclass(tp, Section):
        if not isinstance(value, Mapping):
            if strict:
                raise SqueezeLabError(f"metrics {where} is not a mapping: this is a bug")
            return None
        return tp.from_json(value, strict=strict, where=where)
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            return [] if not strict else value
        return [_convert_in(inner, v, strict, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, inner = typing.get_args(tp) or (str, Any)
        if not isinstance(value, Mapping):
            return {} if not strict else value
        return {str(k): _convert_in(inner, v, strict, f"{where}.{k}") for k, v in value.items()}
    return value


def _convert_out(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_json()
    if isinstance(value, list):
        return [_convert_out(v) for v in value]
    if isinstance(value, dict):
        return {k: _convert_out(v) for k, v in value.items()}
    return value


class Section:
    """Base of the typed sections: JSON in and out by field (``metadata["json"]`` renames)."""

    _hints: ClassVar[dict[type, dict[str, Any]]] = {}

    @classmethod
    def _types(cls) -> dict[str, Any]:
        if cls not in Section._hints:
            Section._hints[cls] = typing.get_type_hints(cls)
        return Section._hints[cls]

    @classmethod
    def from_json(cls: type[S], data: Mapping[str, Any], strict: bool = False,
                  where: str | None = None) -> S:
        """Read a section from its JSON mapping.

        ``strict`` (the writer): every key must be a field and every field present. Otherwise
        (a reader) missing keys take the field's default and unknown keys are ignored.
        """
        where = where or cls.__name__
        hints = cls._types()
        fields = [f for f in dataclasses.fields(cls) if f.init]
        names = {_json_name(f) for f in fields}
        if strict:
            unknown = sorted(set(data) - names)
            missing = sorted(n for n in names if n not in data)
            if unknown or missing:
                raise SqueezeLabError(
                    f"metrics {where}: unknown keys {unknown}, missing keys {missing}: declare them "
                    f"in analyzers/metrics.py ({cls.__name__}); this is a bug")
        kw = {}
        for f in fields:
            key = _json_name(f)
            if key in data:
                kw[f.name] = _convert_in(hints[f.name], data[key], strict, f"{where}.{key}")
        return cls(**kw)

    def to_json(self) -> dict[str, Any]:
        """The section as plain JSON values (the layout of metrics.json)."""
        return {_json_name(f): _convert_out(getattr(self, f.name))
                for f in dataclasses.fields(self)}


# --------------------------------------------------------------------------- performance
@dataclass(frozen=True)
class Warmup(Section):
    """Sessions before the book's first position: recorded, not in the statistics."""

    start: str | None = None
    end: str | None = None
    sessions: int = 0


@dataclass(frozen=True)
class OutsideEpisodes(Section):
    """Performance on the measured days outside every named episode."""

    annual_return: float | None = None
    annual_volatility: float | None = None
    sharpe_ratio: float | None = None
    max_drawdown: float | None = None
    n_days: int | None = None
    excluded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Performance(Section):
    """Headline statistics (empyrical) over the measured period ``start``..``end``."""

    start: str | None = None
    end: str | None = None
    n_days: int | None = None
    cumulative_return: float | None = None
    annual_return: float | None = None
    annual_volatility: float | None = None
    sharpe_ratio: float | None = None
    sortino_ratio: float | None = None
    calmar_ratio: float | None = None
    max_drawdown: float | None = None
    tail_ratio: float | None = None
    stability: float | None = None
    value_at_risk: float | None = None
    conditional_value_at_risk: float | None = None
    hit_rate: float | None = None
    benchmark: str | None = None
    alpha: float | None = None
    beta: float | None = None
    hit_rate_vs_benchmark: float | None = None
    up_market_hit_rate: float | None = None
    down_market_hit_rate: float | None = None
    outside_episodes: OutsideEpisodes | None = None
    invested_from: str | None = None
    warmup: Warmup | None = None


# --------------------------------------------------------------------------- drawdowns
@dataclass(frozen=True)
class DrawdownPeriod(Section):
    """One row of the drawdown table (pyfolio's layout)."""

    peak_date: str | None = None
    valley_date: str | None = None
    recovery_date: str | None = None
    drawdown: float | None = None
    duration: int | None = None
    peak_to_valley_sessions: int | None = None
    sessions: int | None = None
    recovered: bool | None = None


@dataclass(frozen=True)
class Drawdowns(Section):
    max_drawdown: float | None = None
    current_drawdown: float | None = None
    n_periods: int | None = None
    table: list[DrawdownPeriod] = field(default_factory=list)


# --------------------------------------------------------------------------- episodes
@dataclass(frozen=True)
class EpisodeFactors(Section):
    """The factor regression of the book's returns inside one episode window."""

    contribution: dict[str, float | None] | None = None
    specific: float | None = None
    betas: dict[str, float | None] | None = None
    r2: float | None = None
    factor_returns: dict[str, float | None] | None = None


@dataclass(frozen=True)
class EpisodeEntry(Section):
    """One episode window: the book's return and drawdown in it, by leg, factor and reference."""

    name: str = ""
    kind: str = "named"
    description: str | None = None
    start: str | None = None
    end: str | None = None
    first_session: str | None = None
    last_session: str | None = None
    sessions: int | None = None
    truncated: bool | None = None
    base_date: str | None = None
    window_return: float | None = field(default=None, metadata={"json": "return"})
    max_drawdown_in_window: float | None = None
    peak_date: str | None = None
    peak_in_window: bool | None = None
    trough_date: str | None = None
    depth: float | None = None
    peak_to_trough_sessions: int | None = None
    peak_to_trough_days: int | None = None
    recovered: bool | None = None
    recovery_date: str | None = None
    trough_to_recovery_sessions: int | None = None
    legs: dict[str, float | None] = field(default_factory=dict)
    drawdown_legs: dict[str, float | None] | None = None
    factors: EpisodeFactors | None = None
    reference_returns: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedEpisode(Section):
    name: str = ""
    start: str | None = None
    end: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Detection(Section):
    """How episodes were detected (junk-rally spells and worst drawdowns)."""

    enabled: bool = False
    signal: str = "none"
    signal_description: str | None = None
    threshold: float | None = None
    lookback: int | None = None
    top_drawdowns: int | None = None


@dataclass(frozen=True)
class Episodes(Section):
    named: dict[str, EpisodeEntry] = field(default_factory=dict)
    detected: list[EpisodeEntry] = field(default_factory=list)
    skipped: list[SkippedEpisode] = field(default_factory=list)
    detection: Detection | None = None

    def entries(self) -> list[EpisodeEntry]:
        """Named episodes by start date (then name), then detected ones in time order."""
        named = sorted(self.named.values(), key=lambda e: (e.start or "", e.name))
        return named + list(self.detected)


# --------------------------------------------------------------------------- attribution
@dataclass(frozen=True)
class LegPnl(Section):
    """PnL by leg and cost in money, and as a contribution to the window return."""

    base_equity: float | None = None
    pnl: dict[str, float | None] = field(default_factory=dict)
    contribution: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TopNames(Section):
    """Top single names; each item is a record of the name's own attributes (open-ended)."""

    contributors: list[dict[str, Any]] = field(default_factory=list)
    detractors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FactorRegression(Section):
    n_obs: int | None = None
    factors: list[str] = field(default_factory=list)
    betas: dict[str, float | None] | None = None
    alpha: float | None = None
    r2: float | None = None
    factor_returns: dict[str, float | None] = field(default_factory=dict)
    contribution: dict[str, float | None] | None = None
    specific: float | None = None
    sum_return: float | None = None
    window_return: float | None = None


@dataclass(frozen=True)
class WindowAttribution(Section):
    legs: LegPnl | None = None
    top_names: TopNames | None = None
    factors: FactorRegression | None = None


@dataclass(frozen=True)
class BorrowEvents(Section):
    """Locate cuts and recalls (:func:`analyzers.borrow.event_counts`)."""

    locate_cuts: int = 0
    recalls: int = 0
    shares_bought_back: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BorrowWindow(Section):
    """Borrow paid inside one window (:func:`analyzers.borrow.window_cost`)."""

    start: str | None = None
    end: str | None = None
    cost: float | None = None
    fraction: float | None = None
    by_name: list[dict[str, Any]] = field(default_factory=list)
    short_leg: float | None = None
    share_of_short_loss: float | None = None


@dataclass(frozen=True)
class Borrow(Section):
    """What shorts paid to borrow (:func:`analyzers.borrow.borrow_summary`)."""

    model: str | None = None
    total: float | None = None
    fraction: float | None = None
    rows: int | None = None
    by_name: list[dict[str, Any]] = field(default_factory=list)
    episodes: dict[str, BorrowWindow] = field(default_factory=dict)
    events: BorrowEvents | None = None


@dataclass(frozen=True)
class Attribution(Section):
    factor_source: str | None = None
    max_abs_residual: float | None = None
    overall: WindowAttribution | None = None
    episodes: dict[str, WindowAttribution] = field(default_factory=dict)
    borrow: Borrow | None = None


# --------------------------------------------------------------------------- exposures
@dataclass(frozen=True)
class ExposureStats(Section):
    mean: float | None = None
    max: float | None = None
    min: float | None = None
    at_start: float | None = None
    at_end: float | None = None


@dataclass(frozen=True)
class Exposures(Section):
    columns: list[str] = field(default_factory=list)
    overall: dict[str, ExposureStats] = field(default_factory=dict)
    episodes: dict[str, dict[str, ExposureStats]] = field(default_factory=dict)
    #: Where the betas of beta_net_exposure come from: "attributes" (every name held has one),
    #: "partial" (missing ones counted as 1) or "none" (no betas: it is the dollar net).
    beta_source: str | None = None


# --------------------------------------------------------------------------- overlay
@dataclass(frozen=True)
class OverlayWindow(Section):
    n_decisions: int = 0
    first_date: str | None = None
    first_action: str | None = None
    sessions_to_first: int | None = None
    actions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Overlay(Section):
    n_decisions: int = 0
    first_date: str | None = None
    last_date: str | None = None
    actions: dict[str, int] = field(default_factory=dict)
    episodes: dict[str, OverlayWindow] = field(default_factory=dict)


# --------------------------------------------------------------------------- reconciliation
@dataclass(frozen=True)
class Reconciliation(Section):
    """Engine vs vectorized twin on the same targets."""

    engines: list[str] = field(default_factory=list)
    max_rel_diff: float | None = None
    worst_date: str | None = None
    final_value: dict[str, float | None] = field(default_factory=dict)
    tolerance: float | None = None
    ok: bool | None = None


# --------------------------------------------------------------------------- short interest
@dataclass(frozen=True)
class Coverage(Section):
    """How many names have crowding data (feeds.short_interest.Coverage)."""

    measure: str | None = None
    point_in_time: bool | None = None
    covered: int | None = None
    n_names: int | None = None
    covered_last: int | None = None
    text: str = ""


@dataclass(frozen=True)
class SignalBasket(Section):
    """The junk-rally signal's most-shorted basket as built (feeds.crowding.BasketSource)."""

    kind: str = ""
    requested: int | None = None
    built_median: int | None = None
    built_max: int | None = None
    sessions_with_basket: int | None = None
    n_sessions: int | None = None
    covered: int | None = None
    n_names: int | None = None
    point_in_time: bool | None = None
    min_cap: float | None = None
    rebalance: str | None = None
    text: str = ""


@dataclass(frozen=True)
class ShortInterest(Section):
    """Short-interest coverage, the file it came from and the signal's basket."""

    coverage: Coverage | None = None
    signal_basket: SignalBasket | None = None
    file: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the whole file
@dataclass(frozen=True)
class Metrics(Section):
    """All of ``metrics.json``; ``extra`` holds sections this version has no type for."""

    performance: Performance = field(default_factory=Performance)
    episodes: Episodes = field(default_factory=Episodes)
    drawdowns: Drawdowns = field(default_factory=Drawdowns)
    attribution: Attribution = field(default_factory=Attribution)
    exposures: Exposures = field(default_factory=Exposures)
    overlay: Overlay = field(default_factory=Overlay)
    reconciliation: Reconciliation | None = None
    short_interest: ShortInterest | None = None
    extra: dict[str, Any] = field(default_factory=dict, metadata={"json": None})

    #: Sections written only when present (the CLI adds reconciliation when it checks, and the
    #: run its short-interest report).
    OPTIONAL: ClassVar[tuple[str, ...]] = ("reconciliation", "short_interest")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], strict: bool = False,
                  where: str | None = None) -> Metrics:
        """Read metrics.json; unknown top-level sections go to ``extra`` (kept, not typed)."""
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        if strict:
            missing = sorted(k for k in known if k not in data and k not in cls.OPTIONAL)
            if missing:
                raise SqueezeLabError(f"metrics: missing sections {missing}: this is a bug")
        hints = cls._types()
        kw: dict[str, Any] = {}
        for name in known:
            if name in data and data[name] is not None:
                value = _convert_in(hints[name], data[name], strict, name)
                if value is not None:
                    kw[name] = value
        kw["extra"] = {k: v for k, v in data.items() if k not in known}
        return cls(**kw)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL:
                continue
            out[f.name] = _convert_out(value)
        out.update(self.extra)
        return out
