"""Benchmarks: our engines against plain backtrader, its floor, and vectorbt (see README.md)."""
