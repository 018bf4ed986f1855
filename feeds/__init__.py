"""Market data in: the scenario market, yfinance and the user's CSVs, all as one :class:`Market`."""

from .errors import SqueezeLabError
from .market import Market

__all__ = ["Market", "SqueezeLabError"]
