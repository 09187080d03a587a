#!/usr/bin/env python3
"""Run, record and generate gradoracle fixtures (format v1) in PyTorch.

  replay [--json] [-v] FILE|DIR...      run each fixture in torch and check its expects
  record IN [OUT] | record IN -o OUT    rerun IN in torch, write it back with torch's values
  random-programs N --seed S --out DIR [--dtype float64|float32]

Directories are searched recursively for *.json. Exit status: 0 all pass,
1 some fixture failed, 2 bad input or usage (the message names the JSON path
at fault, e.g. `program[3].args[1]: no tensor named "y9"`).

The contract is the fixture format v1 page (spec/fixture-format.md); PyTorch
1.13 semantics are the reference. Only the standard library, torch and numpy.
"""

import argparse
import copy
import dataclasses
import json
import math
import operator
import random
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

FORMAT = "gradoracle.fixture/1"
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# (atol, rtol) for an expect when neither it nor the fixture sets one.
DEFAULT_TOLERANCE = {"float32": (1e-5, 1e-4), "float64": (1e-10, 1e-7)}
MAX_ELEMENTS = 10**8  # a literal larger than this is rejected as absurd
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
TOP_KEYS = ("format", "name", "description", "dtype", "source", "tolerance", "tensors", "program")
KINDS = ("op", "backward", "zero_grad", "detach_", "expect")
STATEMENT_KEYS = {
    "op": {"let", "op", "args", "attrs"},
    "backward": {"backward", "grad", "retain_graph"},
    "zero_grad": {"zero_grad", "set_to_none"},
    "detach_": {"detach_"},
    "expect": {"expect", "of", "shape", "data", "fill", "grad", "is", "atol", "rtol"},
}
EXPECT_KINDS = ("value", "grad", "requires_grad", "grad_fn")
REQUIRED = object()  # marks an attr without default

torch.set_num_threads(1)


class FixtureError(Exception):
    """The fixture is malformed (exit 2). `path` is the JSON path at fault."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path, self.message = path, message


def key_path(base: str, key) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key)}]"


def show(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def to_float(v, path: str) -> float:
    """A JSON number, or one of the strings "nan", "inf", "-inf"."""
    if is_number(v):
        return float(v)
    if isinstance(v, str) and v in NONFINITE:
        return NONFINITE[v]
    raise FixtureError(path, f'expected a number or "nan", "inf", "-inf", got {show(v)}')


def check_keys(obj: dict, allowed, path: str):
    for k in obj:
        if k not in allowed:
            raise FixtureError(key_path(path, k), "unknown key")


# ---------------------------------------------------------------- literals

def parse_literal(obj: dict, path: str, dtype: torch.dtype) -> torch.Tensor:
    """`{"shape": [...], "data": [...]}` or `{"shape": [...], "fill": x}` as a tensor."""
    if "shape" not in obj:
        raise FixtureError(path, 'missing "shape"')
    shape = obj["shape"]
    if not isinstance(shape, list):
        raise FixtureError(key_path(path, "shape"), f"must be a list of dimensions, got {show(shape)}")
    for i, d in enumerate(shape):
        if not isinstance(d, int) or isinstance(d, bool):
            raise FixtureError(f"{path}.shape[{i}]", f"dimension must be an integer, got {show(d)}")
        if d < 0:
            raise FixtureError(f"{path}.shape[{i}]", f"negative dimension {d}")
    n = math.prod(shape)
    if n > MAX_ELEMENTS:
        raise FixtureError(f"{path}.shape", f"{n} elements exceeds the limit of {MAX_ELEMENTS}")
    if ("data" in obj) == ("fill" in obj):
        raise FixtureError(path, 'needs exactly one of "data" and "fill"')
    if "fill" in obj:
        return torch.full(shape, to_float(obj["fill"], f"{path}.fill"), dtype=dtype)
    data = obj["data"]
    if not isinstance(data, list):
        raise FixtureError(f"{path}.data", f"must be a flat list of numbers, got {show(data)}")
    if len(data) != n:
        raise FixtureError(f"{path}.data", f"has {len(data)} elements but shape {shape} needs {n}")
    values = [to_float(v, f"{path}.data[{i}]") for i, v in enumerate(data)]
    return torch.tensor(values, dtype=torch.float64).reshape(shape).to(dtype)


def encode_number(v: float, dtype: str):
    """JSON form of one element: shortest round-trip text for the dtype, non-finite as strings."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if dtype == "float32":
        f = np.float32(v)
        short = float(np.format_float_scientific(f, unique=True, trim="-"))
        # Shortest float32 digits; kept only if they read back to f through a double, too.
        return short if np.float32(short) == f else float(f)
    return v  # json writes repr(): shortest text that reads back to the same double


def literal_of(t: torch.Tensor, dtype: str) -> dict:
    a = t.detach().to(torch.float64).numpy()
    return {"shape": list(a.shape), "data": [encode_number(x, dtype) for x in a.reshape(-1).tolist()]}


