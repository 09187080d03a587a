"""The op table: one record per op, its arguments, attrs and the torch call."""

import dataclasses
import operator
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .base import FixtureError, REQUIRED, show, to_float


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


def _gelu(args, approximate="none"):
    y = F.gelu(args[0], approximate=approximate)
    # NOTE: PyTorch 1.13's float32 exact gelu backward (its oneDNN path) reads a non-contiguous
    # upstream (a transpose's gradient) as if it were contiguous: wrong gradients, no error. The
    # hook hands it a contiguous copy of the same values; names and second order are unchanged.
    if y.requires_grad and y.dtype == torch.float32 and approximate == "none":
        y.register_hook(lambda g: g.contiguous())
    return y


def _prod(args, dim=None, keepdim=False):
    (a,) = args
    if dim is None:  # torch.prod(a, keepdim=True) is no signature: torch's TypeError
        return torch.prod(a, keepdim=True) if keepdim else torch.prod(a)
    return torch.prod(a, dim, keepdim)


def _clamp(args, min=None, max=None):
    return torch.clamp(args[0], min, max)  # neither: torch's own error


def _extremum(f):
    def run(args, dim=None, keepdim=None):
        (a,) = args
        if dim is None:
            return f(a) if keepdim is None else f(a, keepdim=keepdim)  # keepdim alone: torch's TypeError
        return f(a, dim, bool(keepdim)).values
    return run


def _where(args):
    cond, a, b = args
    if not (torch.is_tensor(a) or torch.is_tensor(b)):
        raise ValueError("where(): at least one of a and b must be a tensor")
    return torch.where(cond, a, b)


