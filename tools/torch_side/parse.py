"""Reading a fixture: the document, its tensors and statements, checked with the JSON path at fault."""

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Optional

import torch

from .base import DEFAULT_TOLERANCE, DTYPES, EXPECT_KINDS, FORMAT, FixtureError, KINDS, REQUIRED, STATEMENT_KEYS, TOP_KEYS, check_keys, is_number, key_path, parse_literal, show
from .ops import OPS, Op, parse_attr


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
    grad: Optional[torch.Tensor] = None  # a literal; a bound name is grad_name
    grad_name: Optional[str] = None
    retain_graph: Optional[bool] = None
    create_graph: bool = False
    # grad_of: `let` names (one per wrt) and allow_unused; of is names[0], wrt names[1:1+len(lets)]
    lets: list = dataclasses.field(default_factory=list)
    allow_unused: bool = False
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
        if self.kind == "grad_of":
            return f"grad_of {self.names[0]} wrt " + ", ".join(self.names[1:1 + len(self.lets)])
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
        check_keys(lit, ("shape", "data", "fill", "requires_grad", "dtype"), p)
        rg = lit.get("requires_grad", False)
        if not isinstance(rg, bool):
            raise FixtureError(f"{p}.requires_grad", "must be true or false")
        leaves[name] = (parse_leaf_literal(lit, p, tdtype, doc["dtype"], rg), rg)

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
        lets = st.lets if st.kind == "grad_of" else [] if st.let is None else [st.let]
        for j, let in enumerate(lets):
            if let in bound or let in lets[:j]:
                where = f"{st.path}.let[{j}]" if st.kind == "grad_of" else f"{st.path}.let"
                raise FixtureError(where, f'"{let}" is already bound')
        for let in lets:
            if st.raises is None:
                bound.add(let)
            else:
                raising[let] = i
        program.append(st)
    return Fixture(file, doc, doc["name"], dtype, leaves, program)


def parse_leaf_literal(lit: dict, path: str, tdtype, dtype_name: str, requires_grad: bool):
    """A leaf's literal with its optional "dtype": "int64", "bool" or the fixture's own dtype."""
    if "dtype" not in lit or lit["dtype"] == dtype_name:
        return parse_literal(lit, path, tdtype)
    kind = lit["dtype"]
    if kind not in ("int64", "bool"):
        raise FixtureError(f"{path}.dtype",
                           f'must be "int64", "bool" or the fixture\'s dtype "{dtype_name}", got {show(kind)}')
    if requires_grad:
        raise FixtureError(f"{path}.requires_grad",
                           f"an {kind} tensor cannot require grad (PyTorch: \"Only Tensors of floating point and "
                           "complex dtype can require gradients\")")

    def check(v, at):
        if kind == "bool" and not isinstance(v, bool):
            raise FixtureError(at, f"must be true or false in a bool tensor, got {show(v)}")
        if kind == "int64" and (not isinstance(v, int) or isinstance(v, bool)):
            raise FixtureError(at, f"must be an integer in an int64 tensor, got {show(v)}")
        if kind == "int64" and not -2**63 <= v < 2**63:
            raise FixtureError(at, f"is out of the range of int64: {show(v)}")

    if "fill" in lit:
        check(lit["fill"], f"{path}.fill")
    if isinstance(lit.get("data"), list):
        for i, v in enumerate(lit["data"]):
            check(v, f"{path}.data[{i}]")
    numeric = dict(lit)
    numeric.pop("dtype")
    if kind == "bool":
        if "fill" in numeric:
            numeric["fill"] = int(numeric["fill"])
        if isinstance(numeric.get("data"), list):
            numeric["data"] = [int(v) for v in numeric["data"]]
    parse_literal(numeric, path, torch.float64)  # shape and length checks, as for any literal
    shape = lit["shape"]
    values = [lit["fill"]] * math.prod(shape) if "fill" in lit else lit["data"]
    return torch.tensor(values, dtype=torch.int64 if kind == "int64" else torch.bool).reshape(shape)


def dtype_name(tdtype) -> str:
    return "float32" if tdtype == torch.float32 else "float64"


