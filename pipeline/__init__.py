"""Wiring: feeds -> strategies -> analyzers -> run folders, for one run, a study and a sweep.

A top-level folder of its own because the CLI (run_backtest.py), sweep workers (which must import
their task function on Dask workers) and benchmarks all need the same pipeline, and it belongs to
none of feeds/, strategies/ or analyzers/. It parses nothing and prints only through the UI object
it is handed.
"""
