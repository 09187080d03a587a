"""`random-programs`: random fixtures recorded by torch."""

import math
import random
import sys
import warnings
from pathlib import Path

import torch

from .base import DTYPES, FORMAT, dumps_fixture, parse_literal
from .parse import parse_fixture, parse_statement
from .run import execute, run_statement
from .record import record_doc


# What a second-order program draws before its grad_of (binary ops with broadcasting operands):
# ops whose create_graph results carry PyTorch 1.13's grad_fn names, reductions of broadcast
# gradients included (ATen's sum_to: SumBackward0/1, ViewBackward0). The one place to widen.
SECOND_ORDER_OPS = ("add", "sub", "mul", "div", "neg", "tanh", "expm1", "atan", "erf", "silu", "gelu", "softplus",
                    "leaky_relu", "elu", "cumsum", "logsumexp", "var", "std", "prod", "clamp", "maximum", "minimum",
                    "max", "min", "amax", "amin", "where", "index_select", "gather", "embedding",
                    "nll_loss", "cross_entropy", "layer_norm",
                    "max_pool2d", "conv2d")
KINK_OPS = ("clamp", "maximum", "minimum", "max", "min", "amax", "amin")
SCAN_OPS = ("cumsum", "logsumexp", "var", "std", "prod")


def clear_extreme(v, dims, largest) -> bool:
    """Whether each slice's extremum over `dims` (None: all) stands alone, 0.05 from the next:
    no tie, nor one within a finite-difference step."""
    if v.numel() == 0:
        return False
    dims = list(range(v.dim())) if dims is None else [d % max(v.dim(), 1) for d in dims]
    if v.dim() == 0 or not dims:
        return True
    rest = [d for d in range(v.dim()) if d not in dims]
    k = math.prod(v.shape[d] for d in dims)
    rows = v.permute(rest + dims).reshape(-1, k).sort(dim=1, descending=largest).values
    return k == 1 or bool(((rows[:, 0] - rows[:, 1]).abs() > 0.05).all())


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
        (20, ["neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "log1p",
              "expm1", "atan", "erf", "silu"]),
        (6, ["gelu", "softplus", "leaky_relu", "elu"]),
        (24, ["add", "sub", "mul", "div", "pow"]),
        (7, ["matmul"]), (7, ["linear"]), (4, ["t"]), (5, ["transpose"]), (6, ["reshape"]),
        (8, ["sum", "mean"]), (6, ["norm"]), (5, ["softmax", "log_softmax"]), (5, ["cat"]),
        (3, ["mse_loss"]),
        (6, list(SCAN_OPS)),
        (8, list(KINK_OPS)),
        (6, ["where", "index_select", "gather", "embedding"]),
        (4, ["nll_loss", "cross_entropy"]),
        (4, ["layer_norm"]),
        (4, ["max_pool2d"]),
        (4, ["conv2d"]),
    ]

    def __init__(self, rng: random.Random, dtype: str, second_order: bool = False):
        self.rng, self.dtype, self.second_order = rng, dtype, second_order
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
            if not v.is_floating_point():  # an index or a condition: only the selection ops take one
                return False
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
                "exp": (lambda v: v.max() < 3, "any"), "expm1": (lambda v: v.max() < 3, "any"),
                # off saturation: there float32's 1 - y² keeps few digits, and engines' tanh and
                # sigmoid, each right to an ulp, differ in their second derivatives by percents
                "tanh": (lambda v: v.abs().max() < 3, "any"), "sigmoid": (lambda v: v.abs().max() < 6, "any"),
            }.get(op, (lambda v: v.abs().max() < 10, "any"))
            a = self.operand(pred, domain)
            return a and ([a], {})
        if op in self.FAMILIES[1][1]:  # activations with attrs
            return self.gen_activation(op)
        if op in ("add", "sub", "mul", "div", "pow"):
            return self.gen_binary(op)
        if op in KINK_OPS:
            return self.gen_kink(op)
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
        if op in ("where", "index_select", "gather", "embedding"):
            return self.gen_select(op)
        if op == "mse_loss":
            a = self.operand()
            attrs = {"reduction": rng.choice(["mean", "sum", "none"])} if rng.random() < 0.7 else {}
            return [a, self.leaf(list(self.values[a].shape))], attrs
        if op in SCAN_OPS:
            return self.gen_scan(op)
        if op in ("nll_loss", "cross_entropy"):
            return self.gen_loss_class(op)
        if op == "layer_norm":
            return self.gen_layer_norm()
        if op == "max_pool2d":
            return self.gen_max_pool2d()
        if op == "conv2d":
            return self.gen_conv2d()
        raise ValueError(f"no generator for {op}")

    def gen_scan(self, op):
        """cumsum, logsumexp, var, std, prod: var and std over slices of 2 or more elements
        (one element is NaN), prod of few moderate factors (no zeros: leaves keep |x| >= 0.3)."""
        rng = self.rng
        a = self.operand((lambda v: v.numel() <= 12 and v.abs().max() < 3) if op == "prod" else (lambda v: True))
        if a is None:
            return None
        v, attrs = self.values[a], {}
        if op == "cumsum":
            return [a], {"dim": self.dim_of(v) if v.dim() > 0 else rng.choice([0, -1])}
        if op == "prod":
            if v.dim() > 0 and rng.random() < 0.6:
                attrs["dim"] = self.dim_of(v)
                if rng.random() < 0.4:
                    attrs["keepdim"] = rng.random() < 0.7
            return [a], attrs
        if v.dim() == 0:
            return ([a], {"dim": 0}) if op == "logsumexp" else None
        dims = None
        if op == "logsumexp" or rng.random() < 0.7:
            dims = rng.sample(range(v.dim()), rng.randint(1, v.dim()))
            attrs["dim"] = self.dim_of(v) if len(dims) == 1 and rng.random() < 0.5 else [
                d - v.dim() if rng.random() < 0.3 else d for d in dims]
            if isinstance(attrs["dim"], int):
                dims = [attrs["dim"] % v.dim()]
        if rng.random() < 0.4:
            attrs["keepdim"] = rng.random() < 0.7
        if op in ("var", "std"):
            n = v.numel() if dims is None else math.prod(v.shape[d] for d in dims)
            if n < 2 or (op == "std" and v.numel() > 0 and v.std().item() < 0.05):
                return None
            if rng.random() < 0.4:
                attrs["unbiased"] = rng.random() < 0.5
        return [a], attrs
    def gen_layer_norm(self):
        """normalized_shape the last k dims, weight and bias by position; rows whose spread is
        near 0 (a near-constant row: σ² ~ eps) are left to the reference inputs."""
        rng = self.rng
        a = self.operand(rank={1, 2, 3})
        if a is None:
            return None
        v = self.values[a].detach()
        k = rng.randint(1, v.dim())
        ns = list(v.shape[v.dim() - k:])
        # NOTE: rows of one element in float32: y = bias and every gradient of x is 0 exactly, and
        # torch 1.13's float32 kernel returns its rounding there (fma(x, r, -mean*r), r = 1/sqrt(eps)
        # ~ 316: ~1e-5 in values, more in grads), which no other engine reproduces digit for digit.
        if self.dtype == "float32" and math.prod(ns) < 2:
            return None
        rows = v.reshape(-1, math.prod(ns)) if v.numel() else v.reshape(0, 1)
        if rows.shape[1] > 1 and (rows.numel() == 0 or bool((rows.std(dim=1) < 0.1).any())):
            return None
        args = [a] + [self.leaf(ns) for _ in range(rng.randint(0, 2))]
        attrs = {"normalized_shape": ns}
        if rng.random() < 0.3:
            attrs["eps"] = rng.choice([1e-5, 1e-3, 0.5])
        return args, attrs

    def gen_conv2d(self):
        """An input (N, C, H, W) or (C, H, W) from the pool; groups a divisor of C (C itself:
        depthwise), stride, padding 0..2, dilation 1..2 per side, a kernel that fits the padded
        input; the weight (and bias, by position) new leaves; attrs an int or a pair, or left out."""
        rng = self.rng
        a = self.operand(rank={3, 4})
        if a is None:
            return None
        v = self.values[a].detach()
        C, H, W = v.shape[-3:]
        groups = rng.choice([d for d in range(1, C + 1) if C % d == 0])
        out = groups * rng.randint(1, 2)
        p = [rng.randint(0, 2) for _ in range(2)]
        d = [rng.randint(1, 2) for _ in range(2)]
        s = [rng.randint(1, 3) for _ in range(2)]
        k = [rng.randint(1, min(3, (size + 2 * pad - 1) // dil + 1)) for size, pad, dil in zip((H, W), p, d)]
        args = [a, self.leaf([out, C // groups] + k)]
        if rng.random() < 0.5:
            args.append(self.leaf([out]))
        attrs = {}
        for name, pair, default in (("stride", s, 1), ("padding", p, 0), ("dilation", d, 1)):
            if pair[0] == pair[1] and (pair[0] != default or rng.random() < 0.3):
                attrs[name] = pair[0] if rng.random() < 0.6 else pair
            elif pair[0] != pair[1]:
                attrs[name] = pair
        if groups != 1 or rng.random() < 0.3:
            attrs["groups"] = groups
        return args, attrs

    def gen_max_pool2d(self):
        """A (C,H,W) or (N,C,H,W) operand, kernel within the input, stride 1..kernel (or omitted),
        padding at most half the kernel; every window's maximum clear of its runner-up by 0.05
        (ties, where torch picks the first maximum, are the reference inputs' and the fixtures')."""
        rng = self.rng
        a = self.operand(rank={3, 4})
        if a is None:
            return None
        v = self.values[a].detach()
        h, w = v.shape[-2], v.shape[-1]
        k = [rng.randint(1, h), rng.randint(1, w)]
        st = [rng.randint(1, k[0]), rng.randint(1, k[1])]
        pad = [rng.randint(0, k[0] // 2), rng.randint(0, k[1] // 2)]
        padded = torch.nn.functional.pad(v.reshape(-1, 1, h, w), (pad[1], pad[1], pad[0], pad[0]), value=-math.inf)
        cols = torch.nn.functional.unfold(padded, k, stride=st)
        if k[0] * k[1] > 1:
            top = cols.sort(dim=1, descending=True).values
            if not bool(((top[:, 0] - top[:, 1]) > 0.05).all()):
                return None
        pair = lambda p: p[0] if p[0] == p[1] and rng.random() < 0.5 else p
        attrs = {"kernel_size": pair(k)}
        if st != k or rng.random() < 0.5:
            attrs["stride"] = pair(st)
        if pad != [0, 0] or rng.random() < 0.3:
            attrs["padding"] = pair(pad)
        return [a], attrs

    def constant(self, shape, data, kind):
        """An int64 or bool leaf (an index or a condition): never requires grad."""
        name = f"k{len(self.tensors)}"
        self.tensors[name] = {"shape": list(shape), "dtype": kind, "data": data}
        self.values[name] = torch.tensor(data, dtype=torch.int64 if kind == "int64" else torch.bool).reshape(shape)
        return name

    def gen_select(self, op):
        """Indices in range with repeats likely (few rows, several picks); bool conditions."""
        rng = self.rng
        if op == "embedding":
            rows = rng.choice(self.DIMS)
            w = self.leaf([rows, rng.choice(self.DIMS)])
            shape = self.shape(rng.randint(0, 2))
            return [self.constant(shape, [rng.randrange(rows) for _ in range(math.prod(shape))], "int64"), w], {}
        a = self.operand()
        if a is None:
            return None
        s = list(self.values[a].shape)
        if op == "where":
            cs = self.partner_shape(s) if rng.random() < 0.5 else s
            bs = None if rng.random() < 0.3 else self.partner_shape(s)
            try:  # the condition and b each broadcast with a, but maybe not with each other
                torch.broadcast_shapes(cs, s, bs if bs is not None else [])
            except RuntimeError:
                return None
            cond = self.constant(cs, [rng.random() < 0.5 for _ in range(math.prod(cs))], "bool")
            b = rng.choice(self.NUMBERS) if bs is None else self.leaf(bs)
            return ([cond, a, b] if rng.random() < 0.5 else [cond, b, a]), {}
        if not s:
            return None
        dim = self.dim_of(self.values[a])
        size = s[dim]
        if op == "index_select":
            n = rng.randint(1, 4)
            return [a, self.constant([n], [rng.randrange(size) for _ in range(n)], "int64")], {"dim": dim}
        index = [rng.randint(1, d) for d in s]
        index[dim] = rng.randint(1, 4)
        return [a, self.constant(index, [rng.randrange(size) for _ in range(math.prod(index))], "int64")], {"dim": dim}

    def gen_loss_class(self, op):
        """An input (C), (N, C) or (N, C, d); int64 classes with repeats, some rows (never the
        first) at an ignore_index; for cross_entropy sometimes probabilities of the input's shape
        (a float leaf, differentiated) and label smoothing."""
        rng = self.rng
        a = self.operand(rank={1, 2, 3})
        s = list(self.values[a].shape)
        cd = 0 if len(s) == 1 else 1
        c = s[cd]
        attrs = {"reduction": rng.choice(["mean", "sum", "none"])} if rng.random() < 0.7 else {}
        if op == "cross_entropy" and rng.random() < 0.4:
            attrs["label_smoothing"] = rng.choice([0.1, 0.25, 1])
        if op == "cross_entropy" and rng.random() < 0.3:
            return [a, self.leaf(s)], attrs
        ts = s[:cd] + s[cd + 1:]
        data = [rng.randrange(c) for _ in range(math.prod(ts))]
        if len(data) >= 2 and rng.random() < 0.5:
            ignore = -1 if c < 2 or rng.random() < 0.5 else rng.randrange(c)
            data = [data[0] if data[0] != ignore else (ignore + 1) % c] + [
                ignore if rng.random() < 0.5 else k for k in data[1:]]
            attrs["ignore_index"] = ignore
        return [a, self.constant(ts, data, "int64")], attrs

    def gen_activation(self, op):
        """leaky_relu and elu away from their kink at 0; softplus with beta·|x| below the
        threshold's magnitude (its branches meet with a jump at beta·x = threshold)."""
        rng = self.rng
        if op == "gelu":
            a = self.operand(lambda v: v.abs().max() < 10)
            return a and ([a], {"approximate": rng.choice(["none", "tanh"])} if rng.random() < 0.7 else {})
        if op == "softplus":
            a = self.operand(lambda v: v.abs().max() < 4)
            attrs = {}
            if rng.random() < 0.7:
                attrs["beta"] = rng.choice([1, 2, 0.5])
            if rng.random() < 0.5:
                attrs["threshold"] = rng.choice([20, 10, -10])
            return a and ([a], attrs)
        a = self.operand(lambda v: v.abs().min() > 0.05 and v.abs().max() < 10)
        name = "negative_slope" if op == "leaky_relu" else "alpha"
        values = [0.01, 0.2, -0.5, 2] if op == "leaky_relu" else [1, 2, 0.5]
        return a and ([a], {name: rng.choice(values)} if rng.random() < 0.7 else {})

    def gen_kink(self, op):
        """clamp's values 0.05 from its bounds, maximum's operands 0.05 apart, each extremum of
        max/min/amax/amin 0.05 from the next in its slice: no kink or tie near a random case."""
        rng = self.rng
        if op == "clamp":
            attrs = {}
            which = rng.choice(["min", "max", "both"])
            if which != "max":
                attrs["min"] = rng.choice([-1, 0.5, -0.25, 1.5])
            if which != "min":
                attrs["max"] = rng.choice([1, -0.5, 0.25, 2])
            a = self.operand(lambda v: all(bool(((v - b).abs() > 0.05).all()) for b in attrs.values()))
            return a and ([a], attrs)
        if op in ("maximum", "minimum"):
            a = self.operand()
            sa = list(self.values[a].shape)
            b = self.leaf(self.partner_shape(sa))
            if not bool(((self.values[a].detach() - self.values[b].detach()).abs() > 0.05).all()):
                return None
            return ([a, b] if rng.random() < 0.6 else [b, a]), {}
        largest = op in ("max", "amax")
        a = self.operand(rank={0, 1, 2, 3})
        v, attrs = self.values[a].detach(), {}
        if op in ("max", "min"):
            if rng.random() < 0.6:
                attrs["dim"] = self.dim_of(v) if v.dim() else rng.choice([0, -1])
                if rng.random() < 0.5:
                    attrs["keepdim"] = rng.random() < 0.5
            dims = None if "dim" not in attrs else [attrs["dim"]]
        else:
            if v.dim() > 0 and rng.random() < 0.7:
                if rng.random() < 0.5:
                    attrs["dim"] = self.dim_of(v)
                else:
                    picked = rng.sample(range(v.dim()), rng.randint(1, v.dim()))
                    attrs["dim"] = [d - v.dim() if rng.random() < 0.3 else d for d in picked]
            if rng.random() < 0.4:
                attrs["keepdim"] = rng.random() < 0.7
            d = attrs.get("dim")
            dims = None if d is None else (d if isinstance(d, list) else [d])
        return ([a], attrs) if clear_extreme(v, dims, largest) else None

    def gen_binary(self, op):
        rng = self.rng
        mode = "tt" if self.second_order else rng.choice(["tt", "tt", "tt", "tn", "nt"])
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

    def build_second_order(self, n_ops):
        """n_ops - 1 ops of SECOND_ORDER_OPS, s = sum(last), [g...] = grad_of(s, wrt, create_graph)
        for some leaves and results s reaches, then loss = sum(Σ g·g or g·c) and its backward:
        second derivatives in .grad. Returns whether loss requires grad."""
        for k in range(1, n_ops):
            while not self.try_op(self.rng.choice(SECOND_ORDER_OPS), f"v{k}"):
                pass
        raw = {"let": "s", "op": "sum", "args": [self.last]}
        run_statement(parse_statement(len(self.program), raw, DTYPES[self.dtype], 0.0, 0.0), self.values)
        self.program.append(raw)
        s = self.values["s"]
        if not s.requires_grad:
            return False
        candidates = [n for n, v in self.values.items() if n != "s" and v.requires_grad]
        reached = [n for n, g in zip(candidates, torch.autograd.grad(s, [self.values[n] for n in candidates],
                                                                     retain_graph=True, allow_unused=True))
                   if g is not None]
        wrt = self.rng.sample(reached, self.rng.randint(1, min(2, len(reached))))
        lets = [f"g{j}" for j in range(len(wrt))]
        raw = {"let": lets, "grad_of": "s", "wrt": wrt, "create_graph": True}
        run_statement(parse_statement(len(self.program), raw, DTYPES[self.dtype], 0.0, 0.0), self.values)
        self.program.append(raw)
        terms = []
        for j, g in enumerate(lets):
            if self.rng.random() < 0.5:
                other = g
            else:
                other = f"c{j}"
                shape = list(self.values[g].shape)
                self.tensors[other] = {"shape": shape, "data": [round(self.rng.uniform(-2, 2), 3) for _ in range(math.prod(shape))]}
                self.values[other] = parse_literal(self.tensors[other], "", DTYPES[self.dtype])
            terms.append({"let": f"p{j}", "op": "mul", "args": [g, other]})
            terms.append({"let": f"q{j}", "op": "sum", "args": [f"p{j}"]})
        if len(lets) == 2:
            terms.append({"let": "q", "op": "add", "args": ["q0", "q1"]})
        terms.append({"let": "loss", "op": "mul", "args": ["q" if len(lets) == 2 else "q0", 0.5]})
        for raw in terms:
            run_statement(parse_statement(len(self.program), raw, DTYPES[self.dtype], 0.0, 0.0), self.values)
            self.program.append(raw)
        self.program.append({"backward": "loss"})
        return self.values["loss"].requires_grad

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


def random_fixture(seed: int, index: int, dtype: str, second_order: float = 0.0) -> dict:
    """Program `index` of `seed`; with probability `second_order` (drawn apart, so the first-order
    programs of a seed do not change with it) the second-order variant (build_second_order)."""
    rng = random.Random(seed * 1_000_003 + index)
    n_ops = rng.randint(2, 8)
    variant = second_order > 0 and random.Random(f"second-order {seed} {index}").random() < second_order
    while True:
        gen = ProgramGenerator(rng, dtype, second_order=variant)
        if (gen.build_second_order if variant else gen.build)(n_ops):
            break
    doc = {
        "format": FORMAT,
        "name": f"random/{dtype}-s{seed}-{index:03d}" + ("-second-order" if variant else ""),
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
        doc = random_fixture(args.seed, i, args.dtype, args.second_order)
        fails = execute(parse_fixture(doc)).failures  # every file must replay PASS
        if fails:
            print(f"FAIL {doc['name']}: program[{fails[0].index}]: {fails[0].message}", file=sys.stderr)
            status = 1
        dest = out / f"{args.dtype}-s{args.seed}-{i:03d}.json"
        dest.write_text(dumps_fixture(doc), encoding="utf-8")
    print(f"wrote {args.n} fixtures to {out}")
    return status