def _build_ops():
    ops = {}

    def add(*a, **k):
        op = Op(*a, **k)
        ops[op.name] = op

    for name, f in [("neg", torch.neg), ("exp", torch.exp), ("log", torch.log), ("sqrt", torch.sqrt),
                    ("sin", torch.sin), ("cos", torch.cos), ("tanh", torch.tanh),
                    ("sigmoid", torch.sigmoid), ("relu", torch.relu), ("abs", torch.abs), ("log1p", torch.log1p),
                    ("expm1", torch.expm1), ("atan", torch.atan), ("erf", torch.erf), ("silu", F.silu)]:
        add(name, 1, 1, lambda args, f=f: f(args[0]))
    add("gelu", 1, 1, _gelu, attrs={"approximate": ("approximate", "none")})
    add("softplus", 1, 1, lambda args, beta=1, threshold=20: F.softplus(args[0], beta, threshold),
        attrs={"beta": ("number", 1), "threshold": ("number", 20)})
    add("leaky_relu", 1, 1, lambda args, negative_slope=0.01: F.leaky_relu(args[0], negative_slope),
        attrs={"negative_slope": ("number", 0.01)})
    add("elu", 1, 1, lambda args, alpha=1.0: F.elu(args[0], alpha), attrs={"alpha": ("number", 1.0)})
    for name, f in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                    ("div", operator.truediv), ("pow", operator.pow)]:
        add(name, 2, 2, _binary(f), numbers=True)
    add("matmul", 2, 2, lambda args: torch.matmul(*args))
    add("linear", 2, 3, lambda args: F.linear(*args))
    add("t", 1, 1, lambda args: args[0].t())
    add("transpose", 1, 1, lambda args, dim0, dim1: args[0].transpose(dim0, dim1),
        attrs={"dim0": ("int", REQUIRED), "dim1": ("int", REQUIRED)})
    add("reshape", 1, 1, lambda args, shape: args[0].reshape(shape), attrs={"shape": ("shape", REQUIRED)})
    add("unsqueeze", 1, 1, lambda args, dim: args[0].unsqueeze(dim), attrs={"dim": ("int", REQUIRED)})
    add("squeeze", 1, 1, lambda args, dim=None: args[0].squeeze() if dim is None else args[0].squeeze(dim),
        attrs={"dim": ("int", None)})
    add("permute", 1, 1, lambda args, dims: args[0].permute(dims), attrs={"dims": ("ints", REQUIRED)})
    add("expand", 1, 1, lambda args, size: args[0].expand(size), attrs={"size": ("ints", REQUIRED)})
    for name, f in [("sum", torch.sum), ("mean", torch.mean)]:
        add(name, 1, 1, _reduce(f), attrs={"dim": ("dims", None), "keepdim": ("bool", False)})
    add("norm", 1, 1, lambda args, p=2: torch.norm(args[0], p), attrs={"p": ("number", 2)})
    add("softmax", 1, 1, lambda args, dim: torch.softmax(args[0], dim), attrs={"dim": ("int", REQUIRED)})
    add("log_softmax", 1, 1, lambda args, dim: torch.log_softmax(args[0], dim),
        attrs={"dim": ("int", REQUIRED)})
    add("cat", 1, None, lambda args, dim=0: torch.cat(args, dim), attrs={"dim": ("int", 0)})
    add("mse_loss", 2, 2, lambda args, reduction="mean": F.mse_loss(*args, reduction=reduction),
        attrs={"reduction": ("reduction", "mean")})
    # Scans and reductions with backwards of their own (engine/src/ops_scan.cpp).
    add("cumsum", 1, 1, lambda args, dim: torch.cumsum(args[0], dim), attrs={"dim": ("int", REQUIRED)})
    add("logsumexp", 1, 1, lambda args, dim, keepdim=False: torch.logsumexp(args[0], dim, keepdim),
        attrs={"dim": ("dims", REQUIRED), "keepdim": ("bool", False)})
    for name, f in [("var", torch.var), ("std", torch.std)]:
        add(name, 1, 1, lambda args, dim=None, unbiased=True, keepdim=False, f=f:
            f(args[0], dim, unbiased, keepdim) if dim is not None or keepdim else f(args[0], unbiased),
            attrs={"dim": ("dims", None), "unbiased": ("bool", True), "keepdim": ("bool", False)})
    add("prod", 1, 1, _prod, attrs={"dim": ("int", None), "keepdim": ("bool", False)})
    # kinks and ties
    add("clamp", 1, 1, _clamp, attrs={"min": ("number", None), "max": ("number", None)})
    for name, f in [("maximum", torch.maximum), ("minimum", torch.minimum)]:
        add(name, 2, 2, lambda args, f=f: f(*args))
    for name, f in [("max", torch.max), ("min", torch.min)]:
        add(name, 1, 1, _extremum(f), attrs={"dim": ("int", None), "keepdim": ("bool", None)})
    for name, f in [("amax", torch.amax), ("amin", torch.amin)]:
        add(name, 1, 1, lambda args, dim=(), keepdim=False, f=f: f(args[0], dim, keepdim),
            attrs={"dim": ("dims", ()), "keepdim": ("bool", False)})
    add("detach", 1, 1, lambda args: args[0].detach())
    # Selection: cond is a bool tensor, index and indices int64 tensors (leaves with "dtype").
    add("where", 3, 3, _where, numbers=True)
    add("index_select", 2, 2, lambda args, dim: torch.index_select(args[0], dim, args[1]),
        attrs={"dim": ("int", REQUIRED)})
    add("gather", 2, 2, lambda args, dim: torch.gather(args[0], dim, args[1]), attrs={"dim": ("int", REQUIRED)})
    add("embedding", 2, 2, lambda args: F.embedding(args[0], args[1]))
    # Classification losses: int64 class targets (leaves with "dtype") or, for cross_entropy,
    # float probabilities of the input's shape.
    add("nll_loss", 2, 2, lambda args, reduction="mean", ignore_index=-100:
        F.nll_loss(args[0], args[1], reduction=reduction, ignore_index=ignore_index),
        attrs={"reduction": ("reduction", "mean"), "ignore_index": ("int", -100)})
    add("cross_entropy", 2, 2, lambda args, reduction="mean", ignore_index=-100, label_smoothing=0.0:
        F.cross_entropy(args[0], args[1], reduction=reduction, ignore_index=ignore_index,
                        label_smoothing=label_smoothing),
        attrs={"reduction": ("reduction", "mean"), "ignore_index": ("int", -100),
               "label_smoothing": ("number", 0.0)})
    # Normalization: weight and bias by position (the format has no null argument), so bias only with weight.
    add("layer_norm", 1, 3, lambda args, normalized_shape, eps=1e-5: F.layer_norm(args[0], normalized_shape, *args[1:], eps=eps),
        attrs={"normalized_shape": ("ints", REQUIRED), "eps": ("number", 1e-5)})
    # Convolution: stride, padding, dilation an int or a pair.
    add("conv2d", 2, 3, lambda args, stride=1, padding=0, dilation=1, groups=1:
        F.conv2d(args[0], args[1], args[2] if len(args) > 2 else None, stride, padding, dilation, groups),
        attrs={"stride": ("dims", 1), "padding": ("dims", 0), "dilation": ("dims", 1), "groups": ("int", 1)})
    # Windows (engine/src/ops_window.cpp); dilation and ceil_mode are not in the format.
    add("max_pool2d", 1, 1, lambda args, kernel_size, stride=None, padding=0:
        F.max_pool2d(args[0], kernel_size, stride, padding),
        attrs={"kernel_size": ("dims", REQUIRED), "stride": ("dims", None), "padding": ("dims", 0)})
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
    if kind == "ints" and isinstance(v, list) and all(is_int(x) for x in v):
        return v
    if kind == "shape" and isinstance(v, list) and all(is_int(x) and x >= -1 for x in v):
        if v.count(-1) > 1:
            raise FixtureError(path, "at most one -1")
        return v
    if kind == "reduction" and v in ("mean", "sum", "none"):
        return v
    if kind == "approximate" and v in ("none", "tanh"):
        return v
    wanted = {"int": "an integer", "ints": "a list of integers", "bool": "true or false",
              "dims": "an integer or a list of integers", "shape": "a list of dimensions (>= -1)",
              "reduction": '"mean", "sum" or "none"', "approximate": '"none" or "tanh"'}[kind]
    raise FixtureError(path, f"must be {wanted}, got {show(v)}")
