"""The registry of squeeze episodes and the scenario's calibration targets: data, not code.

Like pyfolio's ``interesting_periods``: one mapping name -> window, used by the scenario market,
the analyzers and the tearsheet alike. Window returns are compounded over the sessions inside the
window, both ends included (i.e. from the close before ``start`` to the close of ``end``).

A run analyzes the built-in episodes that lie inside its data (:func:`applicable_episodes`; the
synthetic scenario market only those it is calibrated to reproduce); the others are silently not
applicable. An episode the user names (``--episode NAME`` or ``NAME:START:END``) must be inside
the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .errors import SqueezeLabError


@dataclass(frozen=True)
class Episode:
    """A named window of trading days (inclusive) with a one-line description."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    description: str = ""
    #: True when the synthetic scenario market is calibrated to reproduce this episode.
    scenario: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", pd.Timestamp(self.start))
        object.__setattr__(self, "end", pd.Timestamp(self.end))
        if self.end < self.start:
            raise SqueezeLabError(
                f"episode {self.name!r} ends ({self.end.date()}) before it starts "
                f"({self.start.date()}): give START:END in order"
            )


#: Built-in episodes, in date order: real, documented squeeze / junk-rally windows, each with a
#: one-line neutral description and its source. ``scenario=True`` marks the two the scenario market
#: reproduces (docs/scenario.md).
EPISODES: dict[str, Episode] = {
    e.name: e
    for e in (
        Episode(
            "aug_2007",
            "2007-08-06",
            "2007-08-10",
            "August 2007 quant quake: quant long-short funds unwound together; a simple contrarian "
            "long-short strategy lost heavily on 6-9 August and rebounded on 10 August while the "
            "index barely moved (Khandani and Lo, 2007 and 2011)",
        ),
        Episode(
            "mar_may_2009",
            "2009-03-09",
            "2009-05-29",
            "March-May 2009 junk rally and momentum crash: the most beaten-down, lowest-quality "
            "stocks rallied hardest off the March low and 12-1 momentum crashed (Daniel and "
            "Moskowitz, 'Momentum Crashes', 2016)",
        ),
        Episode(
            "jan_2021",
            "2021-01-04",
            "2021-02-12",
            "January 2021 meme-stock squeeze: retail buying drove the most-shorted names (GME, AMC) "
            "up many-fold and funds short them de-grossed (SEC staff report on equity and options "
            "market structure conditions in early 2021, October 2021)",
        ),
        Episode(
            "jun_jul_2025",
            "2025-06-02",
            "2025-07-31",
            "Summer 2025 quant tremor: junk and most-shorted rally, momentum also loses",
            scenario=True,
        ),
        Episode(
            "sep_2025",
            "2025-09-02",
            "2025-10-03",
            "September 2025 short squeeze: Goldman Sachs' most-shorted basket rose about 36% from "
            "the start of September to early October (Goldman Sachs prime brokerage data, as "
            "reported in October 2025)",
        ),
        Episode(
            "jan_2026",
            "2026-01-02",
            "2026-01-30",
            "January 2026 junk rally: most-shorted +18.3% in 13 sessions, index flat, "
            "momentum partly offsets",
            scenario=True,
        ),
    )
}


#: The built-in episodes the scenario market reproduces.
SCENARIO_EPISODES: dict[str, Episode] = {k: e for k, e in EPISODES.items() if e.scenario}


def applicable_episodes(dates: pd.DatetimeIndex, synthetic: bool = False,
                        partial: bool = False) -> dict[str, Episode]:
    """The built-in episodes a run on ``dates`` analyzes: those wholly inside the data (with
    ``partial``, those overlapping it); on a synthetic scenario market only the ones it
    reproduces."""
    if len(dates) == 0:
        return {}
    first, last = pd.Timestamp(dates[0]), pd.Timestamp(dates[-1])

    def inside(e: Episode) -> bool:
        return (e.start <= last and e.end >= first) if partial else (e.start >= first
                                                                      and e.end <= last)

    return {k: e for k, e in EPISODES.items() if inside(e) and (e.scenario or not synthetic)}


@dataclass(frozen=True)
class Target:
    """A calibration target: a reference series' compounded return over a window, with bounds."""

    series: str
    start: str
    end: str
    value: float
    low: float
    high: float
    what: str


#: What the scenario market must reproduce (docs/scenario.md, "targets"). Book-level targets live with
#: the study tests because they depend on the strategy, not on the market alone.
MARKET_TARGETS: tuple[Target, ...] = (
    Target("most_shorted", "2026-01-02", "2026-01-21", 0.183, 0.163, 0.203,
           "most-shorted basket, 13 sessions of 2026"),
    Target("unprofitable_tech", "2026-01-02", "2026-01-30", 0.12, 0.08, 0.16,
           "unprofitable-tech basket, January 2026"),
    Target("index", "2026-01-02", "2026-01-21", -0.007, -0.02, 0.01,
           "broad cap-weighted index, 13 sessions of 2026"),
    Target("growth", "2026-01-02", "2026-01-21", -0.012, -0.03, 0.005,
           "growth/tech index, 13 sessions of 2026"),
)


def parse_episode(spec: str) -> Episode:
    """Parse ``NAME:START:END`` (ISO dates) as given on the command line or in a config list, or the
    bare name of a built-in episode."""
    if ":" not in str(spec) and str(spec) in EPISODES:
        return EPISODES[str(spec)]
    parts = str(spec).split(":")
    if len(parts) != 3 or not parts[0]:
        raise SqueezeLabError(
            f"episode {spec!r} is not NAME:START:END nor a built-in episode ({', '.join(EPISODES)}): "
            "write e.g. --episode may_2024:2024-05-01:2024-05-31"
        )
    name, start, end = parts
    try:
        s, e = pd.Timestamp(start), pd.Timestamp(end)
    except (ValueError, TypeError) as err:
        raise SqueezeLabError(
            f"episode {spec!r} has a date that is not YYYY-MM-DD: write e.g. {name}:2024-05-01:2024-05-31"
        ) from err
    return Episode(name, s.normalize(), e.normalize(), "user-defined")


def resolve_episodes(extra: list[str] | tuple[str, ...] = (), builtin: bool = True) -> dict[str, Episode]:
    """Built-in episodes plus the user's ``NAME:START:END`` specs (a user name overrides a built-in)."""
    out = dict(EPISODES) if builtin else {}
    for spec in extra:
        ep = spec if isinstance(spec, Episode) else parse_episode(spec)
        out[ep.name] = ep
    return out


def window_return(returns: pd.Series, start: str | pd.Timestamp, end: str | pd.Timestamp) -> float:
    """Compounded return of a daily-return series over the sessions in ``[start, end]``."""
    r = returns.loc[pd.Timestamp(start): pd.Timestamp(end)]
    return float((1.0 + r.fillna(0.0)).prod() - 1.0)
