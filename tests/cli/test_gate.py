#!/usr/bin/env python3
"""`gradoracle check`, the gate: exit codes 0/1/2, --json per task, --junit (xmllint), shards
partition the cases, --time stops early and says so, same seed same results, and planted
broken ops (GRADORACLE_PLANTED) fail it with their names and the commands that reproduce them.

usage: test_gate.py GRADORACLE GRADORACLE_PLANTED SOURCE_DIR"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import check, failures, junit_ok  # noqa: E402

exe, planted, src = sys.argv[1], sys.argv[2], sys.argv[3]
bad = os.path.join(src, "corpus", "bad")
examples = os.path.join(src, "corpus", "examples")


def run(*args, prog=None, timeout=120):
    try:
        return subprocess.run([prog or exe, "check", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", f"timed out after {timeout} s")


def report(*args, prog=None, timeout=120):
    r = run(*args, "--json", prog=prog, timeout=timeout)
    try:
        return r, json.loads(r.stdout)
    except json.JSONDecodeError:
        print(r.stdout[-2000:], r.stderr[-2000:])
        return r, {"tasks": [], "summary": {}}


def case_ids(rep):
    return [f"{t['id']}#{k}" for t in rep["tasks"] for k in range(t["cases"])]


with tempfile.TemporaryDirectory() as tmp:
    ce = ["--counterexamples", os.path.join(tmp, "ce")]

    # Pass: every kind of task, both dtypes, a JUnit report written atomically.
    junit = os.path.join(tmp, "gate.xml")
    r, rep = report("--cases", "4", "--seed", "7", examples, "--junit", junit, *ce)
    check(r.returncode == 0 and rep.get("exit_code") == 0, f"the gate passes, exit 0 (got {r.returncode})")
    kinds = {t["kind"] for t in rep["tasks"]}
    check(kinds == {"fixture", "op", "program", "structural"}, f"fixtures, ops, programs, structural run ({kinds})")
    ids = {t["id"] for t in rep["tasks"]}
    check({"fixture/tutorial/1-simple-example", "fixture/examples/semantics", "op/softmax/float64",
           "op/softmax/float32", "program/float32", "structural/split_batch/float64"} <= ids,
          "embedded tutorial, given fixtures, ops in both dtypes, programs, structural")
    check(all(t["status"] == "pass" and t["cases"] == (1 if t["kind"] == "fixture" else 4 + t.get("references", 0))
              for t in rep["tasks"]), "--cases 4: every property checked 4 cases (an op task its reference inputs too)")
    check(any(t.get("references", 0) > 0 for t in rep["tasks"]), "op tasks run their reference inputs")
    check(os.path.exists(junit) and junit_ok(junit), "--junit validates as JUnit XML")
    check(not any(".tmp." in n for n in os.listdir(tmp)), "--junit leaves no temporary file")
    listed = run("--list", examples).stdout.split()
    check(listed == [t["id"] for t in rep["tasks"]], "--list names the tasks that run, in order")

    # Bad input and usage: exit 2, the fault named, nothing run.
    for args, named in ((["--bogus"], "--bogus"), (["--shard", "3/2"], "--shard 3/2"),
                        (["--shard", "1"], "--shard 1"), (["--op", "nope"], "nope"),
                        (["--task", "nothing/*"], "nothing/*"), (["--cases", "0"], "--cases"),
                        (["--time", "-1"], "--time"), (["--seed", "x"], "--seed"),
                        ([os.path.join(tmp, "missing")], "missing"),
                        ([os.path.join(bad, "unknown-name.json")], 'program[1].args[0]: no tensor named "y9"'),
                        ([os.path.join(bad, "not-json.json")], "not-json.json")):
        r = run(*args)
        check(r.returncode == 2 and named in r.stdout + r.stderr,
              f"{args} exits 2 naming {named!r} (got {r.returncode}: {(r.stdout + r.stderr).strip()[-200:]})")

    # Planted broken ops: the whole gate fails, naming each, with a fixture and the commands.
    junit = os.path.join(tmp, "planted.xml")
    r, rep = report("--cases", "60", "--dtype", "float64", "--seed", "3", "--junit", junit, *ce, prog=planted)
    check(r.returncode == 1, f"planted broken ops fail the gate, exit 1 (got {r.returncode})")
    failed = {t["op"] for t in rep["tasks"] if t["status"] == "fail" and t["kind"] == "op"}
    broken = {"broken_sin_sign", "broken_add_broadcast", "broken_matmul_transposed", "broken_sum_dim", "broken_softmax",
              "broken_relu_at_zero", "broken_softmax_unshifted"}
    check(failed == broken, f"exactly the planted ops fail: {sorted(failed)}")
    check(junit_ok(junit) and "broken_softmax" in open(junit).read(), "--junit names the broken op")
    r = run("--op", "broken_softmax", "--dtype", "float64", "--cases", "25", "--seed", "3", *ce, prog=planted)
    text = r.stdout
    check(r.returncode == 1 and "FAILED op/broken_softmax/float64 (seed 3" in text and "shrunk case:" in text,
          "a failure prints the task, the seed and the shrunk case")
    commands = [l.strip() for l in text.splitlines() if l.startswith("    " + planted)]
    gradcheck = [c for c in commands if " gradcheck " in c]
    fixture = shlex.split(gradcheck[0])[-1] if gradcheck else ""
    check(os.path.isfile(fixture), f"the shrunk case is written as a fixture ({fixture})")
    if gradcheck:
        again = subprocess.run(shlex.split(gradcheck[0]), capture_output=True, text=True, timeout=60)
        check(again.returncode == 1, f"`{gradcheck[0]}` fails again (exit {again.returncode})")
    for c in [c for c in commands if " check " in c]:
        again = subprocess.run(shlex.split(c), capture_output=True, text=True, timeout=60)
        check(again.returncode == 1 and "FAILED op/broken_softmax/float64" in again.stdout,
              f"`{c}` reproduces the failure (exit {again.returncode})")
    check(len(commands) == 4, f"replay, gradcheck, check and the exact shrunk case are printed ({len(commands)})")

    # Shards partition the cases: disjoint, and together the unsharded run's, case for case.
    _, whole = report("--cases", "3", "--seed", "5", examples)
    seen, digests = [], {}
    for i in range(3):
        _, part = report("--cases", "3", "--seed", "5", "--shard", f"{i}/3", examples)
        seen += case_ids(part)
        digests.update({t["id"]: t.get("digest") for t in part["tasks"]})
    check(len(seen) == len(set(seen)), "shards are disjoint")
    check(set(seen) == set(case_ids(whole)) and len(seen) > 200, f"shards cover the unsharded cases ({len(seen)})")
    check(all(digests[t["id"]] == t.get("digest") for t in whole["tasks"]), "each task draws the same cases in its shard")

    # Same seed, same results; another seed, other cases.
    def results(rep):
        return [(t["id"], t["cases"], t.get("digest"), t.get("worst_abs")) for t in rep["tasks"]]
    _, again = report("--cases", "3", "--seed", "5", examples)
    _, other = report("--cases", "3", "--seed", "6", examples)
    check(results(whole) == results(again), "same seed, same cases and errors")
    check(sum(a != b for a, b in zip(results(whole), results(other))) > len(whole["tasks"]) // 2,
          "another seed draws other cases")

    # --time: stops early and says so.
    r, rep = report("--time", "0.5", "--cases", "100000", timeout=30)
    stopped = [t for t in rep["tasks"] if t["stopped_early"]]
    check(r.returncode == 0 and rep.get("budget", {}).get("stopped_early") and stopped,
          f"--time stops tasks early, exit 0 ({r.stderr[-200:]})")
    check(rep["summary"].get("seconds", 1e9) < 3, f"--time 0.5 ends within 3 s ({rep['summary'].get('seconds')})")
    check("time budget of 0.5 s reached" in r.stderr, "the summary says the budget stopped it")

    # Progress redrawn in place when asked (a terminal); plain lines otherwise.
    r = run("--op", "exp", "--cases", "3", "--progress")
    check("\033[K[1/2] op/exp/float64" in r.stdout, "--progress redraws a line in place")  # (text mode reads \r as \n)
    r = run("--op", "exp", "--cases", "3")
    check("\033" not in r.stdout and "PASS op/exp/float64  3 cases" in r.stdout, "not a terminal: plain lines")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
