"""How long ``squeeze-lab stress`` takes for 1,000 synthetic paths on a 500-name book.

``python benchmarks/stress_paths.py`` builds the 500-name scenario market (seed 7), the default
study's book (100 names a leg, so 200 held of 500) and times :func:`pipeline.stress.synthetic_paths`
(generator + signal + overlay state + the book held without and with the overlay) for
``--paths`` paths, locally; the set-up (factor model fit, overlay targets) is timed apart. Writes
``benchmarks/results/stress_paths.md``. Nothing is asserted; the machine may be shared (load
average recorded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from squeeze_lab.feeds.squeeze_paths import fit_factor_model  # noqa: E402
from squeeze_lab.pipeline import stress as S  # noqa: E402
from squeeze_lab.pipeline.config import load_config_file, load_market, resolve_config  # noqa: E402
from squeeze_lab.pipeline.run import overlay_signal  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--names", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "stress_paths.md"))
    args = ap.parse_args()
    raw = load_config_file(ROOT / "configs" / "default.toml")
    raw.pop("study")
    raw.setdefault("data", {})["n_names"] = args.names
    config = resolve_config(raw)
    market = load_market(config["data"])
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    day = market.dates[-1]
    w, _ = S.book_at(market, config, day)
    ov = S.overlay_setup(config)
    sig = overlay_signal(config, market).to_numpy(np.float64)
    model = fit_factor_model(market, day)
    setup, _ = S.synthetic_setup(market, config, w, day, sig, model, ov, seed=0)
    t_setup = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        res = S.synthetic_paths(setup, args.paths, S.DEFAULT_DIALS, S.run_local)
        times.append(time.perf_counter() - t)
    load1 = os.getloadavg()
    held = int((np.abs(w).sum(axis=0) > 0).sum())
    text = (f"# stress: {args.paths} synthetic paths, {market.n_names}-name market, {held}-name book\n\n"
            f"| what | seconds |\n|---|---|\n"
            f"| set-up (book, overlay targets, factor model, basket) | {t_setup:.2f} |\n"
            f"| {args.paths} paths x {S.DEFAULT_DIALS['length']} sessions, without and with the "
            f"overlay (median of {args.repeat}) | {statistics.median(times):.2f} |\n\n"
            f"All runs: {', '.join(f'{x:.2f}' for x in times)} s. Load average before "
            f"{load0[0]:.2f}, after {load1[0]:.2f} (2 shared cores). Mean book PnL "
            f"{res['pnl_off'].mean():+.4f} without, {res['pnl_on'].mean():+.4f} with the overlay.\n")
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
