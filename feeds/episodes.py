"""The registry of squeeze episodes and the scenario's calibration targets: data, not code.

Like pyfolio's ``interesting_periods``: one mapping name -> window, used by the scenario market,
the analyzers and the tearsheet alike. Window returns are compounded over the sessions inside the
window, both ends included (i.e. from the close before ``start`` to the close of ``end``).
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", pd.Timestamp(self.start))
        object.__setattr__(self, "end", pd.Timestamp(self.end))
        if self.end < self.start:
            raise SqueezeLabError(
                f"episode {self.name!r} ends ({self.end.date()}) before it starts "
                f"({self.start.date()}): give START:END in order"
            )


#: Built-in episodes (see ../shared/docs/SCENARIO.md).
EPISODES: dict[str, Episode] = {
    e.name: e
    for e in (
        Episode(
            "jun_jul_2025",
            "2025-06-02",
            "2025-07-31",
            "Summer 2025 quant tremor: junk and most-shorted rally, momentum also loses",
        ),
        Episode(
            "jan_2026",
            "2026-01-02",
            "2026-01-30",
            "January 2026 junk rally: most-shorted +18.3% in 13 sessions, index flat, "
            "momentum partly offsets",
        ),
    )
}


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


#: What the scenario market must reproduce (SCENARIO.md, "targets"). Book-level targets live with
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
    """Parse ``NAME:START:END`` (ISO dates) as given on the command line or in a config list."""
    parts = str(spec).split(":")
    if len(parts) != 3 or not parts[0]:
        raise SqueezeLabError(
            f"episode {spec!r} is not NAME:START:END: write e.g. --episode may_2024:2024-05-01:2024-05-31"
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
