#!/usr/bin/env python3
"""Write corpus/tutorial/*.json: the backprop tutorial (vinsis/understanding-neuralnetworks-pytorch,
backprop.md), one fixture per section, every number it prints an expect.

The tutorial does not print all of its inputs (section 1's x, section 2's x1 and x2, section 3's x,
section 4's W, b and y0), and what it prints is rounded to 4 decimals. This script reconstructs
inputs consistent with every printed output: least squares on the printed equations, solved by
Gauss-Newton (Jacobians by torch autograd in float64), each step numpy.linalg.lstsq's minimum-norm
solution, starting from a seeded draw shaped like the tutorial's own (torch.randn for data,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for a fresh nn.Linear). So among all inputs that fit the
printed numbers best, it takes one near that draw, and the residuals are spread over all printed
equations instead of fitting some exactly at the expense of others.

Deterministic: `/usr/bin/python3 tools/reconstruct_tutorial.py` rewrites the same files.
Only the standard library, numpy and torch (through tools/torch_fixture.py).
"""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_python import require_torch  # noqa: E402

require_torch()  # else one line and exit 2 (or a re-exec under /usr/bin/python3)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_fixture as tf  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "corpus" / "tutorial"
SEED = 2018  # of the reference draws; any seed gives inputs as consistent as these
DTYPE = "float32"
# The tutorial prints 4 decimals: a printed value is within 5e-5 of the true one, and the
# reconstruction adds its residual on top. atol 1e-4 covers both with a margin for float32
# arithmetic (~1e-6 here); rtol 1e-5 only widens it for the few values above 10.
TOLERANCE = {"atol": 1e-4, "rtol": 1e-5}
# Who computed the expected values: the tutorial's PyTorch, whose version it does not say; its
# Variable API and clip_grad_norm returning a Python float place it at 0.3 or before.
SOURCE = {"engine": "torch", "version": "<=0.3, as printed by the tutorial (4 decimals)",
          "url": "https://github.com/vinsis/understanding-neuralnetworks-pytorch/blob/master/backprop.md"}

# ---------------------------------------------------------------- what the tutorial prints
# Section 1: nn.Linear(5, 2), x = randn(8, 5), y = linear(x), y.backward(ones(8, 2)).
W = [[-0.3933, 0.3731, 0.1929, -0.3506, 0.4152],
     [-0.2833, -0.2681, -0.0346, 0.2800, -0.2322]]
B = [0.4141, 0.2196]
Y = [[1.0078, -0.4197], [1.7015, -0.4344], [-0.1489, 0.5115], [0.0158, -0.3754],
     [2.0604, -0.3813], [0.0680, 0.7753], [1.1815, -0.1078], [1.5967, 0.0897]]
XSUM = [-0.6444, 3.9640, 3.1489, -1.0274, 3.5395]  # = each row of weight.grad; bias.grad = 8 8
# Section 2: x1 = randn(2, 5), x2 = randn(3, 5), loss = (1 - y1).sum() + 2*(1 - y2).sum().
Y1 = [[1.3945, 0.9929], [0.3436, -0.1620]]
Y2 = [[-0.1487, 0.1283], [1.3610, 0.0088], [-0.3215, 0.2808]]
LOSS = 10.8135
G2 = [-0.0289, -1.5594, -0.9259, -0.7791, 0.6483]  # weight.grad rows = -(x1.sum(0) + 2*x2.sum(0)); bias -8
# Section 3: zero_grad, x = randn(8, 5), y.backward(ones(8, 2)), clip_grad_norm(params, 3).
NORMS = [8.7584, 11.3137]
TOTAL = 14.30769861897899  # printed in full: the old clip_grad_norm returned a Python float
TOTAL_FROM_PRINTED = 14.307668512025291  # (8.7584**2 + 11.3137**2)**0.5
CLIPPED = [1.8364, 2.3722]
CLIPPED_TOTAL_FROM_PRINTED = 2.999949632910526  # (1.8364**2 + 2.3722**2)**0.5
MAX_NORM = 3
# Section 4: linear = nn.Linear(4, 4), y0 = randn(10, 4); y1 = linear(y0), y1.detach_(), y2 = linear(y1).
Y1SUM = [0.7047, -1.9666, 4.8305, -0.1647]  # weight.grad rows after y2.backward(ones); bias 10s
BIAS4 = [4.5625, 4.7037, 14.1218, 5.4621]  # bias.grad without the detach = 10 + 10*weight.sum(0)
BOUND4 = 1 / math.sqrt(4)  # nn.Linear(4, 4) draws weight and bias from U(-1/2, 1/2)

