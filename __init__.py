"""squeeze-lab: crowded long-short books in junk rallies, as a backtrader plugin.

The public surface, loaded lazily so that ``import squeeze_lab`` costs nothing until a name is used::

    from squeeze_lab import ArrayFeed, SqueezeBook, EpisodeDrawdowns, scenario_market
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module (relative to this package) that defines it
_PUBLIC = {
    "Market": ".feeds.market",
    "SqueezeLabError": ".feeds.errors",
    "scenario_market": ".feeds.scenario",
    "yahoo_market": ".feeds.yahoo",
    "csv_market": ".feeds.csv_feed",
    "ArrayFeed": ".strategies.bt_feed",
    "feeds_for": ".strategies.bt_feed",
    "SqueezeBook": ".strategies.bt_strategy",
    "run_backtrader": ".strategies.engine",
    "run_vectorized": ".strategies.twin",
    "EpisodeDrawdowns": ".analyzers.bt_analyzers",
    "LegAttribution": ".analyzers.bt_analyzers",
    "Exposures": ".analyzers.bt_analyzers",
    "Performance": ".analyzers.bt_analyzers",
}

__all__ = sorted(_PUBLIC)
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
