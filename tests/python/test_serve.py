"""tools/torch_fixture.py serve: PyTorch over the engine protocol (docs/engine-protocol.md), as a
child process, the way gradoracle drives it."""

import json
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "torch_fixture.py"


def serve(*requests):
    """The adapter's reply lines to the request lines, in one process."""
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests)
    done = subprocess.run([sys.executable, str(TOOL), "serve"], input=text, capture_output=True, text=True,
                          timeout=120, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def fixture(tensors, program, dtype="float64"):
    return {"format": "gradoracle.fixture/1", "name": "t", "dtype": dtype, "tensors": tensors, "program": program}


X = {"x": {"shape": [3], "data": [1, -2, 0.5], "requires_grad": True}}


class Serve(unittest.TestCase):
    def test_handshake_names_the_protocol_the_engine_and_what_it_runs(self):
        (hello,) = serve({"protocol": "gradoracle.engine/1", "hello": True})
        self.assertEqual(hello["protocol"], "gradoracle.engine/1")
        self.assertTrue(hello["engine"].startswith("pytorch 1.13"))
        self.assertEqual(hello["dtypes"], ["float32", "float64"])
        self.assertIn("softmax", hello["ops"])
        self.assertIn("grad_of", hello["additions"])

    def test_a_zero_grad_without_storage_is_reported_as_zeros(self):
        # torch 1.13's double backward of abs with a zero upstream leaves an efficient ZeroTensor
        # as the leaf's .grad; its .numpy() reads unallocated memory (found by `gradoracle check
        # --engine` through this adapter: a "nonzero" grad for a zero upstream).
        tensors = {"a": {"shape": [], "data": [0.25], "requires_grad": True},
                   "v": {"shape": [], "data": [1.0], "requires_grad": True}}
        program = [{"let": "y", "op": "abs", "args": ["a"]},
                   {"let": ["g"], "grad_of": "y", "wrt": ["a"], "grad_outputs": "v", "create_graph": True},
                   {"let": "noise", "op": "mul", "args": ["v", 3]},
                   {"backward": "g", "grad": {"shape": [], "data": [0]}}]
        for _ in range(3):
            (reply,) = serve({"id": 1, "fixtures": [fixture(tensors, program)] * 4})
            for result in reply["results"]:
                self.assertEqual(result["grads"]["a"], {"shape": [], "data": [0.0]})

    def test_each_statement_is_observed_and_nothing_is_judged(self):
        program = [{"let": "y", "op": "mul", "args": ["x", 3]},
                   {"expect": "value", "of": "y", "shape": [3], "data": [0, 0, 0]},  # wrong: reported, not judged
                   {"let": "s", "op": "sum", "args": ["y"]},
                   {"backward": "s"},
                   {"expect": "grad", "of": "x", "shape": [3], "fill": 3},
                   {"expect": "grad_fn", "of": "s", "is": "SumBackward0"}]
        (reply,) = serve({"id": 4, "fixtures": [fixture(X, program)]})
        self.assertEqual(reply["id"], 4)
        (result,) = reply["results"]
        obs = result["statements"]
        self.assertEqual(len(obs), len(program))
        self.assertEqual(obs[0], {"value": {"shape": [3], "data": [3.0, -6.0, 1.5]}, "grad_fn": "MulBackward0",
                                  "requires_grad": True})
        self.assertEqual(obs[1], {"observed": {"shape": [3], "data": [3.0, -6.0, 1.5]}})
        self.assertEqual(obs[3], {})
        self.assertEqual(obs[4], {"observed": {"shape": [3], "data": [3.0, 3.0, 3.0]}})
        self.assertEqual(obs[5], {"observed": "SumBackward0"})
        self.assertEqual(result["grads"], {"x": {"shape": [3], "data": [3.0, 3.0, 3.0]}})

    def test_an_error_is_reported_and_stops_the_program_unless_expected(self):
        program = [{"let": "y", "op": "softmax", "args": ["x"], "attrs": {"dim": 3}, "raises": "Dimension out of range"},
                   {"let": "z", "op": "softmax", "args": ["x"], "attrs": {"dim": 5}},
                   {"let": "w", "op": "neg", "args": ["x"]}]
        (reply,) = serve({"id": 1, "fixtures": [fixture(X, program), fixture(X, program[2:])]})
        first, second = reply["results"]
        self.assertTrue(first["statements"][0]["raised"].startswith("IndexError: Dimension out of range"))
        self.assertTrue(first["statements"][1]["raised"].startswith("IndexError: Dimension out of range"))
        self.assertIsNone(first["statements"][2])  # not run
        self.assertEqual(second["statements"][0]["grad_fn"], "NegBackward0")  # a fresh program

    def test_special_values_int_tensors_and_grad_of(self):
        tensors = {"x": {"shape": [2], "data": ["inf", 0], "requires_grad": True},
                   "i": {"shape": [2], "dtype": "int64", "data": [1, 1]}}
        program = [{"let": "y", "op": "index_select", "args": ["x", "i"], "attrs": {"dim": 0}},
                   {"let": "l", "op": "log", "args": ["x"]},
                   {"let": ["g"], "grad_of": "l", "wrt": ["x"], "grad_outputs": {"shape": [2], "fill": 1}},
                   {"expect": "value", "of": "i", "shape": [2], "dtype": "int64", "data": [1, 1]}]
        (reply,) = serve({"id": 2, "fixtures": [fixture(tensors, program)]})
        obs = reply["results"][0]["statements"]
        self.assertEqual(obs[1]["value"]["data"], ["inf", "-inf"])
        self.assertEqual(obs[2], {"values": [{"shape": [2], "data": [0.0, "inf"]}], "grad_fns": [None]})
        self.assertEqual(obs[3], {"observed": {"shape": [2], "dtype": "int64", "data": [1, 1]}})

    def test_a_line_that_is_not_a_request_gets_an_error_and_the_adapter_goes_on(self):
        bad, ok = serve("{not json", {"id": 9, "fixtures": []})
        self.assertIn("not JSON", bad["error"])
        self.assertEqual(ok, {"id": 9, "results": []})


if __name__ == "__main__":
    unittest.main()