def parse_float_literal(lit: dict, path: str, tdtype):
    """A gradient's literal (a backward's grad, a grad_outputs, an expect grad): its optional
    "dtype" may only be the fixture's own float dtype."""
    if "dtype" in lit and lit["dtype"] != dtype_name(tdtype):
        raise FixtureError(f"{path}.dtype", f'must be the fixture\'s dtype "{dtype_name(tdtype)}" (a gradient has its '
                                            f'tensor\'s floating dtype), got {show(lit["dtype"])}')
    return parse_literal({k: v for k, v in lit.items() if k != "dtype"}, path, tdtype)


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
            parse_upstream(st, raw, "grad", path, tdtype)
        st.create_graph = flag(raw, "create_graph", path)
        if "retain_graph" in raw:
            if not isinstance(raw["retain_graph"], bool):
                raise FixtureError(f"{path}.retain_graph", "must be true or false")
            st.retain_graph = raw["retain_graph"]
    elif kind == "grad_of":
        st.names, st.refs = [name_at("grad_of")], [f"{path}.grad_of"]
        if "wrt" not in raw:
            raise FixtureError(path, 'a grad_of needs "wrt", the list of tensors to differentiate with respect to')
        wrt = names_at(raw["wrt"], f"{path}.wrt")
        st.names += wrt
        st.refs += [f"{path}.wrt[{j}]" for j in range(len(wrt))]
        if "let" not in raw:
            raise FixtureError(path, 'a grad_of needs "let", one name per "wrt" entry')
        st.lets = names_at(raw["let"], f"{path}.let")
        if len(st.lets) != len(wrt):
            raise FixtureError(f"{path}.let", f'has {len(st.lets)} names but "wrt" has {len(wrt)}: '
                                              'one name per "wrt" entry')
        if "grad_outputs" in raw:
            parse_upstream(st, raw, "grad_outputs", path, tdtype)
        st.create_graph = flag(raw, "create_graph", path)
        if raw.get("retain_graph") is not None:
            st.retain_graph = flag(raw, "retain_graph", path)
        st.allow_unused = flag(raw, "allow_unused", path)
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


def flag(raw, key, path) -> bool:
    v = raw.get(key, False)
    if not isinstance(v, bool):
        raise FixtureError(f"{path}.{key}", f"must be true or false, got {show(v)}")
    return v


def names_at(v, path) -> list:
    """`let` and `wrt` of a grad_of: a list of tensor names, even of one."""
    if not isinstance(v, list) or not v:
        raise FixtureError(path, f"must be a list of tensor names (even of one), got {show(v)}")
    for j, n in enumerate(v):
        if not isinstance(n, str) or not n:
            raise FixtureError(f"{path}[{j}]", f"must be a tensor name, got {show(n)}")
    return list(v)


def parse_upstream(st, raw, key, path, tdtype):
    """A backward's `grad`, a grad_of's `grad_outputs`: a tensor literal or a bound name."""
    v = raw[key]
    if isinstance(v, str) and v:
        st.grad_name = v
        st.names.append(v)
        st.refs.append(f"{path}.{key}")
        return
    if not isinstance(v, dict):
        raise FixtureError(f"{path}.{key}", f"must be a tensor literal or a tensor name, got {show(v)}")
    check_keys(v, ("shape", "data", "fill", "dtype"), f"{path}.{key}")
    st.grad = parse_float_literal(v, f"{path}.{key}", tdtype)


def parse_expect(st, raw, path, tdtype, atol, rtol):
    kind = raw["expect"]
    if kind not in EXPECT_KINDS:
        raise FixtureError(f"{path}.expect", f"must be one of {', '.join(EXPECT_KINDS)}, got {show(kind)}")
    st.expect = kind
    allowed = {"value": {"shape", "data", "fill", "value", "dtype"}, "grad": {"shape", "data", "fill", "grad", "dtype"},
               "requires_grad": {"is"}, "grad_fn": {"is"}}.get(kind, {"is"}) | {"expect", "of"}
    if kind not in ("stride", "is_view"):  # no tolerance applies to a layout
        allowed |= {"atol", "rtol"}
    check_keys(raw, allowed | {"raises"}, path)
    st.atol = parse_tolerance(raw, "atol", atol, path)
    st.rtol = parse_tolerance(raw, "rtol", rtol, path)
    if kind == "grad" and "grad" in raw:
        if raw["grad"] is not None:
            raise FixtureError(f"{path}.grad", 'only "grad": null is allowed here; give the literal keys instead')
        if any(k in raw for k in ("shape", "data", "fill", "dtype")):
            raise FixtureError(path, '"grad": null excludes "shape", "data", "fill" and "dtype"')
        st.expected = None
    elif kind == "value" and "value" in raw:
        if raw["value"] is not None:
            raise FixtureError(f"{path}.value", 'only "value": null is allowed here; give the literal keys instead')
        if any(k in raw for k in ("shape", "data", "fill", "dtype")):
            raise FixtureError(path, '"value": null excludes "shape", "data", "fill" and "dtype"')
        st.expected = None
    elif kind in ("value", "grad"):
        # NOTE: the expected literal is a tensor of the fixture's dtype like any other, so in a
        # float32 fixture 14.30769861897899 means float32(14.30769861897899).
        lit = {k: raw[k] for k in ("shape", "data", "fill", "dtype") if k in raw}
        st.expected = (parse_float_literal(lit, path, tdtype) if kind == "grad"
                       else parse_leaf_literal(lit, path, tdtype, dtype_name(tdtype), False))
    else:
        if "is" not in raw:
            raise FixtureError(path, f'expect {kind} needs "is"')
        v = raw["is"]
        if kind in ("requires_grad", "is_view") and not isinstance(v, bool):
            raise FixtureError(f"{path}.is", f"must be true or false, got {show(v)}")
        if kind == "stride":
            if not isinstance(v, list):
                raise FixtureError(f"{path}.is", f"must be a list of integers >= 0 (one stride per dim), got {show(v)}")
            for j, s in enumerate(v):
                if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                    raise FixtureError(f"{path}.is[{j}]", f"a stride must be an integer >= 0, got {show(s)}")
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
