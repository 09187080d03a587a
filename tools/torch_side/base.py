"""Constants of the fixture format, its error, JSON paths and tensor literals."""

import json
import math
import re

import numpy as np
import torch


FORMAT = "gradoracle.fixture/1"
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# (atol, rtol) for an expect when neither it nor the fixture sets one.
DEFAULT_TOLERANCE = {"float32": (1e-5, 1e-4), "float64": (1e-10, 1e-7)}
MAX_ELEMENTS = 10**8  # a literal larger than this is rejected as absurd
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
TOP_KEYS = ("format", "name", "description", "dtype", "source", "tolerance", "tensors", "program")
KINDS = ("op", "backward", "zero_grad", "detach_", "expect", "grad_of")
STATEMENT_KEYS = {
    "op": {"let", "op", "args", "attrs"},
    "backward": {"backward", "grad", "retain_graph", "create_graph"},
    "zero_grad": {"zero_grad", "set_to_none"},
    "detach_": {"detach_"},
    "expect": {"expect", "of", "shape", "data", "fill", "grad", "value", "dtype", "is", "atol", "rtol"},
    "grad_of": {"let", "grad_of", "wrt", "grad_outputs", "create_graph", "retain_graph", "allow_unused"},
}
# stride (y.stride()) and is_view (y._is_view()) are gradoracle's additions to v1.
EXPECT_KINDS = ("value", "grad", "requires_grad", "grad_fn", "stride", "is_view")
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
    t = t.detach()
    if t._is_zerotensor():  # torch 1.13's efficient zeros (a double backward's zero upstream) have no
        t = t.clone()       # storage: .numpy() reads unallocated memory, clone() materialises them
    a = t.to(torch.float64).numpy()
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
