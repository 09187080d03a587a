#!/usr/bin/env python3
"""`replay --engine CMD` and `gradoracle serve` (docs/engine-protocol.md), end to end.

Usage: test_engine.py GRADORACLE REPO_ROOT. The C++ adapter (`gradoracle serve`) replays the
recorded corpus to the verdicts of the in-process replay; a wrong value is a failure (exit 1)
with the same message; each protocol fault of tests/cli/engines/fake_engine.py is an error
(exit 2) naming the fault, never a hang; refusals and missing ops are skipped."""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

from cli_helpers import check, failures

GRADORACLE, ROOT = sys.argv[1], sys.argv[2]
FAKE = os.path.join(ROOT, "tests", "cli", "engines", "fake_engine.py")
CORPUS = [os.path.join(ROOT, "corpus", d) for d in ("tutorial", "examples", "semantics", "nonfinite", "second_order")]
SERVE = f"{shlex.quote(GRADORACLE)} serve"
ENV = dict(os.environ, GRADORACLE=GRADORACLE)


def replay(*args, timeout=300):
    t0 = time.monotonic()
    r = subprocess.run([GRADORACLE, "replay", *args], capture_output=True, text=True, timeout=timeout, env=ENV)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def fake(fault):
    return f"{shlex.quote(sys.executable)} {shlex.quote(FAKE)} {fault}"


# The C++ adapter gives the in-process verdicts, line for line (timings aside).
def lines(out):
    return [line.split(" (")[0] + " " + line.rsplit(": ", 1)[-1] for line in out.splitlines() if line[:4] in ("PASS", "FAIL")]


code_in, out_in, _, _ = replay(*CORPUS)
code_out, out_out, err, _ = replay(*CORPUS, "--engine", SERVE)
check(code_in == 0 and code_out == 0, f"the corpus passes in process and through `gradoracle serve` ({code_in}, {code_out}) {err[-300:]}")
check(lines(out_in) == lines(out_out) and len(lines(out_in)) > 50,
      f"the same {len(lines(out_in))} verdicts and expect counts through the adapter")