def dumps_fixture(doc: dict) -> str:
    """One top-level key, tensor or statement per line; the key order of TOP_KEYS."""
    def d(v):
        return json.dumps(v, allow_nan=False)

    keys = [k for k in TOP_KEYS if k in doc] + [k for k in doc if k not in TOP_KEYS]
    parts = []
    for k in keys:
        v = doc[k]
        if k == "tensors" and v:
            inner = ",\n".join(f"    {d(n)}: {d(t)}" for n, t in v.items())
            parts.append(f'  "tensors": {{\n{inner}\n  }}')
        elif k == "program" and v:
            inner = ",\n".join(f"    {d(s)}" for s in v)
            parts.append(f'  "program": [\n{inner}\n  ]')
        else:
            parts.append(f"  {d(k)}: {d(v)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


# ---------------------------------------------------------------- ops
# One record per op: its arguments, attrs (kind, default) and the torch call.

@dataclasses.dataclass(frozen=True)
class Op:
    name: str
    min_args: int
    max_args: Optional[int]  # None: any number
    fn: Callable  # fn(args, **attrs) -> Tensor or None
    attrs: dict = dataclasses.field(default_factory=dict)  # name -> (kind, default or REQUIRED)
    numbers: bool = False  # may an argument be a plain number (as in `1 - y`)
    binds: bool = True  # returns a tensor that `let` can bind


def _reduce(f):
    def run(args, dim=None, keepdim=False):
        (a,) = args
        if dim is None:
            return f(a, dim=list(range(a.dim())), keepdim=True) if keepdim else f(a)
        return f(a, dim=dim, keepdim=keepdim)
    return run


def _binary(f):
    def run(args):
        a, b = args
        if not (torch.is_tensor(a) or torch.is_tensor(b)):
            raise ValueError("at least one argument must be a tensor")
        return f(a, b)  # Python operators: `1 - y` is y.__rsub__(1), as in PyTorch
    return run


def _clip_grad_norm(args, max_norm, norm_type=2.0, error_if_nonfinite=False):
    total = torch.nn.utils.clip_grad_norm_(args, max_norm, norm_type, error_if_nonfinite)
    # NOTE: with no gradients at all torch returns torch.tensor(0.) in the default dtype.
    return total.to(args[0].dtype) if args else total


def _clip_grad_value(args, clip_value):
    torch.nn.utils.clip_grad_value_(args, clip_value)


def _build_ops():
    ops = {}

    def add(*a, **k):
        op = Op(*a, **k)
        ops[op.name] = op

    for name, f in [("neg", torch.neg), ("exp", torch.exp), ("log", torch.log), ("sqrt", torch.sqrt),
                    ("sin", torch.sin), ("cos", torch.cos), ("tanh", torch.tanh),
                    ("sigmoid", torch.sigmoid), ("relu", torch.relu), ("abs", torch.abs), ("log1p", torch.log1p)]:
        add(name, 1, 1, lambda args, f=f: f(args[0]))
    for name, f in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                    ("div", operator.truediv), ("pow", operator.pow)]:
        add(name, 2, 2, _binary(f), numbers=True)
    add("matmul", 2, 2, lambda args: torch.matmul(*args))
    add("linear", 2, 3, lambda args: F.linear(*args))
    add("t", 1, 1, lambda args: args[0].t())
    add("transpose", 1, 1, lambda args, dim0, dim1: args[0].transpose(dim0, dim1),
        attrs={"dim0": ("int", REQUIRED), "dim1": ("int", REQUIRED)})
    add("reshape", 1, 1, lambda args, shape: args[0].reshape(shape), attrs={"shape": ("shape", REQUIRED)})
    for name, f in [("sum", torch.sum), ("mean", torch.mean)]:
        add(name, 1, 1, _reduce(f), attrs={"dim": ("dims", None), "keepdim": ("bool", False)})
    add("norm", 1, 1, lambda args, p=2: torch.norm(args[0], p), attrs={"p": ("number", 2)})
    add("softmax", 1, 1, lambda args, dim: torch.softmax(args[0], dim), attrs={"dim": ("int", REQUIRED)})
    add("log_softmax", 1, 1, lambda args, dim: torch.log_softmax(args[0], dim),
        attrs={"dim": ("int", REQUIRED)})
    add("cat", 1, None, lambda args, dim=0: torch.cat(args, dim), attrs={"dim": ("int", 0)})
    add("mse_loss", 2, 2, lambda args, reduction="mean": F.mse_loss(*args, reduction=reduction),
        attrs={"reduction": ("reduction", "mean")})
    add("detach", 1, 1, lambda args: args[0].detach())
    add("clip_grad_norm_", 1, None, _clip_grad_norm,
        attrs={"max_norm": ("number", REQUIRED), "norm_type": ("number", 2.0),
               "error_if_nonfinite": ("bool", False)})
    add("clip_grad_value_", 1, None, _clip_grad_value, attrs={"clip_value": ("number", REQUIRED)},
        binds=False)
    return ops


OPS = _build_ops()


