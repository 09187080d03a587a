#!/usr/bin/python3
"""Writes corpus/nonfinite/: every registered op on NaN, ±Inf, ±0 inputs and upstreams,
with the values, grad_fns and grads that PyTorch 1.13 computes (recorded by torch_fixture.py).

    /usr/bin/python3 tools/nonfinite_fixtures.py [OUT_DIR]      # default corpus/nonfinite

The engine must reproduce every one (tests/fixtures/nonfinite_fixtures_test.cpp replays them;
NaN matches NaN only, an infinity only itself). Rerun after changing a case; the output is
deterministic.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import torch_fixture as tf  # noqa: E402

NAN, INF, NINF = "nan", "inf", "-inf"
# Elementwise specials, and the same length of ordinary values for the second operand.
SPECIAL = [NAN, INF, NINF, 0.0, -0.0, 1.0, -1.0, 2.5]
ORDINARY = [0.5, -1.5, 2.0, 3.0, -0.25, 1.0, 0.0, -2.0]
# float32's specials: subnormals (±1e-40), the smallest normal, the largest finite.
F32_SPECIAL = [NAN, INF, NINF, 0.0, -0.0, 1e-40, -1e-40, 1.1754943508222875e-38, 3.4028234663852886e38,
               1.0, -1.0, 4.0]
F32_LENGTHS = [1, 4, 5, 17]


def lit(data, shape=None, rg=False):
    d = {"shape": shape if shape is not None else [len(data)], "data": data}
    if rg:
        d["requires_grad"] = True
    return d


def fixture(name, tensors, program, dtype="float64", description=""):
    return {
        "format": tf.FORMAT,
        "name": "nonfinite/" + name,
        "description": description or "NaN/Inf propagation as PyTorch 1.13; expects recorded by torch",
        "dtype": dtype,
        "tensors": tensors,
        "program": program,
    }


def op(let, name, args, attrs=None):
    s = {"let": let, "op": name, "args": args}
    if attrs:
        s["attrs"] = attrs
    return s


def back(of, grad):
    return {"backward": of, "grad": grad}


def ones(shape):
    return {"shape": shape, "fill": 1}


def cases():
    out = []
    n = len(SPECIAL)
    # Unary elementwise ops: non-finite inputs with a ones upstream, and finite inputs with a
    # non-finite upstream (where backward multiplies by 0, torch may or may not keep the NaN).
    for name in ["neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs"]:
        out.append(fixture(f"{name}-inputs", {"x": lit(SPECIAL, rg=True)},
                           [op("y", name, ["x"]), back("y", ones([n]))]))
        out.append(fixture(f"{name}-upstream", {"x": lit(ORDINARY, rg=True)},
                           [op("y", name, ["x"]), back("y", lit(SPECIAL))]))
    # log1p and the activations, with default attrs and with others.
    for name, tag, attrs in [("log1p", "", None), ("expm1", "", None), ("atan", "", None), ("erf", "", None),
                             ("silu", "", None), ("gelu", "", None), ("gelu", "-tanh", {"approximate": "tanh"}),
                             ("softplus", "", None), ("softplus", "-beta2-threshold1", {"beta": 2.0, "threshold": 1.0}),
                             ("leaky_relu", "", None), ("leaky_relu", "-slope0_2", {"negative_slope": 0.2}),
                             ("elu", "", None), ("elu", "-alpha2", {"alpha": 2.0})]:
        out.append(fixture(f"{name}{tag}-inputs", {"x": lit(SPECIAL, rg=True)},
                           [op("y", name, ["x"], attrs), back("y", ones([n]))]))
        out.append(fixture(f"{name}{tag}-upstream", {"x": lit(ORDINARY, rg=True)},
                           [op("y", name, ["x"], attrs), back("y", lit(SPECIAL))]))
    # Binary ops: every pair of specials (an 8x8 broadcast grid), a number operand on either
    # side, and a non-finite upstream.
    for name in ["add", "sub", "mul", "div", "pow"]:
        out.append(fixture(f"{name}-grid", {"a": lit(SPECIAL, [n, 1], rg=True), "b": lit(SPECIAL, [1, n], rg=True)},
                           [op("y", name, ["a", "b"]), back("y", ones([n, n]))]))
        for number in [0.0, 2.0]:
            out.append(fixture(f"{name}-tensor-number-{int(number)}", {"a": lit(SPECIAL, rg=True)},
                               [op("y", name, ["a", number]), back("y", ones([n]))]))
            out.append(fixture(f"{name}-number-{int(number)}-tensor", {"b": lit(SPECIAL, rg=True)},
                               [op("y", name, [number, "b"]), back("y", ones([n]))]))
        out.append(fixture(f"{name}-upstream", {"a": lit(ORDINARY, rg=True), "b": lit(list(reversed(ORDINARY)), rg=True)},
                           [op("y", name, ["a", "b"]), back("y", lit(SPECIAL))]))
    # pow's corners: 0^0, 0^negative, negative^fraction, inf^0, nan^0, 1^nan, 1^inf.
    out.append(fixture("pow-corners",
                       {"a": lit([0.0, 0.0, 0.0, -1.0, INF, NAN, 1.0, 1.0, -0.0, 0.0], rg=True),
                        "b": lit([0.0, -1.0, 2.0, 0.5, 0.0, 0.0, NAN, INF, 0.0, 0.5], rg=True)},
                       [op("y", "pow", ["a", "b"]), back("y", ones([10]))]))
    # Linear algebra: inf·0 inside a dot product, NaN rows.
    mat_a = lit([INF, 0.0, 1.0, NAN, 2.0, -1.0], [2, 3], rg=True)
    mat_b = lit([0.0, 1.0, 1.0, NINF, 2.0, 3.0], [3, 2], rg=True)
    out.append(fixture("matmul", {"a": mat_a, "b": mat_b}, [op("y", "matmul", ["a", "b"]), back("y", ones([2, 2]))]))
    out.append(fixture("matmul-vector", {"a": lit([INF, 0.0, 1.0], rg=True), "b": lit([0.0, 2.0, NAN], rg=True)},
                       [op("y", "matmul", ["a", "b"]), back("y", None)]))
    out.append(fixture("matmul-upstream", {"a": lit([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3], rg=True),
                                           "b": lit([0.5, 1.0, -1.0, 0.0, 2.0, 3.0], [3, 2], rg=True)},
                       [op("y", "matmul", ["a", "b"]), back("y", lit([NAN, INF, 0.0, 1.0], [2, 2]))]))
    out.append(fixture("linear", {"x": mat_a, "w": lit([1.0, INF, 0.0, 0.0, 1.0, NAN], [2, 3], rg=True),
                                  "b": lit([NINF, 1.0], rg=True)},
                       [op("y", "linear", ["x", "w", "b"]), back("y", ones([2, 2]))]))
    out.append(fixture("t-transpose-reshape", {"x": lit(SPECIAL, [2, 4], rg=True)},
                       [op("t", "t", ["x"]), op("u", "transpose", ["t"], {"dim0": 0, "dim1": 1}),
                        op("y", "reshape", ["u"], {"shape": [4, 2]}), back("y", lit(list(reversed(SPECIAL)), [4, 2]))]))
    # Reductions.
    for name in ["sum", "mean"]:
        out.append(fixture(f"{name}-all", {"x": lit(SPECIAL, [2, 4], rg=True)}, [op("y", name, ["x"]), back("y", None)]))
        out.append(fixture(f"{name}-dim", {"x": lit(SPECIAL, [2, 4], rg=True)},
                           [op("y", name, ["x"], {"dim": 1}), back("y", lit([NAN, 1.0]))]))
        out.append(fixture(f"{name}-inf-minus-inf", {"x": lit([INF, NINF, 1.0], rg=True)},
                           [op("y", name, ["x"]), back("y", None)]))
        out.append(fixture(f"{name}-empty", {"x": lit([], [0, 3], rg=True)},
                           [op("y", name, ["x"]), back("y", None)]))
    for p in [2, 1, 3, 0.5, 0, INF, NINF]:
        tag = {INF: "inf", NINF: "minus-inf"}.get(p, str(p).replace(".", "_"))
        for case, data in [("nan", [1.0, NAN, -2.0]), ("inf", [1.0, NINF, INF, -2.0]), ("zeros", [0.0, -0.0, 0.0]),
                           ("ties", [3.0, -3.0, 1.0])]:
            attrs = {} if p == 2 else {"p": p}
            out.append(fixture(f"norm-p{tag}-{case}", {"x": lit(data, rg=True)},
                               [op("y", "norm", ["x"], attrs), back("y", None)]))
        out.append(fixture(f"norm-p{tag}-upstream-inf", {"x": lit([3.0, -4.0, 0.0], rg=True)},
                           [op("y", "norm", ["x"], {"p": p}), back("y", {"shape": [], "data": [INF]})]))
    for name in ["softmax", "log_softmax"]:
        rows = [INF, 1.0, 2.0, 0.0,
                NINF, 1.0, 2.0, 0.0,
                NINF, NINF, NINF, NINF,
                NAN, 1.0, 2.0, 0.0,
                INF, INF, 0.0, 1.0,
                1.0, 2.0, 3.0, 4.0]
        out.append(fixture(f"{name}-rows", {"x": lit(rows, [6, 4], rg=True)},
                           [op("y", name, ["x"], {"dim": 1}), back("y", lit([(i % 4) - 1.5 for i in range(24)], [6, 4]))]))
        out.append(fixture(f"{name}-upstream", {"x": lit([1.0, 2.0, 3.0, -1.0], [1, 4], rg=True)},
                           [op("y", name, ["x"], {"dim": -1}), back("y", lit([NAN, 0.0, INF, 1.0], [1, 4]))]))
    out.append(fixture("cat", {"a": lit([NAN, INF], rg=True), "b": lit([NINF, 0.0, 1.0], rg=True)},
                       [op("y", "cat", ["a", "b"]), back("y", lit([1.0, NAN, INF, 2.0, 0.0]))]))
    for red in ["mean", "sum", "none"]:
        g = None if red != "none" else ones([n])
        out.append(fixture(f"mse_loss-{red}", {"x": lit(SPECIAL, rg=True), "t": lit(list(reversed(SPECIAL)), rg=True)},
                           [op("y", "mse_loss", ["x", "t"], {"reduction": red}), back("y", g)]))
    out.append(fixture("detach", {"x": lit(SPECIAL, rg=True)},
                       [op("d", "detach", ["x"]), op("y", "mul", ["x", "d"]), back("y", ones([n]))]))
    # clip_grad_norm_: non-finite grads raise with error_if_nonfinite (torch's message), and
    # otherwise are scaled by the non-finite coefficient as torch does.
    for tag, grad in [("nan", [1.0, NAN, 2.0]), ("inf", [1.0, INF, 2.0]), ("minus-inf", [NINF, 0.0, 1.0])]:
        for p in [2.0, INF, 1.0]:
            ptag = "inf" if p == INF else str(int(p))
            base = [op("y", "mul", ["w", "c"]), back("y", lit(grad))]
            out.append(fixture(f"clip_grad_norm-{tag}-p{ptag}", {"w": lit([1.0, 1.0, 1.0], rg=True),
                                                                  "v": lit([3.0, 4.0], rg=True),
                                                                  "c": lit([1.0, 1.0, 1.0])},
                               base + [op("z", "mul", ["v", 2.0]), back("z", ones([2])),
                                       op("n", "clip_grad_norm_", ["w", "v"], {"max_norm": 1.0, "norm_type": p})]))
            msg = ("The total norm of order " + ("inf" if p == INF else f"{p}") +
                   " for gradients from `parameters` is non-finite, so it cannot be clipped")
            raising = dict(op("n", "clip_grad_norm_", ["w"], {"max_norm": 1.0, "norm_type": p, "error_if_nonfinite": True}))
            raising["raises"] = msg
            out.append(fixture(f"clip_grad_norm-{tag}-p{ptag}-error", {"w": lit([1.0, 1.0, 1.0], rg=True),
                                                                        "c": lit([1.0, 1.0, 1.0])},
                               base + [raising]))
    out.append(fixture("clip_grad_value", {"w": lit([1.0] * n, rg=True), "c": lit([1.0] * n)},
                       [op("y", "mul", ["w", "c"]), back("y", lit(SPECIAL)),
                        {"op": "clip_grad_value_", "args": ["w"], "attrs": {"clip_value": 1.0}}]))
    # Scans and reductions with backwards of their own (ops_scan.cpp): rows of specials along a
    # dim, over all, and one-element var/std (NaN), with non-finite upstreams too.
    rows = [NAN, 1.0, 2.0, INF, 1.0, 2.0, NINF, 1.0, 2.0, INF, NINF, 0.0, 0.0, -0.0, 3.0, INF, INF, 1.0]
    up6 = [1.0, NAN, INF, 0.0, -1.0, 2.0]
    for name, attrs in [("cumsum", {"dim": 1}), ("logsumexp", {"dim": 1}), ("var", {"dim": 1}), ("std", {"dim": 1}),
                        ("prod", {"dim": 1})]:
        out.append(fixture(f"{name}-rows", {"x": lit(rows, [6, 3], rg=True)},
                           [op("y", name, ["x"], attrs), back("y", None if name != "cumsum" else ones([6, 3]))]))
        if name != "cumsum":
            out[-1]["program"][-1]["grad"] = ones([6])
            out.append(fixture(f"{name}-upstream", {"x": lit([1.0, 2.0, 4.0, 0.0, -1.0, 3.0, 2.0, 0.5, 1.5, -2.0, 1.0, 0.0,
                                                              0.0, 0.0, 3.0, 1.0, 1.0, 1.0], [6, 3], rg=True)},
                               [op("y", name, ["x"], attrs), back("y", lit(up6))]))
    out.append(fixture("logsumexp-all-minus-inf", {"x": lit([NINF, NINF, NINF, NINF], [2, 2], rg=True)},
                       [op("y", "logsumexp", ["x"], {"dim": [0, 1]}), back("y", None)]))
    out.append(fixture("logsumexp-empty", {"x": lit([], [2, 0], rg=True)},
                       [op("y", "logsumexp", ["x"], {"dim": 1}), back("y", ones([2]))]))
    for name in ["var", "std"]:
        out.append(fixture(f"{name}-one-element-0d", {"x": lit([3.0], [], rg=True)},
                           [op("y", name, ["x"]), back("y", None)]))
        out.append(fixture(f"{name}-one-element-dim", {"x": lit([3.0, 4.0], [1, 2], rg=True)},
                           [op("y", name, ["x"], {"dim": 0}), back("y", ones([2]))]))
        out.append(fixture(f"{name}-zero-variance", {"x": lit([3.0, 3.0, 3.0], rg=True)},
                           [op("y", name, ["x"]), back("y", None)]))
        out.append(fixture(f"{name}-empty", {"x": lit([], [2, 0], rg=True)},
                           [op("y", name, ["x"], {"dim": 1}), back("y", ones([2]))]))
        out.append(fixture(f"{name}-all-specials", {"x": lit(SPECIAL, rg=True)}, [op("y", name, ["x"]), back("y", None)]))
    out.append(fixture("prod-all-specials", {"x": lit(SPECIAL, rg=True)}, [op("y", "prod", ["x"]), back("y", None)]))
    out.append(fixture("prod-inf-times-zero", {"x": lit([INF, 0.0, 2.0], rg=True)}, [op("y", "prod", ["x"]), back("y", None)]))
    # Kinks and ties: clamp at NaN/±Inf/±0 and NaN bounds; maximum/minimum over every pair of
    # specials (ties of ±0 and of infinities on the diagonal); max/min/amax/amin over NaNs and
    # tied infinities, with non-finite upstreams (where a masked-off element's gradient is 0).
    for tag, attrs in [("both", {"min": -1.0, "max": 1.0}), ("min0", {"min": 0.0}), ("max-0", {"max": -0.0}),
                       ("min-inf", {"min": NINF}), ("nan-bound", {"min": NAN, "max": 1.0}),
                       ("min-above-max", {"min": 1.0, "max": -1.0})]:
        out.append(fixture(f"clamp-{tag}-inputs", {"x": lit(SPECIAL, rg=True)},
                           [op("y", "clamp", ["x"], attrs), back("y", ones([n]))]))
    out.append(fixture("clamp-upstream", {"x": lit(ORDINARY, rg=True)},
                       [op("y", "clamp", ["x"], {"min": -1.0, "max": 1.0}), back("y", lit(SPECIAL))]))
    for name in ["maximum", "minimum"]:
        out.append(fixture(f"{name}-grid", {"a": lit(SPECIAL, [n, 1], rg=True), "b": lit(SPECIAL, [1, n], rg=True)},
                           [op("y", name, ["a", "b"]), back("y", ones([n, n]))]))
        out.append(fixture(f"{name}-upstream", {"a": lit(ORDINARY, rg=True), "b": lit(list(reversed(ORDINARY)), rg=True)},
                           [op("y", name, ["a", "b"]), back("y", lit(SPECIAL))]))
    tied_inf = [INF, 1.0, INF, NINF, NINF, 0.0, -0.0, 2.0]
    for name in ["max", "min", "amax", "amin"]:
        for tag, data in [("specials", SPECIAL), ("tied-infinities", tied_inf)]:
            out.append(fixture(f"{name}-{tag}", {"x": lit(data, [2, 4], rg=True)},
                               [op("y", name, ["x"]), back("y", None)]))
            out.append(fixture(f"{name}-{tag}-dim1", {"x": lit(data, [2, 4], rg=True)},
                               [op("y", name, ["x"], {"dim": 1}), back("y", lit([1.0, 2.0]))]))
        out.append(fixture(f"{name}-upstream", {"x": lit([1.0, 3.0, 3.0, -2.0], [2, 2], rg=True)},
                           [op("y", name, ["x"], {"dim": 0}), back("y", lit([NAN, INF]))]))
        out.append(fixture(f"{name}-upstream-all", {"x": lit([1.0, 3.0, 3.0, -2.0], rg=True)},
                           [op("y", name, ["x"]), back("y", {"shape": [], "data": [NINF]})]))
    # float32: overflow to inf inside exp, and the same specials through a small network.
    out.append(fixture("float32-overflow", {"x": lit([100.0, 88.0, 89.0, -104.0, NAN], rg=True)},
                       [op("e", "exp", ["x"]), op("s", "sigmoid", ["x"]), op("y", "add", ["e", "s"]),
                        back("y", ones([5]))], dtype="float32"))
    out.append(fixture("float32-linear-softmax", {"x": lit(SPECIAL, [2, 4], rg=True),
                                                 "w": lit([0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -1.0, 0.25], [2, 4], rg=True)},
                       [op("h", "linear", ["x", "w"]), op("y", "log_softmax", ["h"], {"dim": 1}),
                        back("y", ones([2, 2]))], dtype="float32"))
    # float32 special values at every vector width: one tensor per (value, length), filled
    # with the value, so that each value goes through the scalar loop (length 1), one packet
    # (4), a packet and a tail (5), and two wide packets and a tail (17).
    for name in ["neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "log1p", "expm1",
                 "atan", "erf", "silu", "gelu", "softplus", "leaky_relu", "elu", "rsqrt_free_div"]:
        tensors, program = {}, []
        for k, v in enumerate(F32_SPECIAL):
            if name == "elu" and v == NAN:  # position-dependent in torch: corpus/disagreements/elu-nan-scalar-tail.json
                continue
            for length in F32_LENGTHS:
                x, y = f"x{k}_{length}", f"y{k}_{length}"
                tensors[x] = {"shape": [length], "fill": v, "requires_grad": True}
                if name == "rsqrt_free_div":  # 1/x and x/x: the divisor's gradient -g·((a/b)/b)
                    program += [op(y, "div", [x, x]), back(y, ones([length])),
                                op(y + "r", "div", [1.0, x]), back(y + "r", ones([length]))]
                else:
                    program += [op(y, name, [x]), back(y, ones([length]))]
        out.append(fixture(f"float32-widths-{name.replace('rsqrt_free_', '')}", tensors, program, dtype="float32",
                           description="float32 special values at every vector width, as PyTorch 1.13 (recorded by torch)"))
    n32 = len(F32_SPECIAL)
    out.append(fixture("float32-div-grid-flat", {"a": lit([a for a in F32_SPECIAL for _ in F32_SPECIAL] + [1.0] * 3, rg=True),
                                                 "b": lit([b for _ in F32_SPECIAL for b in F32_SPECIAL] + [0.0, -0.0, 1e-40], rg=True)},
                       [op("y", "div", ["a", "b"]), back("y", ones([n32 * n32 + 3]))], dtype="float32"))
    out.append(fixture("float32-div-grid", {"a": lit(F32_SPECIAL, [n32, 1], rg=True), "b": lit(F32_SPECIAL, [1, n32], rg=True)},
                       [op("y", "div", ["a", "b"]), back("y", ones([n32, n32]))], dtype="float32"))
    # norm's backward at tiny magnitudes, where |x|^(p-1) or the norm itself underflows.
    for dtype in ["float32", "float64"]:
        for p in [3, 2, 1, 0.5, INF]:
            tensors, program = {}, []
            for k, scale in enumerate([1e-10, 1e-13, 1e-15, 1e-20, 1e-30, 1e-38, 1e-40, 1e-110, 1e-160, 1e-300]):
                x, y = f"x{k}", f"y{k}"
                tensors[x] = lit([scale, 2 * scale, -3 * scale, 0.0, 0.5 * scale], rg=True)
                program += [op(y, "norm", [x], {} if p == 2 else {"p": p}), back(y, None)]
            tag = "inf" if p == INF else str(p).replace(".", "_")
            out.append(fixture(f"{dtype}-norm-p{tag}-tiny", tensors, program, dtype=dtype))
    # Selection: non-finite values selected (and not selected), repeated indices summing a
    # non-finite upstream (inf + -inf = nan), where's 0 for the branch not taken.
    idx = {"shape": [4], "dtype": "int64", "data": [7, 0, 7, 2]}
    cond = {"shape": [n], "dtype": "bool", "data": [True, False, True, False, True, False, False, True]}
    out.append(fixture("where-inputs", {"c": cond, "a": lit(SPECIAL, rg=True), "b": lit(list(reversed(SPECIAL)), rg=True)},
                       [op("y", "where", ["c", "a", "b"]), back("y", ones([n]))]))
    out.append(fixture("where-upstream", {"c": cond, "a": lit(ORDINARY, rg=True)},
                       [op("y", "where", ["c", "a", 0.0]), back("y", lit(SPECIAL))]))
    out.append(fixture("index_select-inputs", {"x": lit(SPECIAL, rg=True), "i": idx},
                       [op("y", "index_select", ["x", "i"], {"dim": 0}), back("y", ones([4]))]))
    out.append(fixture("index_select-upstream", {"x": lit(ORDINARY, rg=True), "i": idx},
                       [op("y", "index_select", ["x", "i"], {"dim": 0}), back("y", lit([INF, NINF, NINF, NAN]))]))
    out.append(fixture("gather-inputs", {"x": lit(SPECIAL, [2, 4], rg=True),
                                         "i": {"shape": [2, 3], "dtype": "int64", "data": [3, 3, 0, 1, 2, 1]}},
                       [op("y", "gather", ["x", "i"], {"dim": 1}), back("y", lit([INF, NINF, NAN, 0.0, -0.0, 1.0], [2, 3]))]))
    out.append(fixture("embedding-inputs", {"w": lit(SPECIAL, [4, 2], rg=True),
                                            "i": {"shape": [3], "dtype": "int64", "data": [1, 1, 3]}},
                       [op("y", "embedding", ["i", "w"]), back("y", lit([INF, 0.0, NINF, -0.0, NAN, 1.0], [3, 2]))]))
    # Classification losses: NaN/±Inf logits in the target's class and elsewhere (log_softmax's
    # inf - inf), an ignored row holding a NaN (never read), non-finite upstreams; probabilities.
    logits = lit([NAN, 0.0, 1.0, INF, 0.0, 1.0, NINF, 0.0, 1.0, 0.0, -0.0, 2.5, 1.0, NINF, 0.5], [5, 3], rg=True)
    classes = {"shape": [5], "dtype": "int64", "data": [1, 0, 1, 2, 1]}
    for red in ("none", "mean", "sum"):
        out.append(fixture(f"cross_entropy-inputs-{red}", {"x": logits, "y": classes},
                           [op("l", "cross_entropy", ["x", "y"], {"reduction": red}),
                            back("l", ones([5]) if red == "none" else None)]))
    out.append(fixture("cross_entropy-smoothing", {"x": logits, "y": classes},
                       [op("l", "cross_entropy", ["x", "y"], {"reduction": "none", "label_smoothing": 0.25}),
                        back("l", ones([5]))]))
    out.append(fixture("cross_entropy-upstream", {"x": lit(ORDINARY[:6], [2, 3], rg=True),
                                                  "y": {"shape": [2], "dtype": "int64", "data": [2, 0]}},
                       [op("l", "cross_entropy", ["x", "y"], {"reduction": "none"}), back("l", lit([INF, NAN]))]))
    out.append(fixture("cross_entropy-probabilities", {"x": logits, "p": lit(list(reversed(SPECIAL)) + ORDINARY[:7], [5, 3], rg=True)},
                       [op("l", "cross_entropy", ["x", "p"], {"reduction": "none"}), back("l", ones([5]))]))
    out.append(fixture("nll_loss-inputs", {"x": lit(SPECIAL + [0.5, 1.5, -1.5, 3.0], [4, 3], rg=True),
                                           "y": {"shape": [4], "dtype": "int64", "data": [0, 2, -100, 1]}},
                       [op("l", "nll_loss", ["x", "y"], {"reduction": "none"}), back("l", lit([1.0, NINF, NAN, INF]))]))
    out.append(fixture("nll_loss-mean", {"x": lit(SPECIAL + [0.5, 1.5, -1.5, 3.0], [4, 3], rg=True),
                                         "y": {"shape": [4], "dtype": "int64", "data": [1, 0, -100, 2]}},
                       [op("l", "nll_loss", ["x", "y"]), back("l", None)]))
    # layer_norm: a row holding NaN/±Inf (the whole row's values and grads follow), a row with ±0;
    # a non-finite upstream; non-finite weight and bias. Normalized over the last dim and over both.
    w4, b4 = lit([0.5, -1.5, 2.0, 1.0], rg=True), lit([0.25, 0.0, -1.0, 3.0], rg=True)
    for dtype in ("float64", "float32"):
        pre = "" if dtype == "float64" else "float32-"
        out.append(fixture(f"{pre}layer_norm-inputs", {"x": lit(SPECIAL, [2, 4], rg=True), "w": w4, "b": b4},
                           [op("y", "layer_norm", ["x", "w", "b"], {"normalized_shape": [4]}), back("y", ones([2, 4]))],
                           dtype=dtype))
    out.append(fixture("layer_norm-inputs-2d", {"x": lit([1.0, NAN, 2.0, 3.0, 0.0, -0.0, 0.0, -0.0], [2, 2, 2], rg=True)},
                       [op("y", "layer_norm", ["x"], {"normalized_shape": [2, 2]}), back("y", ones([2, 2, 2]))]))
    out.append(fixture("layer_norm-upstream", {"x": lit(ORDINARY, [2, 4], rg=True), "w": w4},
                       [op("y", "layer_norm", ["x", "w"], {"normalized_shape": [4]}), back("y", lit(SPECIAL, [2, 4]))]))
    out.append(fixture("layer_norm-weight-bias", {"x": lit(ORDINARY, [2, 4], rg=True), "w": lit([INF, NAN, 0.0, -0.0], rg=True),
                                                  "b": lit([INF, NINF, NAN, -0.0], rg=True)},
                       [op("y", "layer_norm", ["x", "w", "b"], {"normalized_shape": [4]}), back("y", ones([2, 4]))]))
    # max_pool2d: windows of NaNs (the last NaN is chosen), all -inf (the first element), +0/-0
    # ties (the first), +inf beside NaN; the same input over overlapping padded windows; and a
    # non-finite upstream, where overlapping windows add inf and -inf at a shared maximum.
    pool_x = [NAN, 1.0, NINF, NINF, -0.0, 0.0,
              2.0, NAN, NINF, NINF, 0.0, -0.0,
              0.0, -0.0, INF, 1.0, INF, INF,
              -0.0, -1.0, INF, NAN, -1.0, NINF]
    for dtype in ("float64", "float32"):
        pre = "" if dtype == "float64" else "float32-"
        out.append(fixture(f"{pre}max_pool2d-inputs", {"x": lit(pool_x, [1, 4, 6], rg=True)},
                           [op("y", "max_pool2d", ["x"], {"kernel_size": 2}), back("y", ones([1, 2, 3]))], dtype=dtype))
        out.append(fixture(f"{pre}max_pool2d-overlap", {"x": lit(pool_x, [1, 1, 4, 6], rg=True)},
                           [op("y", "max_pool2d", ["x"], {"kernel_size": 3, "stride": 1, "padding": 1}),
                            back("y", ones([1, 1, 4, 6]))], dtype=dtype))
    out.append(fixture("max_pool2d-upstream", {"x": lit([0.5, -1.5, 2.0, 3.0, -0.25, 1.0, 0.75, -2.0, 1.25], [1, 3, 3], rg=True)},
                       [op("y", "max_pool2d", ["x"], {"kernel_size": 2, "stride": 1}),
                        back("y", lit([INF, NAN, NINF, -0.0], [1, 2, 2]))]))
    # conv2d: NaN/±Inf/±0 in the input (each reaches every output whose window covers it, padding
    # included: a padded zero times an infinite weight is NaN), in the weight, in the bias, and in
    # the upstream; stride, padding and groups, float64 and float32.
    x9 = lit(SPECIAL + [0.5], [1, 1, 3, 3], rg=True)
    w_ord = lit([0.5, -1.5, 2.0, 1.0, -0.25, 3.0, 1.0, -2.0], [2, 1, 2, 2], rg=True)
    for dtype in ("float64", "float32"):
        pre = "" if dtype == "float64" else "float32-"
        out.append(fixture(f"{pre}conv2d-input", {"x": x9, "w": w_ord, "b": lit([0.25, -1.0], rg=True)},
                           [op("y", "conv2d", ["x", "w", "b"], {"padding": 1}), back("y", ones([1, 2, 4, 4]))],
                           dtype=dtype))
    out.append(fixture("conv2d-weight", {"x": lit(ORDINARY + [1.5], [1, 1, 3, 3], rg=True),
                                         "w": lit([INF, NAN, NINF, -0.0, 0.0, 1.0, -1.0, 2.5], [2, 1, 2, 2], rg=True)},
                       [op("y", "conv2d", ["x", "w"], {"padding": [1, 0], "stride": [2, 1]}), back("y", ones([1, 2, 2, 2]))]))
    out.append(fixture("conv2d-bias", {"x": lit(ORDINARY, [1, 2, 2, 2], rg=True),
                                       "w": lit([0.5, -1.5, 2.0, 1.0, -0.25, 3.0, 1.0, -2.0], [4, 1, 1, 2], rg=True),
                                       "b": lit([INF, NINF, NAN, -0.0], rg=True)},
                       [op("y", "conv2d", ["x", "w", "b"], {"groups": 2}), back("y", ones([1, 4, 2, 1]))]))
    out.append(fixture("conv2d-upstream", {"x": lit(ORDINARY + [1.5], [1, 3, 3], rg=True), "w": w_ord},
                       [op("y", "conv2d", ["x", "w"], {"dilation": 2, "padding": 1}), back("y", lit(SPECIAL + ORDINARY + [1.0, -0.5], [2, 3, 3]))]))
    for f in out:  # backward with an implicit grad: drop the None
        for st in f["program"]:
            if "backward" in st and st.get("grad") is None:
                st.pop("grad", None)
    return out


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "corpus" / "nonfinite"
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    status = 0
    for doc in cases():
        file = out_dir / (doc["name"].split("/", 1)[1] + ".json")
        try:
            tf.parse_fixture(json.loads(json.dumps(doc)), str(file))
            recorded = tf.record_doc(doc, str(file))
        except (tf.FixtureError, tf.RecordError) as e:
            print(f"FAIL {file}: {e}", file=sys.stderr)
            status = 1
            continue
        file.write_text(tf.dumps_fixture(recorded), encoding="utf-8")
    print(f"wrote {len(list(out_dir.glob('*.json')))} fixtures to {out_dir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
