"""Running a fixture in torch: comparison (rule 1 of docs/comparison.md), statements, expects, `replay`."""

import dataclasses
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .base import FixtureError, encode_number, show
from .parse import Fixture, Statement, load_fixture


def compare(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float):
    """Pass where |a - e| <= atol + rtol*|e|, NaN matches NaN only, infinities must be equal.

    Returns (ok, message, max_abs_err); the message names the worst element."""
    if actual.shape != expected.shape:
        return False, f"shape {list(actual.shape)}, expected {list(expected.shape)}", None
    if actual.size == 0:
        return True, "", 0.0
    a, e = actual.reshape(-1), expected.reshape(-1)
    with np.errstate(invalid="ignore"):
        err = np.abs(a - e)
        finite = np.isfinite(a) & np.isfinite(e)
        same = (np.isnan(a) & np.isnan(e)) | (a == e)
        good = np.where(finite, err <= atol + rtol * np.abs(e), same)
        err = np.where(finite, err, np.where(same, 0.0, math.inf))
    max_err = float(err.max())
    if good.all():
        return True, "", max_err
    bad = np.flatnonzero(~good)
    worst = int(bad[np.argmax(err[bad])])
    index = [int(k) for k in np.unravel_index(worst, actual.shape)]
    return False, (f"max abs err {err[worst]:.3g} at index {index}: actual {a[worst]!r}, "
                   f"expected {e[worst]!r} (atol {atol:g}, rtol {rtol:g}; "
                   f"{len(bad)} of {a.size} elements out of tolerance)"), max_err


def as_array(t: Optional[torch.Tensor]):
    return None if t is None else t.detach().to(torch.float64).numpy()


# ---------------------------------------------------------------- running

@dataclasses.dataclass
class Check:
    index: int
    what: str
    ok: bool
    message: str = ""
    max_abs_err: Optional[float] = None
    fatal: bool = False  # an unexpected error or a `raises` mismatch, not an expect


@dataclasses.dataclass
class Outcome:
    checks: list
    observed: dict  # statement index -> what the expect saw
    env: dict  # name -> tensor at the end of the program
    bound: list  # let-bound names in order

    @property
    def failures(self):
        return [c for c in self.checks if not c.ok]


def observe(st: Statement, t: Optional[torch.Tensor]):
    if st.expect == "value":
        return None if t is None else t.detach().clone()
    if st.expect == "grad":  # of a non-leaf this is None (torch warns; execute() silences it)
        return None if t.grad is None else t.grad.detach().clone()
    if st.expect == "requires_grad":
        return t.requires_grad
    if st.expect == "stride":
        return list(t.stride())
    if st.expect == "is_view":
        return t._is_view()
    return None if t.grad_fn is None else type(t.grad_fn).__name__


def check_expect(st: Statement, seen) -> Check:
    what = st.describe()
    if st.expect in ("value", "grad"):
        if st.expected is None or seen is None:
            if st.expected is None and seen is None:
                return Check(st.index, what, True, max_abs_err=0.0)
            got = "None" if seen is None else f"a tensor of shape {list(seen.shape)}"
            want = "None" if st.expected is None else f"shape {list(st.expected.shape)}"
            return Check(st.index, what, False, f"{st.expect} is {got}, expected {want}")
        if not st.expected.is_floating_point() and seen.dtype != st.expected.dtype:
            name = lambda t: str(t.dtype).removeprefix("torch.")
            return Check(st.index, what, False, f"dtype is {name(seen)}, expected {name(st.expected)}")
        ok, msg, err = compare(as_array(seen), as_array(st.expected), st.atol, st.rtol)
        return Check(st.index, what, ok, msg, err)
    if st.expect == "grad_fn" and st.expected is True:
        return Check(st.index, what, seen is not None, "grad_fn is None, expected one")
    ok = seen == st.expected
    return Check(st.index, what, ok, "" if ok else f"{st.expect} is {show(seen)}, expected {show(st.expected)}")


def tensor(env: dict, name: str, where: str) -> torch.Tensor:
    """The tensor bound to `name`, used as a tensor at `where`: None there is bad input."""
    t = env[name]
    if t is None:
        raise FixtureError(where, f'"{name}" is None (an input its grad_of\'s output does not reach, '
                                  "under allow_unused), not a tensor")
    return t


def upstream(st: Statement, env: dict, key: str):
    return tensor(env, st.grad_name, f"{st.path}.{key}") if st.grad_name is not None else st.grad