def parse_attr(kind: str, v, path: str):
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    if kind == "int" and is_int(v):
        return v
    if kind == "bool" and isinstance(v, bool):
        return v
    if kind == "number":
        return to_float(v, path)
    if kind == "dims" and (is_int(v) or (isinstance(v, list) and all(is_int(x) for x in v))):
        return v
    if kind == "shape" and isinstance(v, list) and all(is_int(x) and x >= -1 for x in v):
        if v.count(-1) > 1:
            raise FixtureError(path, "at most one -1")
        return v
    if kind == "reduction" and v in ("mean", "sum", "none"):
        return v
    wanted = {"int": "an integer", "bool": "true or false", "dims": "an integer or a list of integers",
              "shape": "a list of dimensions (>= -1)", "reduction": '"mean", "sum" or "none"'}[kind]
    raise FixtureError(path, f"must be {wanted}, got {show(v)}")


# ---------------------------------------------------------------- parsing

@dataclasses.dataclass
class Statement:
    index: int
    kind: str
    raw: dict
    raises: Optional[str] = None
    # op
    let: Optional[str] = None
    op: Optional[Op] = None
    args: list = dataclasses.field(default_factory=list)
    attrs: dict = dataclasses.field(default_factory=dict)
    # the tensor names the statement reads, and the JSON path of each
    names: list = dataclasses.field(default_factory=list)
    refs: list = dataclasses.field(default_factory=list)
    grad: Optional[torch.Tensor] = None
    retain_graph: Optional[bool] = None
    set_to_none: bool = False
    expect: Optional[str] = None
    expected: Any = None  # tensor, None (grad: null), bool, or grad_fn name / True / None
    atol: float = 0.0
    rtol: float = 0.0

    @property
    def path(self) -> str:
        return f"program[{self.index}]"

    def describe(self) -> str:
        if self.kind == "op":
            return f"op {self.op.name}" + (f" -> {self.let}" if self.let else "")
        if self.kind == "expect":
            return f"expect {self.expect} of {self.names[0]}"
        if self.kind == "zero_grad":
            return "zero_grad of " + ", ".join(self.names)
        return f"{self.kind} of {self.names[0]}"


@dataclasses.dataclass
class Fixture:
    file: str
    doc: dict
    name: str
    dtype: str
    leaves: dict  # name -> (tensor, requires_grad)
    program: list  # Statement

    @property
    def torch_dtype(self):
        return DTYPES[self.dtype]


def parse_fixture(doc, file: str = "<fixture>") -> Fixture:
    if not isinstance(doc, dict):
        raise FixtureError("", "the fixture must be a JSON object")
    check_keys(doc, TOP_KEYS, "")
    for k in ("format", "name", "dtype", "tensors", "program"):
        if k not in doc:
            raise FixtureError("", f'missing required key "{k}"')
    if doc["format"] != FORMAT:
        raise FixtureError("format", f'expected "{FORMAT}", got {show(doc["format"])}')
    if not isinstance(doc["name"], str) or not doc["name"]:
        raise FixtureError("name", "must be a non-empty string")
    if "description" in doc and not isinstance(doc["description"], str):
        raise FixtureError("description", "must be a string")
    if "source" in doc and not isinstance(doc["source"], dict):
        raise FixtureError("source", "must be an object")
    dtype = doc["dtype"]
    if dtype not in DTYPES:
        raise FixtureError("dtype", f'must be "float32" or "float64", got {show(dtype)}')
    atol, rtol = DEFAULT_TOLERANCE[dtype]
    if "tolerance" in doc:
        tol = doc["tolerance"]
        if not isinstance(tol, dict):
            raise FixtureError("tolerance", 'must be an object {"atol": a, "rtol": r}')
        check_keys(tol, ("atol", "rtol"), "tolerance")
        atol = parse_tolerance(tol, "atol", atol, "tolerance")
        rtol = parse_tolerance(tol, "rtol", rtol, "tolerance")
    tdtype = DTYPES[dtype]

    if not isinstance(doc["tensors"], dict):
        raise FixtureError("tensors", "must be an object: name -> tensor literal")
    leaves = {}
    for name, lit in doc["tensors"].items():
        p = key_path("tensors", name)
        if not name:
            raise FixtureError(p, "empty tensor name")
        if not isinstance(lit, dict):
            raise FixtureError(p, f"must be a tensor literal, got {show(lit)}")
        check_keys(lit, ("shape", "data", "fill", "requires_grad"), p)
        rg = lit.get("requires_grad", False)
        if not isinstance(rg, bool):
            raise FixtureError(f"{p}.requires_grad", "must be true or false")
        leaves[name] = (parse_literal(lit, p, tdtype), rg)

    if not isinstance(doc["program"], list):
        raise FixtureError("program", "must be a list of statements")
    bound = set(leaves)
    raising = {}  # name -> index of the statement with `raises` that would have bound it
    program = []
    for i, raw in enumerate(doc["program"]):
        st = parse_statement(i, raw, tdtype, atol, rtol)
        for where, name in zip(st.refs, st.names):
            if name not in bound:
                hint = (f" (program[{raising[name]}] would bind it but is expected to raise)"
                        if name in raising else "")
                raise FixtureError(where, f'no tensor named "{name}"{hint}')
        if st.let is not None:
            if st.let in bound:
                raise FixtureError(f"{st.path}.let", f'"{st.let}" is already bound')
            if st.raises is None:
                bound.add(st.let)
            else:
                raising[st.let] = i
        program.append(st)
    return Fixture(file, doc, doc["name"], dtype, leaves, program)


