#!/usr/bin/env python3
"""A planted broken PyTorch adapter for the torch-labelled gate tests: tools/torch_fixture.py
serve, except that softmax's backward is wrong (the upstream is scaled by 1.5 before PyTorch's
own softmax backward), through a torch.autograd.Function. Its values are right, so only
gradients show the bug: `gradoracle check --engine` must fail, shrink, and replay it."""
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))
import torch  # noqa: E402

from torch_side import ops, serve  # noqa: E402


class WrongSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = torch.softmax(x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return torch._softmax_backward_data(1.5 * g, y, ctx.dim, y.dtype), None


ops.OPS["softmax"] = dataclasses.replace(ops.OPS["softmax"], fn=lambda args, dim: WrongSoftmax.apply(args[0], dim))
sys.exit(serve.cmd_serve(None))
