#!/usr/bin/env python3
"""Checker throughput: `gradoracle gradcheck DIR` against torch.autograd.gradcheck on the same
fixtures, in one run, and their ratio.

  checker_throughput.py --gradoracle BIN [--baseline BIN] [--fast] [--repeat R] DIR

gradoracle's time is its whole process (start, reading and replaying every fixture, checking,
printing), the best of R runs, measured twice: with --jobs 1 (one thread) and with its default
--jobs (one thread per hardware thread; torch's own intra-op pool has as many). torch's time starts after `import torch` (and the other imports)
and covers, per fixture, reading and parsing it, one reference run (the clip ops' norms), and
torch.autograd.gradcheck of the fixture's function, best of R.

The torch function is the one the fixture defines (format v1, "Gradient checking a fixture";
fixtures/interpreter.hpp program_function): from the leaves that require grad, in `tensors`
order, to the roots of its backward statements, each once, in program order. Statements with
`raises`, expects, zero_grad and backward take no part; detach/detach_ detach; a clip op's
bound norm is the reference run's value. Ops run through tools/torch_fixture.py's own table
(imported, not copied). Both sides use full mode by default (--fast: fast mode on both). --baseline BIN also times
another gradoracle build (e.g. before a change) the same way, interleaved in the same run.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_python import require_torch  # noqa: E402

require_torch()  # else one line and exit 2 (or a re-exec under /usr/bin/python3)

import torch  # noqa: E402
import torch_fixture as tf  # noqa: E402


def program_function(fx: "tf.Fixture"):
    """(function, inputs) for torch.autograd.gradcheck: the fixture's program function."""
    reference = tf.execute(fx).env  # the clip ops' norms, as the engine's reference replay
    inputs = [name for name, (_, rg) in fx.leaves.items() if rg]
    roots = []
    for st in fx.program:
        if st.raises is None and st.kind == "backward" and st.names[0] not in roots:
            roots.append(st.names[0])
    constants = {name: t for name, (t, rg) in fx.leaves.items() if not rg}
    program = [st for st in fx.program if st.raises is None and st.kind in ("op", "detach_")]

    def function(*values):
        env = dict(constants)
        env.update(zip(inputs, values))
        for st in program:
            if st.kind == "detach_":
                env[st.names[0]] = env[st.names[0]].detach()
            elif st.op.name in ("clip_grad_norm_", "clip_grad_value_"):
                if st.let is not None:
                    env[st.let] = reference[st.let].detach()
            elif st.op.name == "detach":
                env[st.let] = env[st.args[0]].detach()
            else:
                tf.run_statement(st, env)
        return tuple(env[r] for r in roots)

    values = [fx.leaves[name][0].detach().clone().requires_grad_(True) for name in inputs]
    return function, values, roots


def torch_side(files, fast: bool):
    passed = 0
    for f in files:
        fx = tf.load_fixture(f)
        function, values, roots = program_function(fx)
        if not values or not roots:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = torch.autograd.gradcheck(function, tuple(values), fast_mode=fast, raise_exception=False)
        passed += bool(ok)
    return passed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gradoracle", required=True, metavar="BIN")
    p.add_argument("--baseline", metavar="BIN", help="another gradoracle build to time alongside")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("dir")
    a = p.parse_args()
    files = sorted(Path(a.dir).rglob("*.json"))
    if any(tf.load_fixture(f).dtype != "float64" for f in files):
        print("torch.autograd.gradcheck wants float64: use float64 fixtures", file=sys.stderr)
        return 2
    args = ["gradcheck"] + (["--fast"] if a.fast else []) + [a.dir]
    runs = [(a.gradoracle, "gradoracle")] + ([(a.baseline, "baseline")] if a.baseline else [])

    times = {(label, jobs): [] for _, label in runs for jobs in ("1", "default")}
    theirs, passed, status = [], 0, 0
    for _ in range(a.repeat):  # interleaved, so all see the same machine load
        for binary, label in runs:
            for jobs, extra in (("1", ["--jobs", "1"]), ("default", [])):
                t0 = time.perf_counter()
                run = subprocess.run([binary] + args + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[(label, jobs)].append(time.perf_counter() - t0)
                status = max(status, run.returncode)
        t0 = time.perf_counter()
        passed = torch_side(files, a.fast)
        theirs.append(time.perf_counter() - t0)
    n = len(files)
    t_ours, t_ours1, t_theirs = min(times[("gradoracle", "default")]), min(times[("gradoracle", "1")]), min(theirs)
    mode = "fast" if a.fast else "full"
    print(f"{n} fixtures, {mode} mode, best of {a.repeat}; gradoracle exit {status}, torch passed {passed}/{n}; "
          f"{os.cpu_count()} hardware threads, torch intra-op threads {torch.get_num_threads()}")
    print(f"{'checker':36s} {'time':>9s} {'fixtures/s':>11s} {'ratio':>7s}")
    print(f"{'torch.autograd.gradcheck':36s} {t_theirs * 1e3:7.0f}ms {n / t_theirs:11.0f} {1:6.1f}x")
    print(f"{'gradoracle gradcheck --jobs 1':36s} {t_ours1 * 1e3:7.0f}ms {n / t_ours1:11.0f} {t_theirs / t_ours1:6.1f}x")
    print(f"{'gradoracle gradcheck (default jobs)':36s} {t_ours * 1e3:7.0f}ms {n / t_ours:11.0f} {t_theirs / t_ours:6.1f}x")
    if a.baseline:
        for jobs, name in (("1", "baseline gradcheck --jobs 1"), ("default", "baseline gradcheck (default jobs)")):
            t = min(times[("baseline", jobs)])
            print(f"{name:36s} {t * 1e3:7.0f}ms {n / t:11.0f} {t_theirs / t:6.1f}x")
    print(f"throughput ratio gradoracle/torch: {t_theirs / t_ours:.1f}x ({t_theirs / t_ours1:.1f}x in one thread)")
    return 0 if status == 0 and passed == n else 1


if __name__ == "__main__":
    sys.exit(main())