def parse_tolerance(obj, key, default, path):
    if key not in obj:
        return default
    v = obj[key]
    if not is_number(v) or not v >= 0 or math.isinf(v):
        raise FixtureError(key_path(path, key), f"must be a finite number >= 0, got {show(v)}")
    return float(v)


def parse_statement(i, raw, tdtype, atol, rtol) -> Statement:
    path = f"program[{i}]"
    if not isinstance(raw, dict):
        raise FixtureError(path, f"a statement must be an object, got {show(raw)}")
    kinds = [k for k in KINDS if k in raw]
    if len(kinds) != 1:
        raise FixtureError(path, "needs exactly one of the keys " + ", ".join(f'"{k}"' for k in KINDS)
                           + (f", has {', '.join(kinds)}" if kinds else ""))
    kind = kinds[0]
    check_keys(raw, STATEMENT_KEYS[kind] | {"raises"}, path)
    st = Statement(i, kind, raw)
    if "raises" in raw:
        if not isinstance(raw["raises"], str):
            raise FixtureError(f"{path}.raises", "must be a string (an empty string matches any error)")
        if kind == "expect":
            raise FixtureError(f"{path}.raises", "an expect cannot raise; put `raises` on the statement it checks")
        st.raises = raw["raises"]

    def name_at(key):
        v = raw[key]
        if not isinstance(v, str) or not v:
            raise FixtureError(f"{path}.{key}", f"must be a tensor name, got {show(v)}")
        return v

    if kind == "op":
        opname = raw["op"]
        if opname not in OPS:
            raise FixtureError(f"{path}.op", f"unknown op {show(opname)}")
        op = st.op = OPS[opname]
        if "let" in raw:
            st.let = name_at("let")
            if not op.binds:
                raise FixtureError(f"{path}.let", f"{opname} returns nothing to bind")
        args = raw.get("args", [])
        if not isinstance(args, list):
            raise FixtureError(f"{path}.args", "must be a list")
        if len(args) < op.min_args or (op.max_args is not None and len(args) > op.max_args):
            want = (f"{op.min_args}" if op.min_args == op.max_args else
                    f"{op.min_args} to {op.max_args}" if op.max_args else f"at least {op.min_args}")
            raise FixtureError(f"{path}.args", f"{opname} takes {want} arguments, got {len(args)}")
        for j, a in enumerate(args):
            if isinstance(a, str) and a:
                st.names.append(a)
                st.refs.append(f"{path}.args[{j}]")
            elif not (is_number(a) and op.numbers):
                what = "a tensor name or a number" if op.numbers else "a tensor name"
                raise FixtureError(f"{path}.args[{j}]", f"must be {what}, got {show(a)}")
        if op.numbers and not any(isinstance(a, str) for a in args):
            raise FixtureError(f"{path}.args", "at least one argument must be a tensor")
        st.args = args
        attrs = raw.get("attrs", {})
        if not isinstance(attrs, dict):
            raise FixtureError(f"{path}.attrs", "must be an object")
        for k, v in attrs.items():
            if k not in op.attrs:
                raise FixtureError(key_path(f"{path}.attrs", k), f"{opname} has no attr {show(k)}")
            st.attrs[k] = parse_attr(op.attrs[k][0], v, key_path(f"{path}.attrs", k))
        for k, (_, default) in op.attrs.items():
            if default is REQUIRED and k not in st.attrs:
                raise FixtureError(f"{path}.attrs", f'{opname} needs attr "{k}"')
    elif kind == "backward":
        st.names, st.refs = [name_at("backward")], [f"{path}.backward"]
        if "grad" in raw:
            if not isinstance(raw["grad"], dict):
                raise FixtureError(f"{path}.grad", "must be a tensor literal")
            check_keys(raw["grad"], ("shape", "data", "fill"), f"{path}.grad")
            st.grad = parse_literal(raw["grad"], f"{path}.grad", tdtype)
        if "retain_graph" in raw:
            if not isinstance(raw["retain_graph"], bool):
                raise FixtureError(f"{path}.retain_graph", "must be true or false")
            st.retain_graph = raw["retain_graph"]
    elif kind == "zero_grad":
        names = raw["zero_grad"]
        if not isinstance(names, list):
            raise FixtureError(f"{path}.zero_grad", "must be a list of tensor names")
        for j, n in enumerate(names):
            if not isinstance(n, str) or not n:
                raise FixtureError(f"{path}.zero_grad[{j}]", f"must be a tensor name, got {show(n)}")
        st.names = list(names)
        st.refs = [f"{path}.zero_grad[{j}]" for j in range(len(names))]
        st.set_to_none = raw.get("set_to_none", False)
        if not isinstance(st.set_to_none, bool):
            raise FixtureError(f"{path}.set_to_none", "must be true or false")
    elif kind == "detach_":
        st.names, st.refs = [name_at("detach_")], [f"{path}.detach_"]
    else:
        if "of" not in raw:
            raise FixtureError(path, 'an expect needs "of"')
        parse_expect(st, raw, path, tdtype, atol, rtol)
        st.names, st.refs = [name_at("of")], [f"{path}.of"]
    return st


