"""Squeeze-episode drawdowns, attribution, exposures and performance: pure functions + thin analyzers."""
