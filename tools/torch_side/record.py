"""`record`: rerun a fixture in torch and write it back with torch's values."""

import copy
import sys
from pathlib import Path

import torch

from .base import FixtureError, dumps_fixture, literal_of
from .parse import load_fixture, parse_fixture
from .run import execute


class RecordError(Exception):
    """Torch could not run the program as written (exit 1)."""


def expect_statement(kind: str, of: str, seen, dtype: str) -> dict:
    st = {"expect": kind, "of": of}
    update_expect(st, seen, dtype)
    return st


def update_expect(raw: dict, seen, dtype: str):
    """Replace an expect's expected part by what torch saw, keeping its atol/rtol."""
    kind = raw["expect"]
    for k in ("shape", "data", "fill", "grad", "value"):
        raw.pop(k, None)
    if kind in ("value", "grad"):
        if seen is None:
            raw[kind] = None
        else:
            lit = literal_of(seen, dtype)
            raw["shape"], raw["data"] = lit["shape"], lit["data"]
    elif kind == "grad_fn" and raw.get("is") is True and seen is not None:
        pass  # "any grad_fn" still holds
    else:
        raw["is"] = seen
    for k in ("atol", "rtol"):  # keep them last
        if k in raw:
            raw[k] = raw.pop(k)


def record_doc(doc: dict, file: str = "<fixture>") -> dict:
    fx = parse_fixture(doc, file)
    outcome = execute(fx)
    fatal = [c for c in outcome.checks if c.fatal]
    if fatal:
        c = fatal[0]
        raise RecordError(f"program[{c.index}] ({c.what}): {c.message}")
    out = copy.deepcopy(doc)
    program = out["program"]
    for i, seen in outcome.observed.items():
        update_expect(program[i], seen, fx.dtype)
    # Expects at the end: value, grad_fn, stride and is_view of every let-bound name, grad of
    # every leaf that requires grad. Ones already in the trailing run of expects are not
    # repeated, so recording a recorded fixture changes nothing.
    tail = len(program)
    while tail > 0 and "expect" in program[tail - 1]:
        tail -= 1
    have = {(s["expect"], s["of"]) for s in program[tail:]}
    auto = []
    # A grad_of's results: value (null for None), grad_fn and requires_grad; no stride or
    # is_view (backward formulas give layouts gradoracle does not model).
    grad_of_lets = {n for st in fx.program if st.kind == "grad_of" for n in st.lets}
    for name in outcome.bound:
        t = outcome.env[name]
        if name in grad_of_lets:
            auto.append(("value", name, None if t is None else t.detach().clone()))
            if t is not None:
                auto.append(("grad_fn", name, None if t.grad_fn is None else type(t.grad_fn).__name__))
                auto.append(("requires_grad", name, t.requires_grad))
            continue
        auto.append(("value", name, t.detach().clone()))
        auto.append(("grad_fn", name, None if t.grad_fn is None else type(t.grad_fn).__name__))
        auto.append(("stride", name, list(t.stride())))
        auto.append(("is_view", name, t._is_view()))
    for name, (_, rg) in fx.leaves.items():
        if rg:
            g = outcome.env[name].grad
            auto.append(("grad", name, None if g is None else g.detach().clone()))
    for kind, name, seen in auto:
        if (kind, name) not in have:
            program.append(expect_statement(kind, name, seen, fx.dtype))
    out["source"] = {"engine": "torch", "version": str(torch.__version__)}
    return out


def cmd_record(args) -> int:
    out = args.output or args.out
    if out is None:
        print("record: give OUT or -o OUT", file=sys.stderr)
        return 2
    src = Path(args.input)
    pairs = ([(f, Path(out) / f.relative_to(src)) for f in sorted(src.rglob("*.json"))]
             if src.is_dir() else [(src, Path(out))])
    status = 0
    for file, dest in pairs:
        try:
            fx = load_fixture(file)
            doc = record_doc(fx.doc, str(file))
        except FixtureError as e:
            print(f"ERROR {file}: {e}", file=sys.stderr)
            status = 2
            continue
        except RecordError as e:
            print(f"FAIL {file}: {e}", file=sys.stderr)
            status = max(status, 1)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(dumps_fixture(doc), encoding="utf-8")
        print(f"wrote {dest}")
    return status