# A norm the fixture reads off a gradient without clipping it: clip_grad_norm_ with a max_norm
# this large scales the gradient by clamp(max_norm / (norm + 1e-6), max=1) = 1 exactly.
NO_CLIP = 1_000_000


def t64(a):
    return torch.tensor(a, dtype=torch.float64)


# ---------------------------------------------------------------- least squares

class Unknowns:
    """Named blocks of one unknown vector."""

    def __init__(self, **shapes):
        self.shapes = shapes
        self.sizes = [math.prod(s) for s in shapes.values()]

    def pack(self, **values):
        return np.concatenate([np.asarray(values[k], dtype=np.float64).reshape(-1) for k in self.shapes])

    def unpack(self, z):
        out, at = {}, 0
        for (k, shape), n in zip(self.shapes.items(), self.sizes):
            out[k] = z[at:at + n].reshape(shape)
            at += n
        return out


def gauss_newton(residual, z0, weights, lo=-np.inf, hi=np.inf, steps=50):
    """Minimise ||weights * residual(z)|| from z0; each step is lstsq's minimum-norm solution of
    the linearised problem, so z stays near z0 along directions the equations leave free.
    Entries that leave [lo, hi] are pinned to the bound and the others refit."""
    z = np.array(z0, dtype=np.float64)
    lo, hi = np.broadcast_to(lo, z.shape), np.broadcast_to(hi, z.shape)
    free = np.ones(z.shape, dtype=bool)

    def weighted(zt):
        return residual(zt) * torch.as_tensor(weights, dtype=torch.float64)

    for _ in range(steps):
        zt = torch.tensor(z)
        r = weighted(zt).numpy()
        jac = torch.autograd.functional.jacobian(weighted, zt).numpy()
        step = np.zeros_like(z)
        step[free] = np.linalg.lstsq(jac[:, free], -r, rcond=None)[0]
        z += step
        out = free & ((z < lo) | (z > hi))
        if out.any():
            z[out] = np.clip(z[out], lo[out], hi[out])
            free &= ~out
        elif np.abs(step).max() < 1e-14:
            break
    return z


def to_float32(a):
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------- the reconstructions

