"""`serve`: PyTorch as an engine under test, over the engine protocol (docs/engine-protocol.md).

Reads one JSON request per line on stdin, answers one JSON line per request on stdout: the
handshake, then batches of fixtures, each answered with what torch observed statement by
statement. It judges nothing; gradoracle does."""

import json
import sys
import warnings

import torch

from .base import DTYPES, FixtureError, literal_of
from .ops import OPS
from .parse import parse_fixture
from .run import observe, run_statement, tensor

PROTOCOL = "gradoracle.engine/1"
ADDITIONS = ["int64", "bool", "grad_of", "create_graph"]


def literal(t, dtype: str):
    """A tensor as a fixture literal (int64 and bool with their dtype), None as null."""
    if t is None:
        return None
    t = t.detach()
    if t.dtype == torch.int64:
        return {"shape": list(t.shape), "dtype": "int64", "data": t.reshape(-1).tolist()}
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "data": t.reshape(-1).tolist()}
    return literal_of(t, dtype)


def grad_fn_name(t):
    return None if t is None or t.grad_fn is None else type(t.grad_fn).__name__


def observed(st, seen, dtype: str):
    if st.expect in ("value", "grad"):
        return literal(seen, dtype)
    return seen  # a grad_fn name or None, a bool, a list of strides


def run_fixture(doc: dict) -> dict:
    """One fixture's RESULT: an observation per statement and the leaves' final grads."""
    try:
        fx = parse_fixture(doc)
    except FixtureError as e:
        return {"refused": str(e)}
    dtype = fx.dtype
    env = {name: t.clone().requires_grad_(rg) for name, (t, rg) in fx.leaves.items()}
    obs = [None] * len(fx.program)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for st in fx.program:
            try:
                if st.kind == "expect":
                    t = env[st.names[0]]
                    if st.expect != "value":
                        t = tensor(env, st.names[0], f"{st.path}.of")
                    obs[st.index] = {"observed": observed(st, observe(st, t), dtype)}
                    continue
                run_statement(st, env)
            except FixtureError as e:  # a None used as a tensor: bad input found while running
                return {"refused": str(e)}
            except Exception as e:  # torch raises RuntimeError, ValueError, IndexError, ...
                text = str(e).strip()
                obs[st.index] = {"raised": f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"}
                if st.raises is None:
                    break
                continue
            if st.kind == "op":
                y = env.get(st.let) if st.let is not None else None
                obs[st.index] = {"value": literal(y, dtype), "grad_fn": grad_fn_name(y),
                                 "requires_grad": bool(y is not None and y.requires_grad)}
            elif st.kind == "grad_of":
                gs = [env.get(n) for n in st.lets]
                obs[st.index] = {"values": [literal(g, dtype) for g in gs], "grad_fns": [grad_fn_name(g) for g in gs]}
            else:
                obs[st.index] = {}
    grads = {name: literal(env[name].grad, dtype) for name, (_, rg) in fx.leaves.items() if rg}
    return {"statements": obs, "grads": grads}


def reply(request) -> dict:
    if not isinstance(request, dict):
        return {"error": "a request must be a JSON object"}
    if request.get("hello") is True:
        return {"protocol": PROTOCOL, "engine": f"pytorch {torch.__version__}", "dtypes": sorted(DTYPES),
                "ops": sorted(OPS), "additions": ADDITIONS}
    fixtures = request.get("fixtures")
    if not isinstance(fixtures, list):
        return {"id": request.get("id"), "error": 'a request needs "hello": true or a list of "fixtures"'}
    return {"id": request.get("id"), "results": [run_fixture(doc) for doc in fixtures]}


def cmd_serve(args) -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed goes to stderr: stdout carries protocol lines only
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as e:
            answer = {"error": f"not JSON: {e}"}
        else:
            answer = reply(request)
        out.write(json.dumps(answer, allow_nan=False) + "\n")
        out.flush()
    return 0
