"""``python -m squeeze_lab``: the same command line as ``squeeze-lab``."""

from .run_backtest import main

raise SystemExit(main())