with tempfile.TemporaryDirectory() as tmp:
    wrong = os.path.join(tmp, "wrong.json")
    with open(wrong, "w") as f:
        f.write('{"format": "gradoracle.fixture/1", "name": "wrong", "dtype": "float64", "tensors": {"x": {"shape": [2], '
                '"data": [1, 2], "requires_grad": true}}, "program": [{"let": "y", "op": "mul", "args": ["x", 3]}, '
                '{"expect": "value", "of": "y", "shape": [2], "data": [3, 7]}, {"let": "z", "op": "matmul", "args": ["x", "y"], "raises": "size mismatch"}, {"expect": "grad_fn", "of": "y", "is": "MulBackward0"}]}')
    code_a, out_a, _, _ = replay(wrong)
    code_b, out_b, _, _ = replay(wrong, "--engine", SERVE)
    check(code_a == code_b == 1, f"a wrong value fails (exit 1) in process and through the engine ({code_a}, {code_b})")
    check(out_a.split(" (")[0] == out_b.split(" (")[0] and "program[1]" in out_b and "(and 1 more)" in out_b,
          f"with the same message: {out_b.strip()[:200]}")

    # Each fault: exit 2, an error naming it, in well under the timeout where it is not a hang.
    one = os.path.join(ROOT, "corpus", "tutorial", "1-simple-example.json")
    faults = {
        "crash": "the engine exited with status 3",
        "signal": "signal 11",
        "hang": "no reply within 2",
        "not-json": "a reply that is not a JSON object",
        "count": "2 results for 1 fixtures",
        "id": "its id is 101, not 1",
        "version": 'the engine speaks "gradoracle.engine/2", not "gradoracle.engine/1"',
    }
    for fault_name, text in faults.items():
        code, out, err, took = replay(one, "--engine", fake(fault_name), "--engine-timeout", "2", timeout=60)
        check(code == 2 and text in out and "ERROR" in out, f"{fault_name}: exit 2 and {text!r} ({code}: {out.strip()[:300]})")
        check(took < 20, f"{fault_name}: the verdict in {took:.1f} s")
        if fault_name in ("crash", "signal", "hang"):
            check(f"fake engine: {fault_name} on request 1" in out, f"{fault_name}: the engine's stderr is in the report")

    # A refusal and an op the engine lacks are skipped, not failed.
    code, out, _, _ = replay(one, "--engine", fake("refuse"))
    check("SKIP" in out and "this engine refuses everything" in out, f"a refused fixture is skipped: {out.strip()[:200]}")
    code, out, _, _ = replay(one, "--engine", fake("no-ops"))
    check("SKIP" in out and 'the engine has no op "' in out, f"an op the engine lacks is skipped: {out.strip()[:200]}")

    # After a crash, the next fixture runs in a fresh engine process.
    env_marker = os.path.join(tmp, "crashed")
    two = [one, os.path.join(ROOT, "corpus", "tutorial", "2-two-batches.json")]
    r = subprocess.run([GRADORACLE, "replay", *two, "--engine", fake("crash-once"), "-j", "1"], capture_output=True,
                       text=True, timeout=60, env=dict(ENV, FAKE_ENGINE_MARKER=env_marker))
    check(r.returncode == 2 and r.stdout.count("ERROR") == 1 and "the engine faulted on a batch of 2 fixtures" in r.stdout
          and r.stdout.count("PASS") == 2,
          f"a crash in a batch is an error; each fixture then runs alone in a new process ({r.stdout.strip()[:300]})")
    r = subprocess.run([GRADORACLE, "replay", *two, "--engine", fake("crash"), "-j", "1"], capture_output=True,
                       text=True, timeout=60, env=ENV)
    check(r.returncode == 2 and r.stdout.count("ERROR") == 3,
          f"an engine crashing on every request: the batch and each fixture are errors ({r.stdout.strip()[:300]})")

    # replay --engine sends the fixtures in batches (fixtures::kReplayBatch = 64 per request).
    log = os.path.join(tmp, "requests.log")
    corpus = [os.path.join(ROOT, "corpus", d) for d in ("tutorial", "examples", "semantics", "nonfinite")]
    r = subprocess.run([GRADORACLE, "replay", *corpus, "--engine", fake("log")], capture_output=True, text=True,
                       timeout=300, env=dict(ENV, FAKE_ENGINE_LOG=log))
    with open(log) as f:
        sizes = [int(line) for line in f]
    passed = r.stdout.count("PASS")
    check(r.returncode == 0 and sum(sizes) == passed and len(sizes) == (passed + 63) // 64 and max(sizes) == 64,
          f"{passed} fixtures replayed in {len(sizes)} requests of at most 64 ({sizes})")

    # The engine cannot be started: an error, not a hang.
    code, out, _, _ = replay(one, "--engine", "/nonexistent/engine", timeout=60)
    check(code == 2 and "the engine exited with status 127" in out, f"a missing engine: {out.strip()[:200]}")

# gradcheck --engine: the checker's evaluations and backwards are fixtures the engine runs; the
# C++ adapter gives the in-process verdicts, kinks and failures included.
def gradcheck(*args, timeout=300):
    r = subprocess.run([GRADORACLE, "gradcheck", *args], capture_output=True, text=True, timeout=timeout, env=ENV)
    return r.returncode, r.stdout, r.stderr


# (nonfinite's float32-widths-* fixtures are left out: dozens of independent programs in one
# fixture, each evaluation a whole run through the engine, take ~6 s each.)
CHECKED = [os.path.join(ROOT, "corpus", d) for d in ("tutorial", "examples", "second_order")] + sorted(
    os.path.join(ROOT, "corpus", "nonfinite", f) for f in os.listdir(os.path.join(ROOT, "corpus", "nonfinite"))
    if "widths" not in f)
