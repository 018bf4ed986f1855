"""Market data in: the scenario market, yfinance and the user's CSVs, all as one :class:`Market`."""

from feeds.errors import SqueezeLabError
from feeds.market import Market

__all__ = ["Market", "SqueezeLabError"]