def reconstruct():
    rng = np.random.RandomState(SEED)
    ref = {  # the draws the tutorial made, in its order, shaped alike
        "x": rng.standard_normal((8, 5)), "x1": rng.standard_normal((2, 5)),
        "x2": rng.standard_normal((3, 5)), "x3": rng.standard_normal((8, 5)),
        "x4": rng.standard_normal((8, 5)),
        "W4": rng.uniform(-BOUND4, BOUND4, (4, 4)), "b4": rng.uniform(-BOUND4, BOUND4, 4),
        "y0": rng.standard_normal((10, 4)),
    }
    found = {}

    # Sections 1 and 2 share the layer: weight and bias are unknowns too, tied to their printed
    # (rounded) values by equations like every other printed number. Holding them at the printed
    # values exactly would leave the loss 1.4e-4 off: section 2's equations sum 8 rounded biases.
    u12 = Unknowns(W=(2, 5), b=(2,), x=(8, 5), x1=(2, 5), x2=(3, 5))

    def res12(z):
        v = u12.unpack(z)
        Wt, bt = v["W"], v["b"]
        y, y1, y2 = F.linear(v["x"], Wt, bt), F.linear(v["x1"], Wt, bt), F.linear(v["x2"], Wt, bt)
        loss = (1 - y1).sum() + 2 * (1 - y2).sum()
        return torch.cat([
            (Wt - t64(W)).reshape(-1), bt - t64(B),  # printed weight and bias
            (y - t64(Y)).reshape(-1), v["x"].sum(0) - t64(XSUM),  # section 1
            (y1 - t64(Y1)).reshape(-1), (y2 - t64(Y2)).reshape(-1), (loss - LOSS).reshape(1),
            -(v["x1"].sum(0) + 2 * v["x2"].sum(0)) - t64(G2),  # section 2
        ])

    z0 = u12.pack(W=W, b=B, x=ref["x"], x1=ref["x1"], x2=ref["x2"])
    n_eq = len(res12(torch.tensor(z0)))
    found.update(u12.unpack(gauss_newton(res12, z0, np.ones(n_eq))))

    # Section 3: only the norms of x.sum(0) reach the printed numbers. weight.grad = [s; s] and
    # bias.grad = [8, 8], so norm(weight.grad) = sqrt(2)*|s|, total = sqrt(2|s|^2 + 128). The
    # total is printed to 16 digits, so it has the weight of 1e4 equations of 4 decimals.
    def res3(x3):
        nw = math.sqrt(2) * torch.linalg.vector_norm(x3.reshape(8, 5).sum(0))
        nb = torch.tensor(math.sqrt(128.0), dtype=torch.float64)
        total = torch.sqrt(nw**2 + nb**2)
        coef = MAX_NORM / (total + 1e-6)
        return torch.stack([nw - NORMS[0], nb - NORMS[1], total - TOTAL,
                            nw * coef - CLIPPED[0], nb * coef - CLIPPED[1]])

    found["x3"] = gauss_newton(res3, ref["x3"].reshape(-1), np.array([1, 1, 1e4, 1, 1])).reshape(8, 5)
    found["x4"] = ref["x4"]  # section 4's first x reaches no printed number

    # Section 4: a fresh nn.Linear(4, 4) and y0. Printed: y1.sum(0) (twice, also as weight.grad
    # rows) and the undetached bias.grad = 10 + 10*W.sum(0) (twice). W and b stay within the
    # nn.Linear init range [-1/2, 1/2].
    u4 = Unknowns(W4=(4, 4), b4=(4,), y0=(10, 4))

    def res4(z):
        v = u4.unpack(z)
        y1 = F.linear(v["y0"], v["W4"], v["b4"])
        return torch.cat([y1.sum(0) - t64(Y1SUM), 10 + 10 * v["W4"].sum(0) - t64(BIAS4)])

    bound = u4.pack(W4=np.full((4, 4), BOUND4), b4=np.full(4, BOUND4), y0=np.full((10, 4), np.inf))
    z4 = gauss_newton(res4, u4.pack(W4=ref["W4"], b4=ref["b4"], y0=ref["y0"]), np.ones(8), -bound, bound)
    found.update(u4.unpack(z4))
    return {k: to_float32(v) for k, v in found.items()}


# ---------------------------------------------------------------- the fixtures

def lit(a, requires_grad=False):
    """An input: float32 values, in the shortest text that reads back to them."""
    a = np.asarray(a, dtype=np.float64)
    out = {"shape": list(a.shape), "data": [tf.encode_number(v, DTYPE) for v in a.reshape(-1)]}
    if requires_grad:
        out["requires_grad"] = True
    return out


def printed(a):
    """An expected value: the numbers as the tutorial prints them, verbatim."""
    shape = list(np.shape(a))
    flat = np.reshape(np.asarray(a, dtype=object), -1).tolist()
    return {"shape": shape, "fill": flat[0]} if flat and all(v == 0 for v in flat) else {
        "shape": shape, "data": flat}


