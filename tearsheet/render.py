"""HTML reports rendered from run folders only: the run tearsheet, the comparison and sweep pages.

Nothing here re-runs a backtest: every number comes from a run folder's files (``metrics.json``,
``equity.csv``, ``overlay_log.csv``, ``config.json``, ``provenance.json``) or a sweep's
``sweep.csv``. Pages are single self-contained HTML files (figures embedded as base64 PNG, CSS
inline, no script, no network) rendered with jinja2, and deterministic: the same folder renders to
the same bytes (no timestamps, sorted keys, fixed figure style).

The public entry points, one module per page:

- :func:`render_tearsheet` (:mod:`.run_page`, ``run_folder -> tearsheet.html``), usable as
  ``write_run``'s ``render`` callback on the temporary folder before the atomic rename;
- :func:`render_comparison`, :func:`comparison_table` and :func:`tradeoff_rows`
  (:mod:`.comparison_page`);
- :func:`render_sweep` (:mod:`.sweep_page`);
- :func:`fmt_value`, :func:`flatten_config`, :func:`config_diff` (:mod:`.formatting`).
"""

from __future__ import annotations

from .comparison_page import comparison_table, render_comparison, tradeoff_rows
from .formatting import config_diff, flatten_config, fmt_value
from .run_page import render_tearsheet, tearsheet_context
from .sweep_page import render_sweep

__all__ = ["comparison_table", "config_diff", "flatten_config", "fmt_value", "render_comparison",
           "render_sweep", "render_tearsheet", "tearsheet_context", "tradeoff_rows"]
