"""Reports read from run folders: the run folder contract, tearsheets, comparison and sweep pages.

A top-level folder of its own because rendering has no home in the fixed layout
(feeds -> strategies -> analyzers): it never recomputes a backtest, it only reads what a run wrote.
"""
