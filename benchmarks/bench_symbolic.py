"""Speed of the symbolic layer: derivations plus their LaTeX.

Run: ``python benchmarks/bench_symbolic.py [--repeat N] [--smoke]``

Targets (issue 6):

* structured ∂h_T/∂h_0 plus its LaTeX for n = 8, T = 50 under 2 s;
* expanded ∂h_T/∂h_0 with cse plus its LaTeX for n = 2, T = 6 under 1.5 s.

Each case runs in a fresh process, so SymPy's caches start cold as they do for a
user; importing SymPy and gradscope.symbolic is timed separately (it is paid once
per process) and not counted against the targets. The median over ``--repeat``
processes is reported. Informational rows (no target): the full ``gradscope
derive`` document for the structured case, compiling the structured form with
``to_function()``, and the largest expanded gradient (n = 2, T = 4) including
SymPy's direct differentiation and the exact check that it equals the recursion.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (code timed in a fresh process, target in seconds or None)
CASES: dict[str, tuple[str, float | None]] = {
    "structured jacobian + latex, n=8 T=50": (
        "d = derive_jacobian(hidden=8, T=50); tex = render_jacobian(d)",
        2.0,
    ),
    "expanded jacobian (cse) + latex, n=2 T=6": (
        "d = derive_jacobian(hidden=2, T=6, expand=True); tex = render_jacobian(d)",
        1.5,
    ),
    "document (derive --what jacobian), n=8 T=50": (
        "tex = render_document(hidden=8, T=50, what='jacobian', standalone=True)",
        None,
    ),
    "structured jacobian to_function, n=8 T=50": (
        "f = derive_jacobian(hidden=8, T=50).to_function()",
        None,
    ),
    "expanded gradient + direct check + latex, n=2 T=4": (
        "d = derive_gradient(hidden=2, T=4, expand=True); ok = adjoint_equals_direct(d); "
        "tex = render_gradient(d)",
        None,
    ),
}

SMOKE: dict[str, tuple[str, float | None]] = {
    "structured jacobian + latex, n=2 T=3": (
        "d = derive_jacobian(hidden=2, T=3); tex = render_jacobian(d)",
        None,
    ),
    "expanded gradient + latex, n=1 T=2": (
        "d = derive_gradient(hidden=1, T=2, expand=True); tex = render_gradient(d)",
        None,
    ),
}

RUNNER = """
import json, sys, time
t0 = time.perf_counter()
import sympy
from gradscope.symbolic.jacobian import derive_jacobian
from gradscope.symbolic.gradient import derive_gradient, adjoint_equals_direct
from gradscope.symbolic.latex.document import render_document
from gradscope.symbolic.latex.sections import render_gradient, render_jacobian
t1 = time.perf_counter()
exec(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "run": t2 - t1, "sympy": sympy.__version__}))
"""


def _run(code: str) -> dict[str, float | str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float | str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per case")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run, no targets")
    args = parser.parse_args()
    cases = SMOKE if args.smoke else CASES
    repeat = 1 if args.smoke else max(1, args.repeat)

    print(f"python {sys.version.split()[0]}; median of {repeat} fresh process(es) per case")
    met = True
    sympy_version = "?"
    for name, (code, target) in cases.items():
        runs = [_run(code) for _ in range(repeat)]
        sympy_version = str(runs[0]["sympy"])
        run_s = statistics.median(float(r["run"]) for r in runs)
        import_s = statistics.median(float(r["import"]) for r in runs)
        if target is None:
            verdict = ""
        else:
            ok = run_s < target
            met &= ok
            verdict = f"  target < {target:.1f} s: {'met' if ok else 'MISSED'}"
        print(f"  {name:52s} {run_s:7.3f} s  (imports {import_s:.2f} s){verdict}")
    print(f"sympy {sympy_version}")
    if args.smoke:
        return 0
    print("all targets met" if met else "some targets MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
