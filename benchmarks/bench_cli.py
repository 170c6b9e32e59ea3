"""Start-up and headline cost of the command line, against importing its peers.

Run: ``python benchmarks/bench_cli.py [--repeat N] [--smoke]``

Targets (issue "Front door"):

* ``gradscope bound --norm 0.9 --T 100`` end to end within 1.5× of
  ``python -c "import numpy, scipy.linalg, click"``;
* ``gradscope --help`` within 2× of ``python -c "import click"``.

Every command runs as a fresh process; the commands are interleaved round by
round so that drift in machine load affects all of them alike, and the median
over rounds is reported. BLAS thread variables are left as the user has them
(they are printed); the headline's matrices are 64 × 64.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

PY = sys.executable


def _gradscope() -> list[str]:
    exe = shutil.which("gradscope")
    return [exe] if exe else [PY, "-m", "gradscope"]


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--smoke", action="store_true", help="one round, no targets checked")
    args = parser.parse_args()
    rounds = 1 if args.smoke else args.repeat

    cases = {
        "bound": [*_gradscope(), "bound", "--norm", "0.9", "--T", "100"],
        "import numpy+scipy.linalg+click": [PY, "-c", "import numpy, scipy.linalg, click"],
        "help": [*_gradscope(), "--help"],
        "import click": [PY, "-c", "import click"],
    }
    for cmd in cases.values():  # warm the file cache once
        _time(cmd)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, cmd in cases.items():
            times[name].append(_time(cmd))
    med = {name: statistics.median(ts) for name, ts in times.items()}

    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, thread env {threads or 'unset'}"
    )
    print(f"median of {rounds} interleaved rounds, each a fresh process:")
    for name, value in med.items():
        print(f"  {name:34s} {value * 1e3:8.1f} ms")
    r_bound = med["bound"] / med["import numpy+scipy.linalg+click"]
    r_help = med["help"] / med["import click"]
    print(f"ratio bound / import numpy+scipy.linalg+click = {r_bound:.2f}  (target <= 1.5)")
    print(f"ratio --help / import click                   = {r_help:.2f}  (target <= 2.0)")
    if args.smoke:
        return 0
    return 0 if (r_bound <= 1.5 and r_help <= 2.0) else 1


if __name__ == "__main__":
    sys.exit(main())