def parse_expect(st, raw, path, tdtype, atol, rtol):
    kind = raw["expect"]
    if kind not in EXPECT_KINDS:
        raise FixtureError(f"{path}.expect", f"must be one of {', '.join(EXPECT_KINDS)}, got {show(kind)}")
    st.expect = kind
    allowed = {"value": {"shape", "data", "fill"}, "grad": {"shape", "data", "fill", "grad"},
               "requires_grad": {"is"}, "grad_fn": {"is"}}[kind] | {"expect", "of", "atol", "rtol"}
    check_keys(raw, allowed | {"raises"}, path)
    st.atol = parse_tolerance(raw, "atol", atol, path)
    st.rtol = parse_tolerance(raw, "rtol", rtol, path)
    if kind == "grad" and "grad" in raw:
        if raw["grad"] is not None:
            raise FixtureError(f"{path}.grad", 'only "grad": null is allowed here; give the literal keys instead')
        if any(k in raw for k in ("shape", "data", "fill")):
            raise FixtureError(path, '"grad": null excludes "shape", "data" and "fill"')
        st.expected = None
    elif kind in ("value", "grad"):
        # NOTE: the expected literal is a tensor of the fixture's dtype like any other, so in a
        # float32 fixture 14.30769861897899 means float32(14.30769861897899).
        st.expected = parse_literal(raw, path, tdtype)
    else:
        if "is" not in raw:
            raise FixtureError(path, f'expect {kind} needs "is"')
        v = raw["is"]
        if kind == "requires_grad" and not isinstance(v, bool):
            raise FixtureError(f"{path}.is", f"must be true or false, got {show(v)}")
        if kind == "grad_fn" and not (v is None or v is True or (isinstance(v, str) and v)):
            raise FixtureError(f"{path}.is", f"must be null, true or a grad_fn name, got {show(v)}")
        st.expected = v


