#!/usr/bin/env python3
"""Run, record and generate gradoracle fixtures (format v1) in PyTorch.

  replay [--json] [-v] FILE|DIR...      run each fixture in torch and check its expects
  record IN [OUT] | record IN -o OUT    rerun IN in torch, write it back with torch's values
  random-programs N --seed S --out DIR [--dtype float64|float32] [--second-order P]
  serve                                 torch as an engine under test: the engine protocol on
                                        stdin/stdout (docs/engine-protocol.md)

Directories are searched recursively for *.json. Exit status: 0 all pass,
1 some fixture failed, 2 bad input or usage (the message names the JSON path
at fault, e.g. `program[3].args[1]: no tensor named "y9"`).

The contract is the fixture format v1 page (spec/fixture-format.md); PyTorch
1.13 semantics are the reference. Only the standard library, torch and numpy.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_python import require_torch  # noqa: E402

require_torch()  # else one line and exit 2 (or a re-exec under /usr/bin/python3)

import numpy as np  # noqa: E402,F401  (the scripts that import this module use tf.np)

# The parts (tools/torch_side/); the names other scripts and tests use are re-exported here.
from torch_side.base import DTYPES, FORMAT, FixtureError, dumps_fixture, encode_number  # noqa: E402,F401
from torch_side.parse import Fixture, load_fixture, parse_fixture  # noqa: E402,F401
from torch_side.run import cmd_replay, compare, execute, run_statement  # noqa: E402,F401
from torch_side.record import RecordError, cmd_record, record_doc  # noqa: E402,F401
from torch_side.programs import cmd_random  # noqa: E402,F401
from torch_side.serve import cmd_serve  # noqa: E402,F401


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
    p.add_argument("--second-order", type=float, default=0.0, metavar="P",
                   help="draw each program's second-order variant (a grad_of with create_graph, then a backward "
                        "of a function of its result) with probability P; default 0")
    p.set_defaults(run=cmd_random)
    p = sub.add_parser("serve", help="answer the engine protocol on stdin/stdout (docs/engine-protocol.md)")
    p.set_defaults(run=cmd_serve)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