code_in, out_in, _ = gradcheck(*CHECKED)
code_out, out_out, err = gradcheck(*CHECKED, "--engine", SERVE)
verdicts = lambda out: sorted(line.split(" (")[0] + line.rsplit("):", 1)[-1][:60] for line in out.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP"))
check(code_in == code_out and verdicts(out_in) == verdicts(out_out) and len(verdicts(out_in)) > 100,
      f"gradcheck through `gradoracle serve` gives the in-process verdicts ({code_in}, {code_out}, "
      f"{len(verdicts(out_in))} fixtures) {err[-300:]}")
# Fast mode too (its probes' perturbed runs prefetched, one request per probe).
code_in, out_in, _ = gradcheck(*CHECKED, "--fast")
code_out, out_out, err = gradcheck(*CHECKED, "--fast", "--engine", SERVE)
check(code_in == code_out and verdicts(out_in) == verdicts(out_out) and len(verdicts(out_in)) > 100,
      f"gradcheck --fast through `gradoracle serve` gives the in-process verdicts ({code_in}, {code_out}) {err[-300:]}")
# A planted wrong backward (softmax's grads 1.5 times too large, tests/cli/engines/fake_engine.py)
# is found by finite differences through the engine, where the fixture's own expects say nothing.
with tempfile.TemporaryDirectory() as tmp:
    soft = os.path.join(tmp, "softmax.json")
    with open(soft, "w") as f:
        f.write('{"format": "gradoracle.fixture/1", "name": "softmax", "dtype": "float64", "tensors": {"x": {"shape": [3], '
                '"data": [0.5, -1, 2], "requires_grad": true}, "w": {"shape": [3], "data": [1, 2, 3]}}, "program": ['
                '{"let": "y", "op": "softmax", "args": ["x"], "attrs": {"dim": 0}}, {"let": "z", "op": "mul", "args": ["y", "w"]}, '
                '{"let": "s", "op": "sum", "args": ["z"]}, {"backward": "s"}]}')
    code, out, _ = gradcheck(soft, "--engine", SERVE)
    check(code == 0 and out.startswith("PASS"), f"softmax passes through the adapter: {out.strip()[:200]}")
    code, out, _ = replay(soft, "--engine", fake("wrong-grad softmax"))[:3]
    check(code == 0, f"its replay has no expect to fail ({code})")
    code, out, _ = gradcheck(soft, "--engine", fake("wrong-grad softmax"))
    check(code == 1 and out.startswith("FAIL softmax") and "analytic" in out,
          f"the planted wrong softmax backward fails gradcheck --engine (exit {code}): {out.strip()[:300]}")

# check --engine: the gate's fixtures, op, program and second-order tasks through the C++
# adapter, each case also compared with gradoracle's own run.
def gate(*args, timeout=600):
    r = subprocess.run([GRADORACLE, "check", "--no-progress", *args], capture_output=True, text=True, timeout=timeout,
                       env=ENV)
    return r.returncode, r.stdout, r.stderr


# The README's `--engine "build/gradoracle serve"` commands, run as shown (from the repository
# root), each once: its `check` line is the whole gate through the C++ adapter.
with open(os.path.join(ROOT, "README.md")) as f:
    readme = f.read()
shown_runs = {}


def run_shown(line):
    if line not in shown_runs:
        argv = [a.replace("build/gradoracle", GRADORACLE) for a in shlex.split(line)]
        shown_runs[line] = subprocess.run([GRADORACLE, *argv], capture_output=True, text=True, timeout=300, cwd=ROOT,
                                          env=ENV)
    return shown_runs[line]


whole_gate = 'check --cases 3 --engine "build/gradoracle serve"'
check(f"    build/gradoracle {whole_gate}\n" in readme, f"the README shows `build/gradoracle {whole_gate}`")
r = run_shown(whole_gate)
check(r.returncode == 0 and "not run through it: 34 structural tasks" in r.stdout and " 0 failed" in r.stdout,
      f"the whole gate passes through `gradoracle serve` (exit {r.returncode}): {r.stdout[-400:]} {r.stderr[-300:]}")

with tempfile.TemporaryDirectory() as tmp:
    # The planted wrong softmax backward fails the gate, shrinks, and every printed command
    # fails again (exit 1) through the same engine.
    broken = fake("wrong-grad softmax")
    code, out, err = gate("--engine", broken, "--op", "softmax", "--dtype", "float64", "--cases", "20",
                          "--counterexamples", tmp)
    check(code == 1 and "FAILED op/softmax/float64" in out and "analytic = 1.5 x numeric" in out,
          f"the planted wrong softmax backward fails softmax's op task (exit {code}): {out[-300:]}")
    code, out, err = gate("--engine", broken, "--task", "program/float64", "--cases", "300", "--counterexamples", tmp)
    shown = re.findall(r"^    (\S*gradoracle\S* .*)$", out, re.M)
    # The shrunk case carries finite differences' grads as expects: gradcheck, replay, and the
    # two check lines all fail again through the broken engine.
    check(code == 1 and "FAILED program/float64" in out and "shrunk case" in out and "softmax(" in out and len(shown) == 4
          and any(" replay " in line for line in shown),
          f"... and random programs, shrunk to one drawing softmax (exit {code}): {out[-600:]}")
    for line in shown:
        # A printed --reproduce line names no --counterexamples: keep what it saves out of the build tree.
        r = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=300,
                           env={**ENV, "GRADORACLE_COUNTEREXAMPLE_DIR": os.path.join(tmp, "reproduced")})
        check(r.returncode == 1, f"printed `{line[:120]}` fails again (exit {r.returncode})")
    # A value the engine reports wrong, with gradients that agree with its own finite
    # differences, is caught by the differential check against gradoracle's run.
    code, out, err = gate("--engine", fake("wrong-value sin"), "--op", "sin", "--dtype", "float64", "--cases", "5",
                          "--counterexamples", tmp)
    shown = re.findall(r"^    (\S*gradoracle\S* .*)$", out, re.M)
    check(code == 1 and "FAILED op/sin/float64" in out and "the engine and gradoracle differ" in out
          and not any(" gradcheck " in line for line in shown),
          f"a wrong value of sin fails the differential check, not gradcheck (exit {code}): {out[-400:]}")
    # Its shrunk case carries gradoracle's values as expects: its replay fails again.
    for line in shown:
        r = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=300, env=ENV)
        check(r.returncode == 1, f"printed `{line[:120]}` fails again (exit {r.returncode})")
    check(any(" replay " in line for line in shown), f"a replay line is printed: {shown}")
    # A protocol fault ends the gate with exit 2, its stderr shown, not a shrinking search.
    code, out, err = gate("--engine", fake("crash"), "--op", "abs", "--cases", "5", "--counterexamples", tmp, timeout=120)
    check(code == 2 and "the engine broke the protocol" in out and "fake engine: crash" in out,
          f"a crashing engine fails the gate with exit 2: {out[-400:]}")

