#!/usr/bin/env python3
"""The gate's op tasks against PyTorch's own gradcheck over its OpInfo samples, in one run.

  gate_vs_torch.py --gradoracle BIN [--ops a,b,...] [--cases N] [--repeat R] [--no-sizes]

Both sides check the same ops (gradoracle's op tasks in float64: `gradoracle check --dtype
float64 --op NAME ...`; by default every op with an op task, those of `check --task 'op/*'
--list`), and report cases per second per op and over all of them:

- gradoracle: each op task's `seconds` and `cases` from one `check --json` run (its reference
  inputs and its random cases, drawn and checked in process; process start excluded, as it is
  not in a task's seconds). The op kind's overall rate is the run's summary.by_kind.op.
- torch: for each op's OpInfo entries in PyTorch 1.13's op_db (`nn.functional.NAME` or NAME;
  the variants matching gradoracle's op, VARIANTS below), every sample of
  `op.sample_inputs("cpu", torch.float64, requires_grad=True)` is a case, checked by
  `torch.autograd.gradcheck(fn, inputs)` with its default options (full mode, no batched grad),
  where inputs are the sample's tensors that require grad and fn puts them back in place, as
  PyTorch's test_ops_gradients.py does. Timed: the gradcheck calls only (after `import torch`,
  samples made beforehand: that favours torch), in one thread (torch.set_num_threads(1): the
  gate runs its tasks in one thread).

R repeats are interleaved (torch, then gradoracle); each op's time is its best over the repeats,
the overall time the best total. The cases differ in size on the two sides, so each side also
reports its mean input elements per case (elements of the tensors the check perturbs; for
gradoracle, the float leaves that require grad, observed by running the same check once more
with its cases passed through `gradoracle serve` by this script acting as a logging engine
adapter, `--adapter`; each task's digest must equal the timed run's, so the cases are the same),
and the rate in input elements per second (cases/s x elements/case: for cases this small a full
gradcheck's cost is about linear in its input elements, one perturbed evaluation per element),
also over torch's samples whose inputs have at most 48 elements each, as gradoracle's draws do.
Exit 0, or 1 when a side fails a case (reported), 2 on bad use.
"""

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_python import require_torch  # noqa: E402

if sys.argv[1:2] != ["--adapter"]:  # the logging adapter (below) runs without torch
    require_torch()  # else one line and exit 2 (or a re-exec under /usr/bin/python3)

# Variants of an OpInfo name that are not gradoracle's op of that name (complex inputs,
# rounding modes without a gradient, dtype arguments, other norms, elementwise max/min).
SKIP_VARIANTS = {"complex", "trunc_rounding", "floor_rounding", "with_dtype", "dtype", "nuc", "fro", "binary"}