def let(name, op, *args, **attrs):
    st = {"let": name, "op": op, "args": list(args)}
    if attrs:
        st["attrs"] = attrs
    return st


def value(of, a, **tol):
    return {"expect": "value", "of": of, **printed(a), **tol}


def grad(of, a):
    return {"expect": "grad", "of": of, "grad": None} if a is None else {"expect": "grad", "of": of, **printed(a)}


def is_(kind, of, v):
    return {"expect": kind, "of": of, "is": v}


def ones(*shape):
    return {"shape": list(shape), "fill": 1}


def section1_prelude():
    """Section 1's forward and backward: the gradients later sections find before zero_grad."""
    return [let("y_s1", "linear", "x_s1", "weight", "bias"), {"backward": "y_s1", "grad": ones(8, 2)}]


def fixtures(v):
    layer = {"weight": lit(v["W"], True), "bias": lit(v["b"], True)}
    rows = lambda r, n: [r] * n  # noqa: E731  (every row of a weight gradient is the same)
    how_layer = ("weight and bias are the printed values moved within their rounding by the least "
                 "squares fit of sections 1 and 2 together")
    yield "1-simple-example", (
        "Section 1: nn.Linear(5, 2) on a batch of 8, y.backward(ones(8, 2)); each weight.grad row "
        "equals x.sum(0) and bias.grad is 8. Every number printed is an expect: weight and bias "
        "(printed twice), the None gradients, y, the gradients (printed twice) and x.sum(0). "
        f"The tutorial does not print x: {how_layer}, x with them (x Wᵀ + b = printed y, "
        "x.sum(0) = printed gradient row), starting from a seeded randn(8, 5).",
        {"x": lit(v["x"]), **layer},
        [value("weight", W), value("bias", B),
         grad("weight", None), grad("bias", None),
         let("y", "linear", "x", "weight", "bias"),
         value("y", Y), is_("requires_grad", "y", True), is_("grad_fn", "y", "AddmmBackward0"),
         {"backward": "y", "grad": ones(8, 2)},
         value("weight", W), value("bias", B),
         grad("weight", rows(XSUM, 2)), grad("bias", [8, 8]),
         let("xs", "sum", "x", dim=0), value("xs", XSUM),
         grad("weight", rows(XSUM, 2))])

    yield "2-two-batches", (
        "Section 2: the same layer on x1 (2x5) and x2 (3x5), loss = (1 - y1).sum() + 2*(1 - y2).sum(); "
        "zero_grad leaves zeros (the gradients of section 1, replayed first, exist), and then "
        "weight.grad rows = -(x1.sum(0) + 2*x2.sum(0)) and bias.grad = -8. Every number printed is "
        f"an expect. The tutorial does not print x1 and x2: {how_layer}, x1 and x2 with them "
        "(y1, y2, the loss and the weight gradient jointly), starting from seeded randn draws.",
        {"x_s1": lit(v["x"]), "x1": lit(v["x1"]), "x2": lit(v["x2"]), **layer},
        section1_prelude() + [
            let("y1", "linear", "x1", "weight", "bias"), let("y2", "linear", "x2", "weight", "bias"),
            value("y1", Y1), value("y2", Y2),
            let("r1", "sub", 1, "y1"), let("l1", "sum", "r1"),
            let("r2", "sub", 1, "y2"), let("s2", "sum", "r2"), let("l2", "mul", 2, "s2"),
            let("loss", "add", "l1", "l2"), value("loss", LOSS),
            {"zero_grad": ["weight", "bias"]},
            grad("weight", rows([0] * 5, 2)), grad("bias", [0, 0]),
            {"backward": "loss"},
            grad("weight", rows(G2, 2)), grad("bias", [-8, -8]),
            let("xs1", "sum", "x1", dim=0), let("xs2", "sum", "x2", dim=0),
            let("xs2x2", "mul", 2, "xs2"), let("xsum", "add", "xs1", "xs2x2"),
            let("neg_xsum", "mul", -1, "xsum"), value("neg_xsum", G2),
            grad("weight", rows(G2, 2))])

    norm_of = lambda name, *params, **kw: let(name, "clip_grad_norm_", *params, max_norm=NO_CLIP, **kw)  # noqa: E731
    yield "3-clip-grad-norm", (
        "Section 3: zero_grad, a new x (8x5), y.backward(ones(8, 2)), then clip_grad_norm_(params, 3), "
        "which returns the total norm before clipping (printed in full: 14.30769861897899) and scales "
        "both gradients to a total norm of 3. Each p.grad.norm() is read with clip_grad_norm_(p, "
        f"max_norm={NO_CLIP:g}), which leaves the gradient as it is (its factor clamps to 1). The "
        "tutorial's own checks are programs too: (n_w^2 + n_b^2)^0.5 of the returned norms should "
        "give the total before clipping and 3 after, and of the printed 4-decimal norms it printed "
        "14.307668512025291 and 2.999949632910526. The tutorial does not print x; only |x.sum(0)| "
        "reaches the printed numbers (weight.grad = [s; s], bias.grad = [8, 8]), so x is a seeded "
        "randn(8, 5) moved the least (the same shift for every row) to give sqrt(2)|x.sum(0)| = "
        "sqrt(total^2 - 128). The section starts from section 1's state, replayed first. The total "
        "has a tighter atol: it is printed to 16 digits, and torch's float32 total is within 1e-6.",
        {"x_s1": lit(v["x"]), "x": lit(v["x3"]), **layer,
         "printed_norms": lit(NORMS), "printed_clipped": lit(CLIPPED)},
        section1_prelude() + [
            {"zero_grad": ["weight", "bias"]},
            let("y", "linear", "x", "weight", "bias"),
            {"backward": "y", "grad": ones(8, 2)},
            grad("bias", [8, 8]),
            norm_of("norm_w", "weight"), value("norm_w", NORMS[0]),
            norm_of("norm_b", "bias"), value("norm_b", NORMS[1]),
            let("total", "clip_grad_norm_", "weight", "bias", max_norm=MAX_NORM),
            value("total", TOTAL, atol=1e-5, rtol=0),
            let("norm_w2", "pow", "norm_w", 2), let("norm_b2", "pow", "norm_b", 2),
            let("norm_sq", "add", "norm_w2", "norm_b2"), let("total_again", "pow", "norm_sq", 0.5),
            value("total_again", TOTAL),
            let("printed_sq", "pow", "printed_norms", 2), let("printed_sum", "sum", "printed_sq"),
            let("printed_total", "pow", "printed_sum", 0.5), value("printed_total", TOTAL_FROM_PRINTED),
            norm_of("clipped_w", "weight"), value("clipped_w", CLIPPED[0]),
            norm_of("clipped_b", "bias"), value("clipped_b", CLIPPED[1]),
            let("clipped_w2", "pow", "clipped_w", 2), let("clipped_b2", "pow", "clipped_b", 2),
            let("clipped_sq", "add", "clipped_w2", "clipped_b2"),
            let("clipped_total", "pow", "clipped_sq", 0.5), value("clipped_total", MAX_NORM),
            let("printed_csq", "pow", "printed_clipped", 2), let("printed_csum", "sum", "printed_csq"),
            let("printed_ctotal", "pow", "printed_csum", 0.5),
            value("printed_ctotal", CLIPPED_TOTAL_FROM_PRINTED)])

    yield "4-detach", (
        "Section 4: requires_grad and grad_fn of y = linear(x) before and after detach() and "
        "detach_() (the tutorial's Variable(y.data) is detach() here; its AddmmBackward is 1.13's "
        "AddmmBackward0). Then a fresh nn.Linear(4, 4) (W, b) twice in a row on y0 (10x4): with "
        "y1.detach_() between, y2.backward(ones(10, 4)) gives weight.grad rows = y1.sum(0) and "
        "bias.grad = 10; without it, bias.grad = 10 + 10*W.sum(0). Every number printed is an "
        "expect. The tutorial prints neither W, b nor y0: they are seeded draws (U(-1/2, 1/2) as "
        "nn.Linear(4, 4), randn) moved by least squares to fit W.sum(0) from the bias gradient "
        "and y1.sum(0) = y0.sum(0) Wᵀ + 10 b, W and b kept within [-1/2, 1/2]. The x of the "
        "first part reaches no printed number: a seeded randn(8, 5). The layer of the first part "
        f"is section 1's ({how_layer}).",
        {**layer, "x": lit(v["x4"]), "W": lit(v["W4"], True), "b": lit(v["b4"], True), "y0": lit(v["y0"])},
        [{"zero_grad": ["weight", "bias"]},
         let("y", "linear", "x", "weight", "bias"),
         is_("requires_grad", "y", True), is_("grad_fn", "y", "AddmmBackward0"),
         let("y_new", "detach", "y"),
         is_("requires_grad", "y_new", False), is_("grad_fn", "y_new", None),
         let("y_detached", "detach", "y"),
         is_("requires_grad", "y_detached", False), is_("grad_fn", "y_detached", None),
         is_("requires_grad", "y", True), is_("grad_fn", "y", "AddmmBackward0"),
         {"detach_": "y"},
         is_("requires_grad", "y", False), is_("grad_fn", "y", None),
         let("y1", "linear", "y0", "W", "b"), {"detach_": "y1"}, let("y2", "linear", "y1", "W", "b"),
         grad("W", None), grad("b", None),
         {"backward": "y2", "grad": ones(10, 4)},
         grad("W", rows(Y1SUM, 4)), grad("b", [10] * 4),
         let("y1_sum", "sum", "y1", dim=0), value("y1_sum", Y1SUM),
         # Not detaching y1 (the tutorial's order: forward, zero_grad, backward).
         let("y1b", "linear", "y0", "W", "b"), let("y2b", "linear", "y1b", "W", "b"),
         {"zero_grad": ["W", "b"]},
         {"backward": "y2b", "grad": ones(10, 4)},
         grad("b", BIAS4),
         let("w_sum", "sum", "W", dim=0), let("w_sum10", "mul", "w_sum", 10),
         let("bias_again", "add", 10, "w_sum10"), value("bias_again", BIAS4)])


