"""One HAMS fit as a user runs it, in this process: wall time per phase and resident memory.

Run it in fresh processes to see what a new process pays, e.g. with an empty and then a warm
cache, progress bar on (``1``) and off (``0``)::

    MMMJAX_CACHE_DIR=/tmp/c python benchmarks/bench_phases.py 1   # empty cache: compiles
    MMMJAX_CACHE_DIR=/tmp/c python benchmarks/bench_phases.py 1   # new process, warm cache
    MMMJAX_CACHE_DIR=/tmp/c python benchmarks/bench_phases.py 0

Prints one JSON line: import + data seconds, ``MMM.fit`` seconds, the sampler's phases
(``fit.info["phases"]``: trace+lower or load, lower, XLA compile or cache load, sample,
assemble), min bulk ESS, peak RSS, and RSS (MB) at every tenth of the fit's duration.
HAMS shape: geometric adstock l_max 8, logistic saturation, 2 Fourier orders, linear trend,
4 chains x (1000 + 1000).
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "MMM_test_data.csv"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(progress: bool) -> dict:
    t0 = time.perf_counter()
    import mmmjax
    import mmmjax.inference.fit  # arviz and the fit code, as a user's first fit imports them

    ds = mmmjax.Dataset.from_csv(DATA, date="start_of_week", target="revenue",
                                 channels=[f"spend_channel_{i}" for i in range(1, 8)])  # fmt: skip
    spec = mmmjax.MMM(adstock="geometric", saturation="logistic", l_max=8, seasonality=2,
                      trend="linear")  # fmt: skip
    rss: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            rss.append(_rss_mb())
            time.sleep(0.25)

    threading.Thread(target=watch, daemon=True).start()
    t1 = time.perf_counter()
    fit = spec.fit(ds, chains=4, draws=1000, warmup=1000, seed=0, progress=progress, warn=False)
    t2 = time.perf_counter()
    done.set()
    return {
        "progress": progress,
        "import_and_data_s": round(t1 - t0, 2),
        "fit_s": round(t2 - t1, 2),
        "phases": {k: round(v, 2) for k, v in fit.info.get("phases", {}).items()},
        "min_ess_bulk": round(fit.diagnostics()["min_ess_bulk"]),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_mb_by_tenth": [round(rss[i * (len(rss) - 1) // 10]) for i in range(11)],
    }


if __name__ == "__main__":
    print(json.dumps(main(progress=sys.argv[1:2] != ["0"])))