def adapter(gradoracle, log_path):
    """An engine adapter: pass every line to `gradoracle serve`, and log, for each gradcheck's
    held-values probe (one per checked case), the elements of its float leaves that require grad."""
    serve = subprocess.Popen([gradoracle, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with open(log_path, "a") as log:
        for line in sys.stdin:
            for f in json.loads(line).get("fixtures", []):
                if f.get("name", "").endswith("(held values)"):
                    n = sum(math.prod(t["shape"]) for t in f["tensors"].values()
                            if t.get("requires_grad") and t.get("dtype", f["dtype"]) in ("float32", "float64"))
                    log.write(f"{n}\n")
            serve.stdin.write(line)
            serve.stdin.flush()
            sys.stdout.write(serve.stdout.readline())
            sys.stdout.flush()
            log.flush()
    serve.stdin.close()
    return serve.wait()


def gradoracle_command(gradoracle, ops, cases):
    cmd = [gradoracle, "check", "--dtype", "float64", "--json", "--no-progress"]
    for op in ops:
        cmd += ["--op", op]
    return cmd + (["--cases", str(cases)] if cases else [])


def run_gradoracle(cmd):
    """`cmd --json`'s report, with --counterexamples in a new empty folder (no case saved by an
    earlier failure is re-run first, which would change the cases; none is left behind), and the
    process's CPU seconds (user + system) as "cpu_seconds"."""
    with tempfile.TemporaryDirectory() as ce, tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([*cmd, "--counterexamples", ce], stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            sys.exit(f"gate_vs_torch: `{shlex.join(cmd)}` exited {proc.returncode}: {err.read()[-2000:]}")
        rep = json.load(out)
    rep["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole process: start-up included
    return rep


def gradoracle_sizes(gradoracle, cases, timed):
    """{op: mean float input elements per case} of the timed run's op tasks, the same cases drawn
    again through the logging adapter (None where the digest or the count of cases differs)."""
    me = f"{shlex.quote(sys.executable)} {shlex.quote(os.path.abspath(__file__))}"
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in timed["tasks"]:
            log = os.path.join(tmp, t["op"])
            cmd = [gradoracle, "check", "--task", t["id"], "--json", "--no-progress", *(["--cases", str(cases)] if cases else []),
                   "--engine", f"{me} --adapter {shlex.quote(gradoracle)} {shlex.quote(log)}"]
            rep = run_gradoracle(cmd)
            same = rep["tasks"] and rep["tasks"][0]["digest"] == t["digest"] and rep["tasks"][0]["cases"] == t["cases"]
            n = [int(x) for x in open(log)] if os.path.exists(log) else []
            # One probe per random case, and per reference input gradchecked by finite differences
            # (not those at a kink, e.g. max's ties).
            ok = same and t["cases"] - t.get("references", 0) <= len(n) <= t["cases"]
            sizes[t["op"]] = sum(n) / len(n) if ok and n else None
    return sizes


def torch_samples(ops):
    """{our op: [(opinfo id, [(fn, inputs)])]} for the ops that PyTorch's op_db has."""
    import types
    import unittest
    # common_utils imports expecttest (not packaged by Debian) for its TestCase; a stub suffices.
    sys.modules.setdefault("expecttest", types.SimpleNamespace(TestCase=unittest.TestCase, ACCEPT=False))
    import torch
    from torch.testing._internal.common_methods_invocations import op_db
    found = {}
    for ours in ops:
        for info in op_db:
            if info.name not in (ours, "nn.functional." + ours) or info.variant_test_name in SKIP_VARIANTS:
                continue
            if not info.supports_autograd or torch.float64 not in info.supported_dtypes("cpu"):
                continue
            cases = []
            for sample in info.sample_inputs("cpu", torch.float64, requires_grad=True):
                cases.append(_gradcheck_case(info, sample))
            ident = info.name + ("." + info.variant_test_name if info.variant_test_name else "")
            found.setdefault(ours, []).append((ident, cases))
    return found


def _gradcheck_case(info, sample):
    """(fn, inputs) as test_ops_gradients.py's _check_helper builds them: inputs are the sample's
    tensors that require grad (in input, args, kwargs order), fn puts them back and calls the op.
    Where they go is worked out once here, so fn's own cost per call is small."""
    import torch
    op, wrapper, post = info.get_op(), info.gradcheck_wrapper, sample.output_process_fn_grad
    inputs = []

    def plan(p, list_input=False):
        """p as a constant, or ("t", i) for inputs[i], or ("l", [...]) for a list holding some."""
        if isinstance(p, (list, tuple)) and (list_input or any(isinstance(x, torch.Tensor) for x in p)):
            return ("l", [plan(x) for x in p])
        if isinstance(p, torch.Tensor) and p.requires_grad:
            inputs.append(p)
            return ("t", len(inputs) - 1)
        return ("c", p)
    args_plan = [plan(sample.input, isinstance(sample.input, (list, tuple))), *(plan(x) for x in sample.args)]
    kwargs_plan = {k: plan(v) for k, v in sample.kwargs.items()}

    def build(pl, values):
        kind, what = pl
        return what if kind == "c" else values[what] if kind == "t" else [build(x, values) for x in what]
    if all(k == "c" for k, _ in kwargs_plan.values()) and all(k != "l" for k, _ in args_plan):
        kwargs = {k: v for k, (_, v) in kwargs_plan.items()}  # the common case: no list, no tensor kwarg

        def fn(*values):
            out = wrapper(op, *[values[w] if k == "t" else w for k, w in args_plan], **kwargs)
            return post(out) if post is not None else out
    else:
        def fn(*values):
            out = wrapper(op, *[build(a, values) for a in args_plan], **{k: build(v, values) for k, v in kwargs_plan.items()})
            return post(out) if post is not None else out
    return fn, tuple(inputs)


SMALL = 48  # gradoracle's generators draw at most 48 elements per tensor


def time_torch(found):
    """{op: [(seconds, ok, input elements, small, CPU seconds)]}, one per sample:
    torch.autograd.gradcheck over each op's samples; small: every input has at most SMALL elements."""
    import torch
    result = {}
    for ours, infos in found.items():
        runs = []
        for _, cases in infos:
            for fn, inputs in cases:
                t0, c0 = time.perf_counter(), time.process_time()
                try:
                    ok = torch.autograd.gradcheck(fn, inputs)
                except Exception:  # a sample torch's own defaults reject (reported as a failure)
                    ok = False
                runs.append((time.perf_counter() - t0, ok, sum(x.numel() for x in inputs),
                             all(x.numel() <= SMALL for x in inputs), time.process_time() - c0))
        result[ours] = runs
    return result


def rate(cases, seconds):
    return f"{cases / seconds:,.0f}" if seconds > 0 else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gradoracle", help="the gradoracle binary (required)")
    ap.add_argument("--ops", help="comma-separated ops (default: every op with an op task)")
    ap.add_argument("--cases", type=int, default=0, help="gradoracle's cases per op task (default: the gate's)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats, best of each (default 3)")
    ap.add_argument("--no-sizes", action="store_true", help="skip the run that measures gradoracle's case sizes")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="then profile torch's side once more (cProfile) and print its N costliest functions, cumulative")
    ap.add_argument("--adapter", nargs=2, metavar=("BIN", "LOG"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.adapter:
        return adapter(*a.adapter)
    if not a.gradoracle:
        ap.error("--gradoracle BIN is required")
    a.gradoracle = os.path.abspath(a.gradoracle)

    if a.ops:
        ops = a.ops.split(",")
    else:
        listed = subprocess.run([a.gradoracle, "check", "--task", "op/*", "--dtype", "float64", "--list"],
                                capture_output=True, text=True, check=True).stdout.split()
        ops = [i.split("/")[1] for i in listed]
    import torch
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # OpInfo samples' own UserWarnings (conv2d's padding='same')
    found = torch_samples(ops)
    cmd = gradoracle_command(a.gradoracle, ops, a.cases)
    repeat = max(a.repeat, 1)
    best_torch, best_ours, runs, torch_cpu = {}, {}, [], []
    for _ in range(repeat):
        timed = time_torch(found)
        torch_cpu.append(timed)
        for op, samples in timed.items():
            if op not in best_torch or sum(x[0] for x in samples) < sum(x[0] for x in best_torch[op]):
                best_torch[op] = samples
        rep = run_gradoracle(cmd)
        runs.append(rep)
        for t in rep["tasks"]:
            if t["op"] not in best_ours or t["seconds"] < best_ours[t["op"]]["seconds"]:
                best_ours[t["op"]] = t
    ours_elems = {} if a.no_sizes else gradoracle_sizes(a.gradoracle, a.cases, runs[0])

    print(f"gradoracle: {shlex.join(cmd)}  (and --counterexamples in a new empty folder)")
    print(f"torch {torch.__version__}: torch.autograd.gradcheck(fn, inputs) over op_db's sample_inputs('cpu', float64, "
          f"requires_grad=True), {torch.get_num_threads()} thread; best of {repeat} interleaved runs; "
          f"load {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("| op | torch OpInfo | torch cases | elems/case | cases/s | gradoracle cases | elems/case | cases/s | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    both, fails = [], 0
    for op in ops:
        t, samples = best_ours.get(op), best_torch.get(op, [])
        n, secs, elems = len(samples), sum(x[0] for x in samples), sum(x[2] for x in samples)
        failed = sum(not x[1] for x in samples)
        fails += failed + (t is not None and t["status"] == "fail")
        names = ", ".join(i for i, _ in found.get(op, [])) or "not in op_db"
        ours_rate = t["cases"] / t["seconds"] if t and t["seconds"] > 0 else 0
        ratio = f"{ours_rate / (n / secs):.1f}x" if ours_rate and n and secs > 0 else "-"
        oe = ours_elems.get(op)
        print(f"| {op} | {names} | {n}{f' ({failed} failed)' if failed else ''} | {f'{elems / n:.1f}' if n else '-'} | "
              f"{rate(n, secs)} | {t['cases'] if t else '-'} | {'-' if oe is None else f'{oe:.1f}'} | "
              f"{rate(t['cases'], t['seconds']) if t else '-'} | {ratio} |")
        if t and n:
            both.append((op, t, samples, oe))
    tn = sum(len(s) for _, _, s, _ in both)
    tt = sum(x[0] for _, _, s, _ in both for x in s)
    te = sum(x[2] for _, _, s, _ in both for x in s)
    small = [x for _, _, s, _ in both for x in s if x[3]]
    sn, st = len(small), sum(x[0] for x in small)
    on, os_ = sum(t["cases"] for _, t, _, _ in both), sum(t["seconds"] for _, t, _, _ in both)
    oe = None if any(e is None for *_, e in both) or not on else sum(e * t["cases"] for _, t, _, e in both) / on
    se = sum(x[2] for x in small)
    oes = None if oe is None else oe * on  # gradoracle's input elements over all its cases
    print(f"overall, the {len(both)} ops both check (input elements/s: cases/s x input elements/case):")
    print(f"  torch: {tn} cases in {tt:.2f} s, {rate(tn, tt)} cases/s, {te / tn if tn else 0:.1f} input elements/case, "
          f"{rate(te, tt)} input elements/s")
    print(f"  torch, the {sn} cases whose inputs have at most {SMALL} elements each: {st:.2f} s, {rate(sn, st)} cases/s, "
          f"{se / sn if sn else 0:.1f} input elements/case, {rate(se, st)} input elements/s")
    print(f"  gradoracle: {on} cases in {os_:.2f} s, {rate(on, os_)} cases/s, "
          f"{'-' if oe is None else f'{oe:.1f}'} input elements/case, {'-' if oes is None else rate(oes, os_)} input elements/s "
          f"(elements: each op's mean over its probed cases, weighted by its cases)")
    if tn and tt and sn and st and os_:
        print(f"  ratio in cases/s: {(on / os_) / (tn / tt):.1f}x over all torch's cases, {(on / os_) / (sn / st):.1f}x over its small ones")
    if oes and te and se and tt and st and os_:
        print(f"  ratio in input elements/s: {(oes / os_) / (te / tt):.1f}x over all torch's cases, "
              f"{(oes / os_) / (se / st):.1f}x over its small ones")
    # CPU time, whole passes over the ops both check: torch's gradcheck calls (process time) against
    # gradoracle's whole process (start-up and set-up included, which counts against it).
    names = [op for op, *_ in both]
    tc = min(sum(x[4] for op in names for x in p[op]) for p in torch_cpu) if both else 0
    tcs = min(sum(x[4] for op in names for x in p[op] if x[3]) for p in torch_cpu) if both else 0
    oc = min(r["cpu_seconds"] for r in runs)
    if tc and tcs and oc:
        print(f"  in CPU time (best pass of each; torch: its gradcheck calls; gradoracle: its whole process): torch {tc:.2f} s "
              f"({tcs:.2f} s for the small ones), gradoracle {oc:.2f} s: ratio in cases/s {(on / oc) / (tn / tc):.1f}x "
              f"over all torch's cases, {(on / oc) / (sn / tcs):.1f}x over its small ones"
              + ("" if not oes else f"; in input elements/s {(oes / oc) / (te / tc):.1f}x, {(oes / oc) / (se / tcs):.1f}x"))
    best_kind = min((r["summary"]["by_kind"].get("op", {}) for r in runs), key=lambda k: k.get("seconds", math.inf))
    print(f"gradoracle's op kind in its best run (summary.by_kind.op): {best_kind.get('tasks', 0)} tasks, "
          f"{best_kind.get('cases', 0)} cases in {best_kind.get('seconds', 0):.2f} s, "
          f"{rate(best_kind.get('cases', 0), best_kind.get('seconds', 0))} cases/s")
    if a.profile:  # one more pass, untimed
        import cProfile
        import io
        import pstats
        profile = cProfile.Profile()
        profile.runcall(time_torch, found)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(a.profile)
        print("torch's side once more under cProfile (times inflated by the profiler; not in the figures above):")
        print(text.getvalue().strip())
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