def run_statement(st: Statement, env: dict):
    if st.kind == "op":
        args = [tensor(env, a, f"{st.path}.args[{j}]") if isinstance(a, str) else a for j, a in enumerate(st.args)]
        result = st.op.fn(args, **st.attrs)
        if st.let is not None:
            env[st.let] = result
    elif st.kind == "backward":
        tensor(env, st.names[0], f"{st.path}.backward").backward(
            upstream(st, env, "grad"), retain_graph=st.retain_graph, create_graph=st.create_graph)
    elif st.kind == "grad_of":
        y = tensor(env, st.names[0], f"{st.path}.grad_of")
        wrt = [tensor(env, n, f"{st.path}.wrt[{j}]") for j, n in enumerate(st.names[1:1 + len(st.lets)])]
        g = upstream(st, env, "grad_outputs")
        if g is not None and st.raises is None and g.shape != y.shape:
            raise FixtureError(f"{st.path}.grad_outputs", f"has shape {list(g.shape)} but \"{st.names[0]}\" has shape "
                                                          f"{list(y.shape)}; grad_outputs must have the output's shape")
        grads = torch.autograd.grad(y, wrt, g, retain_graph=st.retain_graph, create_graph=st.create_graph,
                                    allow_unused=st.allow_unused)
        env.update(zip(st.lets, grads))
    elif st.kind == "zero_grad":  # PyTorch 1.x Module.zero_grad(set_to_none)
        for j, name in enumerate(st.names):
            p = tensor(env, name, f"{st.path}.zero_grad[{j}]")
            if p.grad is None:  # NOTE: a leaf without .grad keeps none, as in PyTorch
                continue
            if st.set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                p.grad.zero_()
    elif st.kind == "detach_":
        tensor(env, st.names[0], f"{st.path}.detach_").detach_()


def execute(fx: Fixture) -> Outcome:
    env = {name: t.clone().requires_grad_(rg) for name, (t, rg) in fx.leaves.items()}
    checks, observed, bound = [], {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for st in fx.program:
            if st.kind == "expect":
                t = env[st.names[0]]
                if st.expect != "value":
                    t = tensor(env, st.names[0], f"{st.path}.of")
                seen = observe(st, t)
                observed[st.index] = seen
                checks.append(check_expect(st, seen))
                continue
            try:
                run_statement(st, env)
            except FixtureError:
                raise
            except Exception as e:  # torch raises RuntimeError, ValueError, IndexError, ...
                msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                if st.raises is None:
                    checks.append(Check(st.index, st.describe(), False, f"unexpected {msg}", fatal=True))
                    break
                if st.raises not in str(e):
                    checks.append(Check(st.index, st.describe(), False,
                                        f"raised {msg}, which does not contain {show(st.raises)}", fatal=True))
                continue
            if st.raises is not None:
                checks.append(Check(st.index, st.describe(), False,
                                    f"expected an error containing {show(st.raises)}, but it succeeded",
                                    fatal=True))
            elif st.let is not None:
                bound.append(st.let)
            elif st.kind == "grad_of":
                bound += st.lets
    return Outcome(checks, observed, env, bound)


# ---------------------------------------------------------------- replay

def fixture_files(paths):
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(p.rglob("*.json"))
        else:
            yield p


def cmd_replay(args) -> int:
    results, worst = [], 0
    files = list(fixture_files(args.paths))
    if not files:
        print("ERROR: no fixtures found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    for file in files:
        entry = {"file": str(file)}
        try:
            fx = load_fixture(file)
        except FixtureError as e:
            entry.update(name=None, status="error", message=str(e), path=e.path)
            worst = 2
            if not args.json:
                print(f"ERROR {file}: {e}")
            results.append(entry)
            continue
        try:
            outcome = execute(fx)
        except FixtureError as e:  # bad input found while running (a None used as a tensor)
            entry.update(name=fx.name, status="error", message=str(e), path=e.path)
            worst = 2
            if not args.json:
                print(f"ERROR {file}: {e}")
            results.append(entry)
            continue
        fails = outcome.failures
        entry.update(name=fx.name, status="fail" if fails else "pass",
                     checks=[dataclasses.asdict(c) for c in outcome.checks])
        if fails:
            worst = max(worst, 1)
            f = fails[0]
            entry["message"] = f"program[{f.index}] ({f.what}): {f.message}"
            if not args.json:
                more = f" (and {len(fails) - 1} more)" if len(fails) > 1 and not args.verbose else ""
                print(f"FAIL {fx.name}: {entry['message']}{more}")
                if args.verbose:
                    for g in fails[1:]:
                        print(f"  program[{g.index}] ({g.what}): {g.message}")
        elif not args.json:
            print(f"PASS {fx.name}")
        results.append(entry)
    if args.json:
        summary = {s: sum(r["status"] == s for r in results) for s in ("pass", "fail", "error")}
        for r in results:  # keep the report strict JSON
            for c in r.get("checks", []):
                if c["max_abs_err"] is not None:
                    c["max_abs_err"] = encode_number(c["max_abs_err"], "float64")
        print(json.dumps({"torch": str(torch.__version__), "summary": summary, "fixtures": results},
                         indent=1, allow_nan=False))
    return worst