# Every README `--engine "build/gradoracle serve"` command passes (the whole gate's ran above).
shown = re.findall(r'^    build/gradoracle ((?:replay|gradcheck|check) .*--engine "build/gradoracle serve".*)$', readme, re.M)
check(len(shown) >= 3 and whole_gate in shown,
      f"the README shows {len(shown)} replay, gradcheck and check --engine commands over gradoracle serve")
for line in shown:
    r = run_shown(line)
    check(r.returncode == 0 and "PASS" in r.stdout, f"README: gradoracle {line} passes (exit {r.returncode})")

# The README's adapter skeleton, with a `run` that asks `gradoracle serve`, is an engine the gate
# checks: only the ops it declares (add, mul, sin, sum) and random programs over them.
skeleton = re.search(r"^Your engine in a few lines:(?:.|\n)*?\n\n((?:    [^\n]*\n)+)", readme, re.M)
check(skeleton is not None, "the README shows an adapter skeleton")
if skeleton:
    body = "\n".join(line[4:] for line in skeleton.group(1).splitlines())
    with tempfile.TemporaryDirectory() as tmp:
        adapter = os.path.join(tmp, "my_adapter.py")
        with open(adapter, "w") as f:
            f.write(f"""import json, subprocess
_serve = subprocess.Popen([{GRADORACLE!r}, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def run(doc):
    _serve.stdin.write(json.dumps({{"id": 0, "fixtures": [doc]}}) + "\\n")
    _serve.stdin.flush()
    return json.loads(_serve.stdout.readline())["results"][0]
""" + body + "\n")
        code, out, err = gate("--engine", f"{shlex.quote(sys.executable)} {shlex.quote(adapter)}", "--cases", "3",
                              "--counterexamples", tmp)
        check(code == 0 and "engine: mine 0.1" in out and "PASS op/sin/float64" in out and "op/exp/" not in out
              and "PASS program/float64" in out, f"the README's adapter skeleton passes the gate (exit {code}): {out[-500:]} {err[-300:]}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
