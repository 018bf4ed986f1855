"""Heavy libraries load when a run needs them, not when the package or the CLI is imported."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_cli_and_report_import_without_scipy_matplotlib_yfinance():
    got = _run("import sys, squeeze_lab.run_backtest, squeeze_lab.analyzers.report, "
               "squeeze_lab.strategies.engine; "
               "print(sorted(m for m in ('scipy', 'empyrical', 'matplotlib', 'yfinance') "
               "if m in sys.modules))")
    assert got == "[]"


def test_empyrical_loads_on_first_statistic_and_yfinance_on_first_use():
    got = _run(
        "import sys, numpy as np, pandas as pd\n"
        "from squeeze_lab.analyzers.performance import performance_stats\n"
        "r = pd.Series(np.linspace(-0.01, 0.012, 60), index=pd.bdate_range('2024-01-02', periods=60))\n"
        "s = performance_stats(r)\n"
        "print('empyrical' in sys.modules, 'yfinance' in sys.modules, s['sharpe_ratio'] is not None)\n"
        "import empyrical.utils\n"
        "print(callable(empyrical.utils.yf.download), 'yfinance' in sys.modules)\n"
        "import yfinance\n"
        "print(yfinance.download is empyrical.utils.yf.download)\n")
    assert got.splitlines() == ["True False True", "True True", "True"]