def main():
    values = reconstruct()
    OUT.mkdir(parents=True, exist_ok=True)
    status = 0
    for stem, (description, tensors, program) in fixtures(values):
        doc = {"format": tf.FORMAT, "name": f"tutorial/{stem}", "dtype": DTYPE, "tensors": tensors,
               "program": program, "source": SOURCE, "tolerance": TOLERANCE}
        outcome = tf.execute(tf.parse_fixture(doc))
        errs = [(c.max_abs_err, c.index, c.what) for c in outcome.checks if c.max_abs_err is not None]
        worst = max(errs)
        doc["description"] = (description + f" Largest difference between torch {torch.__version__} "
                              f"on these inputs and a printed number: {worst[0]:.1e}.")
        (OUT / f"{stem}.json").write_text(tf.dumps_fixture(doc), encoding="utf-8")
        fails = outcome.failures
        status |= bool(fails)
        print(f"{'FAIL' if fails else 'ok  '} {OUT.name}/{stem}.json: {len(errs)} numeric expects, "
              f"max |torch - printed| {worst[0]:.2e} at program[{worst[1]}] ({worst[2]})")
        for c in fails:
            print(f"    program[{c.index}] ({c.what}): {c.message}")
    return status


if __name__ == "__main__":
    sys.exit(main())