def load_fixture(file) -> Fixture:
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as e:
        raise FixtureError("", f"cannot read: {e.strerror}") from None
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        for k in keys:
            if keys.count(k) > 1:
                raise FixtureError("", f"duplicate key {show(k)} in one object")
        return dict(pairs)

    try:
        doc = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise FixtureError("", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    return parse_fixture(doc, str(file))


# ---------------------------------------------------------------- comparison

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


def observe(st: Statement, t: torch.Tensor):
    if st.expect == "value":
        return t.detach().clone()
    if st.expect == "grad":  # of a non-leaf this is None (torch warns; execute() silences it)
        return None if t.grad is None else t.grad.detach().clone()
    if st.expect == "requires_grad":
        return t.requires_grad
    return None if t.grad_fn is None else type(t.grad_fn).__name__


def check_expect(st: Statement, seen) -> Check:
    what = st.describe()
    if st.expect in ("value", "grad"):
        if st.expected is None or seen is None:
            if st.expected is None and seen is None:
                return Check(st.index, what, True, max_abs_err=0.0)
            got = "None" if seen is None else f"a tensor of shape {list(seen.shape)}"
            want = "None" if st.expected is None else f"shape {list(st.expected.shape)}"
            return Check(st.index, what, False, f"grad is {got}, expected {want}")
        ok, msg, err = compare(as_array(seen), as_array(st.expected), st.atol, st.rtol)
        return Check(st.index, what, ok, msg, err)
    if st.expect == "grad_fn" and st.expected is True:
        return Check(st.index, what, seen is not None, "grad_fn is None, expected one")
    ok = seen == st.expected
    return Check(st.index, what, ok, "" if ok else f"{st.expect} is {show(seen)}, expected {show(st.expected)}")


def run_statement(st: Statement, env: dict):
    if st.kind == "op":
        args = [env[a] if isinstance(a, str) else a for a in st.args]
        result = st.op.fn(args, **st.attrs)
        if st.let is not None:
            env[st.let] = result
    elif st.kind == "backward":
        env[st.names[0]].backward(st.grad, retain_graph=st.retain_graph)
    elif st.kind == "zero_grad":  # PyTorch 1.x Module.zero_grad(set_to_none)
        for name in st.names:
            p = env[name]
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
        env[st.names[0]].detach_()


def execute(fx: Fixture) -> Outcome:
    env = {name: t.clone().requires_grad_(rg) for name, (t, rg) in fx.leaves.items()}
    checks, observed, bound = [], {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for st in fx.program:
            if st.kind == "expect":
                seen = observe(st, env[st.names[0]])
                observed[st.index] = seen
                checks.append(check_expect(st, seen))
                continue
            try:
                run_statement(st, env)
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
        outcome = execute(fx)
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


# ---------------------------------------------------------------- record

class RecordError(Exception):
    """Torch could not run the program as written (exit 1)."""


def expect_statement(kind: str, of: str, seen, dtype: str) -> dict:
    st = {"expect": kind, "of": of}
    update_expect(st, seen, dtype)
    return st


def update_expect(raw: dict, seen, dtype: str):
    """Replace an expect's expected part by what torch saw, keeping its atol/rtol."""
    kind = raw["expect"]
    for k in ("shape", "data", "fill", "grad"):
        raw.pop(k, None)
    if kind in ("value", "grad"):
        if seen is None:
            raw["grad"] = None
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
    # Expects at the end: value and grad_fn of every let-bound name, grad of every leaf
    # that requires grad. Ones already in the trailing run of expects are not repeated,
    # so recording a recorded fixture changes nothing.
    tail = len(program)
    while tail > 0 and "expect" in program[tail - 1]:
        tail -= 1
    have = {(s["expect"], s["of"]) for s in program[tail:]}
    auto = []
    for name in outcome.bound:
        t = outcome.env[name]
        auto.append(("value", name, t.detach().clone()))
        auto.append(("grad_fn", name, None if t.grad_fn is None else type(t.grad_fn).__name__))
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


# ---------------------------------------------------------------- random programs

def broadcastable(a, b) -> bool:
    return len(a) <= 3 and len(b) <= 3 and all(x == y or 1 in (x, y) for x, y in zip(a[::-1], b[::-1]))


class ProgramGenerator:
    """Builds one random, valid program, evaluating it in torch as it goes so that every op
    sees inputs well inside its domain (positive for log/sqrt/pow bases, away from 0 for
    relu/abs/div denominators/1-norms, a unique maximum |x| for inf-norms, minimum for -inf)."""

    DIMS = (1, 2, 3, 4)
    NUMBERS = (2, -1, 0.5, 3, 1, -2.5, 1.5)
    EXPONENTS = (2, 3, 0.5, -1, 1.5, -0.5)
    FAMILIES = [  # (weight, ops)
        (20, ["neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "log1p"]),
        (24, ["add", "sub", "mul", "div", "pow"]),
        (7, ["matmul"]), (7, ["linear"]), (4, ["t"]), (5, ["transpose"]), (6, ["reshape"]),
        (8, ["sum", "mean"]), (6, ["norm"]), (5, ["softmax", "log_softmax"]), (5, ["cat"]),
        (3, ["mse_loss"]),
    ]

    def __init__(self, rng: random.Random, dtype: str):
        self.rng, self.dtype = rng, dtype
        self.tensors, self.values, self.program = {}, {}, []
        self.last, self.used = None, set()

    # -- leaves and operands
    def shape(self, rank=None):
        rank = self.rng.randint(0, 3) if rank is None else rank
        return [self.rng.choice(self.DIMS) for _ in range(rank)]

    def leaf(self, shape, domain="any"):
        rng = self.rng
        n = math.prod(shape)
        if domain == "pos":
            data = [round(rng.uniform(0.5, 2.0), 3) for _ in range(n)]
        else:  # both signs, |x| in [0.3, 2]
            data = [round(rng.choice((-1, 1)) * rng.uniform(0.3, 2.0), 3) for _ in range(n)]
        rg = rng.random() < 0.75
        name = f"x{len(self.tensors)}"
        self.tensors[name] = {"shape": list(shape), "data": data, **({"requires_grad": True} if rg else {})}
        self.values[name] = parse_literal(self.tensors[name], "", DTYPES[self.dtype]).requires_grad_(rg)
        return name

    def pick(self, pred=lambda v: True, rank=None, shape=None):
        """A pool tensor satisfying pred, or None (then the caller makes a leaf). Results
        nothing has used yet come first, so that few branches end up off the loss's graph."""
        def fits(name):
            v = self.values[name].detach()
            return ((rank is None or v.dim() in rank) and (shape is None or shape(list(v.shape)))
                    and bool(pred(v)))
        if self.last is not None and self.rng.random() < 0.8 and fits(self.last):
            return self.last
        unused = [n for n in self.values if n.startswith("v") and n not in self.used and fits(n)]
        if unused and self.rng.random() < 0.8:
            return self.rng.choice(unused)
        names = [n for n in self.values if fits(n)]
        return self.rng.choice(names) if names and self.rng.random() < 0.5 else None

    def operand(self, pred=lambda v: True, domain="any", rank=None):
        name = self.pick(pred, rank)
        if name is None:
            name = self.leaf(self.shape(self.rng.choice(sorted(rank)) if rank else None), domain)
        return name if pred(self.values[name].detach()) else None

    def partner_shape(self, shape):
        """A shape that broadcasts with `shape` (sometimes both ways)."""
        rng, out = self.rng, []
        for k in range(rng.randint(0, min(3, len(shape) + 1))):
            if k < len(shape):
                d = shape[-1 - k]
                out.append(rng.choice(self.DIMS) if d == 1 else (d if rng.random() < 0.65 else 1))
            else:
                out.append(rng.choice(self.DIMS))
        return out[::-1]

    def dim_of(self, v):
        return self.rng.randint(-v.dim(), v.dim() - 1)

    # -- one op: (args, attrs) or None when this attempt does not fit
    def gen(self, op):
        rng = self.rng
        if op in self.FAMILIES[0][1]:  # unary
            pred, domain = {
                "log": (lambda v: v.min() > 0.2, "pos"), "sqrt": (lambda v: v.min() > 0.2, "pos"),
                "log1p": (lambda v: v.min() > -0.8, "pos"),
                "relu": (lambda v: v.abs().min() > 0.05, "any"), "abs": (lambda v: v.abs().min() > 0.05, "any"),
                "exp": (lambda v: v.max() < 3, "any"),
            }.get(op, (lambda v: v.abs().max() < 10, "any"))
            a = self.operand(pred, domain)
            return a and ([a], {})
        if op in ("add", "sub", "mul", "div", "pow"):
            return self.gen_binary(op)
        if op == "matmul":
            a = self.operand(rank={1, 2, 3})
            s = list(self.values[a].shape)
            if len(s) == 3:
                b = self.leaf([s[0], s[2], rng.choice(self.DIMS)])
            else:
                b = self.leaf([s[-1]] + ([rng.choice(self.DIMS)] if rng.random() < 0.7 else []))
            return [a, b], {}
        if op == "linear":
            x = self.operand(rank={1, 2, 3})
            out = rng.choice(self.DIMS)
            args = [x, self.leaf([out, self.values[x].shape[-1]])]
            if rng.random() < 0.7:
                args.append(self.leaf([out]))
            return args, {}
        if op == "t":
            return [self.operand(rank={0, 1, 2})], {}
        if op == "transpose":
            a = self.operand(rank={2, 3})
            v = self.values[a]
            return [a], {"dim0": self.dim_of(v), "dim1": self.dim_of(v)}
        if op == "reshape":
            a = self.operand()
            return [a], {"shape": self.factor(self.values[a].numel())}
        if op in ("sum", "mean"):
            a = self.operand()
            v, attrs = self.values[a], {}
            if v.dim() > 0 and rng.random() < 0.7:
                if rng.random() < 0.5:
                    attrs["dim"] = self.dim_of(v)
                else:
                    dims = rng.sample(range(v.dim()), rng.randint(1, v.dim()))
                    attrs["dim"] = [d - v.dim() if rng.random() < 0.3 else d for d in dims]
            if rng.random() < 0.4:
                attrs["keepdim"] = rng.random() < 0.7
            return [a], attrs
        if op == "norm":
            p = rng.choice([2, 1, 3, "inf", "-inf", None])
            def unique_extreme(v, largest):  # the max (min) |v| alone, away from 0 and from the next
                top = v.abs().reshape(-1).sort(descending=largest).values
                return top.numel() > 0 and top[0] > 0.1 and (top.numel() == 1 or abs(top[0] - top[1]) > 0.05)
            pred = {1: lambda v: v.abs().min() > 0.05, "inf": lambda v: unique_extreme(v, True),
                    "-inf": lambda v: unique_extreme(v, False)}.get(p, lambda v: v.norm() > 0.1)
            a = self.operand(pred)
            return a and ([a], {} if p is None else {"p": p})
        if op in ("softmax", "log_softmax"):
            a = self.operand(rank={1, 2, 3})
            return [a], {"dim": self.dim_of(self.values[a])}
        if op == "cat":
            a = self.operand(rank={1, 2, 3})
            s = list(self.values[a].shape)
            dim = self.dim_of(self.values[a])
            args = [a]
            for _ in range(rng.randint(1, 2)):
                if rng.random() < 0.2:
                    args.append(a)
                else:
                    s2 = list(s)
                    s2[dim] = rng.choice(self.DIMS)
                    args.append(self.leaf(s2))
            rng.shuffle(args)
            return args, ({"dim": dim} if dim != 0 or rng.random() < 0.5 else {})
        if op == "mse_loss":
            a = self.operand()
            attrs = {"reduction": rng.choice(["mean", "sum", "none"])} if rng.random() < 0.7 else {}
            return [a, self.leaf(list(self.values[a].shape))], attrs
        raise ValueError(f"no generator for {op}")

    def gen_binary(self, op):
        rng = self.rng
        mode = rng.choice(["tt", "tt", "tt", "tn", "nt"])
        if op == "pow":
            if mode == "tn":
                a = self.operand(lambda v: v.min() > 0.2, "pos")
                return a and ([a, rng.choice(self.EXPONENTS)], {})
            if mode == "nt":
                b = self.operand(lambda v: v.abs().max() < 3)
                return b and ([rng.choice((2, 0.5, 1.5, 3)), b], {})
            a = self.operand(lambda v: v.min() > 0.2, "pos")
            b = self.leaf(self.partner_shape(list(self.values[a].shape))) if a else None
            return a and ([a, b], {})
        nonzero = lambda v: v.abs().min() > 0.25  # noqa: E731  (denominators)
        if mode == "tn":
            a = self.operand()
            return [a, rng.choice(self.NUMBERS)], {}
        if mode == "nt":
            b = self.operand(nonzero if op == "div" else (lambda v: True))
            return b and ([rng.choice(self.NUMBERS), b], {})
        a = self.operand()
        if rng.random() < 0.1 and (op != "div" or nonzero(self.values[a].detach())):
            return [a, a], {}
        sa = list(self.values[a].shape)
        b = self.pick(nonzero if op == "div" else (lambda v: True),
                      shape=lambda sb: sb != sa and broadcastable(sa, sb)) if rng.random() < 0.5 else None
        b = b or self.leaf(self.partner_shape(sa))
        if rng.random() < 0.4 and op != "div":
            a, b = b, a
        return [a, b], {}

    def factor(self, n):
        """A random shape with n elements, rank 0-3, sometimes with one -1."""
        primes, m, f = [], n, 2
        while m > 1:
            while m % f == 0:
                primes.append(f)
                m //= f
            f += 1
        rank = self.rng.randint(1 if n > 1 else 0, 3)
        dims = [1] * rank
        for p in primes:
            dims[self.rng.randrange(rank)] *= p
        if rank and self.rng.random() < 0.3:
            dims[self.rng.randrange(rank)] = -1
        return dims

    # -- a whole program
    def try_op(self, op, let):
        """Add `let = op(...)` if this attempt fits; otherwise leave no trace."""
        snapshot = (dict(self.tensors), dict(self.values))
        spec = self.gen(op)
        if spec:
            args, attrs = spec
            raw = {"let": let, "op": op, "args": args, **({"attrs": attrs} if attrs else {})}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_statement(parse_statement(len(self.program), raw, DTYPES[self.dtype], 0.0, 0.0),
                              self.values)
            v = self.values[let].detach()
            if (v.numel() <= 256 and bool(torch.isfinite(v).all())
                    and (v.numel() == 0 or float(v.abs().max()) < 1e3)):
                self.program.append(raw)
                self.used.update(a for a in args if isinstance(a, str))
                self.last = let
                return True
        self.tensors, self.values = snapshot
        return False

    def build(self, n_ops):
        """n_ops - 1 random ops, then `loss = sum|mean(last)` and its backward.

        Returns whether loss requires grad (if not, the caller draws again)."""
        for k in range(1, n_ops):
            while True:
                names = self.rng.choices([n for _, n in self.FAMILIES],
                                         weights=[w for w, _ in self.FAMILIES])[0]
                if self.try_op(self.rng.choice(names), f"v{k}"):
                    break
        final = {"let": "loss", "op": self.rng.choice(["sum", "sum", "mean"]), "args": [self.last]}
        run_statement(parse_statement(len(self.program), final, DTYPES[self.dtype], 0.0, 0.0), self.values)
        self.program += [final, {"backward": "loss"}]
        return self.values["loss"].requires_grad


def random_fixture(seed: int, index: int, dtype: str) -> dict:
    rng = random.Random(seed * 1_000_003 + index)
    n_ops = rng.randint(2, 8)
    while True:
        gen = ProgramGenerator(rng, dtype)
        if gen.build(n_ops):
            break
    doc = {
        "format": FORMAT,
        "name": f"random/{dtype}-s{seed}-{index:03d}",
        "description": (f"Random program {index} of `torch_fixture.py random-programs --seed {seed} "
                        f"--dtype {dtype}`; inputs inside each op's domain, expects recorded by torch."),
        "dtype": dtype,
        "tensors": gen.tensors,
        "program": gen.program,
    }
    return record_doc(doc)


def cmd_random(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for i in range(args.n):
        doc = random_fixture(args.seed, i, args.dtype)
        fails = execute(parse_fixture(doc)).failures  # every file must replay PASS
        if fails:
            print(f"FAIL {doc['name']}: program[{fails[0].index}]: {fails[0].message}", file=sys.stderr)
            status = 1
        dest = out / f"{args.dtype}-s{args.seed}-{i:03d}.json"
        dest.write_text(dumps_fixture(doc), encoding="utf-8")
    print(f"wrote {args.n} fixtures to {out}")
    return status


# ---------------------------------------------------------------- CLI

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="torch_fixture.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("replay", help="run fixtures in torch and check their expects")
    p.add_argument("paths", nargs="+", metavar="FILE|DIR")
    p.add_argument("--json", action="store_true", help="print a machine-readable report")
    p.add_argument("-v", "--verbose", action="store_true", help="print every failure, not just the first")
    p.set_defaults(run=cmd_replay)
    p = sub.add_parser("record", help="rerun a fixture in torch and write it with torch's expected values")
    p.add_argument("input", metavar="IN", help="a fixture, or a directory of them")
    p.add_argument("out", nargs="?", metavar="OUT")
    p.add_argument("-o", "--output", metavar="OUT")
    p.set_defaults(run=cmd_record)
    p = sub.add_parser("random-programs", help="write N random fixtures recorded by torch")
    p.add_argument("n", type=int, metavar="N")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    p.set_defaults(run=cmd_random)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
