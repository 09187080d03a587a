#!/usr/bin/env python3
"""gradoracle end to end: exit codes 0/1/2, --json parses, --junit validates (xmllint).

usage: test_cli.py GRADORACLE SOURCE_DIR"""
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import check, failures, junit_ok, junit_problems  # noqa: E402

exe, src = sys.argv[1], sys.argv[2]
tutorial = os.path.join(src, "corpus", "tutorial")
examples = os.path.join(src, "corpus", "examples")
bad = os.path.join(src, "corpus", "bad")


def run(*args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


with tempfile.TemporaryDirectory() as tmp:
    # A failing fixture: the spec example with one wrong number.
    with open(os.path.join(examples, "spec-example.json")) as f:
        doc = json.load(f)
    doc["name"] = "planted/wrong-grad"
    doc["program"][4]["data"] = [5, 7, 9.5]
    failing = os.path.join(tmp, "failing.json")
    with open(failing, "w") as f:
        json.dump(doc, f)

    r = run("replay", tutorial, examples)
    check(r.returncode == 0, f"replay tutorial+examples exits 0 (got {r.returncode})")
    check(len(r.stdout.strip().splitlines()) >= 7 and all(l.startswith("PASS") for l in r.stdout.splitlines()),
          "replay prints one PASS line per fixture")
    r = run("replay", tutorial, failing)
    check(r.returncode == 1, f"a failing fixture exits 1 (got {r.returncode})")
    check("program[4]" in r.stdout and "FAIL planted/wrong-grad" in r.stdout, "the failure names its statement")
    r = run("replay", failing, os.path.join(bad, "unknown-name.json"))
    check(r.returncode == 2, f"bad input exits 2, even beside a failure (got {r.returncode})")
    check('program[1].args[0]: no tensor named "y9"' in r.stdout, "bad input names its JSON path")
    r = run("replay", os.path.join(tmp, "missing.json"))
    check(r.returncode == 2, "a missing file exits 2")
    for usage in (["replay"], ["nope"], [], ["gradcheck", "--eps", "-1", tutorial], ["generate", "--out", tmp],
                  ["generate", "--op", "nope", "--out", tmp], ["replay", "--bogus", tutorial]):
        r = run(*usage)
        check(r.returncode == 2, f"usage error {usage} exits 2 (got {r.returncode})")

    # --version: the project's version, as CMakeLists.txt's project() declares it.
    with open(os.path.join(src, "CMakeLists.txt")) as f:
        declared = re.search(r"project\(gradoracle VERSION ([0-9.]+)", f.read()).group(1)
    r = run("--version")
    check(r.returncode == 0 and r.stdout.strip() == f"gradoracle {declared}",
          f"--version prints gradoracle {declared}, exit 0 (got {r.returncode}: {r.stdout.strip()!r})")
    # Every --seed takes any 64-bit seed, decimal, and nothing else.
    r = run("gradcheck", "--fast", "--seed", "18446744073709551615", tutorial)
    check(r.returncode == 0, f"gradcheck --seed 2^64-1 is accepted (got {r.returncode})")
    for args in (["gradcheck", "--fast", "--seed", "18446744073709551616", tutorial],
                 ["generate", "--programs", "1", "--seed", "-1", "--out", tmp]):
        r = run(*args)
        check(r.returncode == 2 and r.stderr.count("--seed") == 1, f"{args[:4]} exits 2, said once ({r.stderr[:120]})")

    # --json on every subcommand, --junit on every subcommand.
    out = os.path.join(tmp, "gen")
    cases = {
        "replay": ["replay", tutorial, failing, os.path.join(bad, "empty.json")],  # an error case takes microseconds
        "gradcheck": ["gradcheck", "--fast", tutorial, examples],
        "generate": ["generate", "--op", "linear", "--op", "softmax", "--programs", "3", "--seed", "5", "--out", out],
        "ops": ["ops"],
    }
    for name, args in cases.items():
        junit = os.path.join(tmp, name + ".xml")
        r = run(*args, "--json", "--junit", junit)
        try:
            report = json.loads(r.stdout)
            parsed = True
        except json.JSONDecodeError:
            parsed = False
        check(parsed, f"{name} --json prints one JSON document")
        if parsed:
            check(report.get("exit_code") == r.returncode, f"{name} --json exit_code matches the exit status")
        check(os.path.exists(junit) and junit_ok(junit), f"{name} --junit validates as XML")
        check(not any(n.startswith(name + ".xml.tmp") for n in os.listdir(tmp)), f"{name} leaves no temporary report")
    r = run("replay", failing, "--json")
    report = json.loads(r.stdout)
    check(report["summary"]["failed"] == 1 and report["cases"][0]["detail"]["failures"][0]["path"] == "program[4]",
          "--json carries the failing path")
    root = ET.parse(os.path.join(tmp, "replay.xml")).getroot()
    check(root.find("testsuite").get("failures") == "1" and root.find("testsuite").get("errors") == "1",
          "--junit counts the failure and the error")
    for name in ("replay", "gradcheck"):
        files = [c.get("file") for c in ET.parse(os.path.join(tmp, name + ".xml")).getroot().iter("testcase")]
        check(len(files) > 3 and all(f and os.path.isfile(f) for f in files),
              f"{name} --junit: every testcase's file is the fixture's path")
    # The JUnit check is strict: a time in exponent notation or with a unit, or no timestamp, fails it.
    with open(os.path.join(tmp, "replay.xml")) as f:
        good = f.read()
    for what, mangled in (("a time in exponent notation", re.sub(r' time="[0-9.]+"', ' time="1.2e-05"', good, count=1)),
                          ("a time with a unit", re.sub(r' time="([0-9.]+)"', r' time="\1s"', good, count=1)),
                          ("no timestamp", re.sub(r' timestamp="[^"]*"', "", good)),
                          ("a count that is not the cases'", good.replace('tests="', 'tests="1', 1))):
        path = os.path.join(tmp, "mangled.xml")
        with open(path, "w") as f:
            f.write(mangled)
        check(mangled != good and junit_problems(path), f"the JUnit check refuses {what}")

    # generate writes fixtures that replay and gradcheck.
    r = run("generate", "--all", "--programs", "20", "--seed", "11", "--out", out)
    check(r.returncode == 0, "generate --all --programs exits 0")
    r = run("replay", out)
    check(r.returncode == 0, f"generated fixtures replay (exit {r.returncode})")
    r = run("gradcheck", out)
    check(r.returncode == 0, f"generated fixtures gradcheck (exit {r.returncode})")
    # --jobs: the same lines, cases and exit code whatever the number of threads.
    def cases_of(r):
        return [{k: v for k, v in c.items() if k != "seconds"} for c in json.loads(r.stdout)["cases"]]
    mixed = [out, failing, os.path.join(bad, "unknown-name.json"), tutorial]
    for command in ("replay", "gradcheck"):
        one = run(command, "--jobs", "1", "--json", *mixed)
        many = run(command, "-j", "4", "--json", *mixed)
        check(one.returncode == many.returncode == 2 and one.stderr == many.stderr and cases_of(one) == cases_of(many)
              and len(cases_of(one)) > 20, f"{command} -j 4 reports what --jobs 1 does, in the same order")
    r = run("gradcheck", "--jobs", "0", tutorial)
    check(r.returncode == 2, "--jobs 0 is a usage error")
    r = run("gradcheck", "--eps", "1e-6", "--atol", "1e-7", "--rtol", "1e-5", tutorial)
    check(r.returncode == 0, "gradcheck with explicit --eps/--atol/--rtol exits 0")

    # gradcheck's checker options: --kinks, --allow-nonfinite, --scheme, --step.
    def write_fixture(name, tensors, program):
        path = os.path.join(tmp, name + ".json")
        with open(path, "w") as f:
            json.dump({"format": "gradoracle.fixture/1", "name": name, "dtype": "float64", "tensors": tensors,
                       "program": program}, f)
        return path

    def one_op(name, op, data):
        return write_fixture(name, {"x": {"shape": [len(data)], "data": data, "requires_grad": True}},
                             [{"let": "y", "op": op, "args": ["x"]},
                              {"backward": "y", "grad": {"shape": [len(data)], "fill": 1}}])

    def verdict(*args):
        r = run("gradcheck", "--json", *args)
        try:
            return r.returncode, json.loads(r.stdout)["cases"][0]["detail"]["gradcheck"]
        except (json.JSONDecodeError, KeyError, IndexError):
            return r.returncode, {}
    kink = one_op("relu-at-zero", "relu", [0.0, 1.0])  # relu'(0) = 0 (PyTorch); central differences: 0.5
    smooth = one_op("exp-at-one", "exp", [1.0])        # central at h = 1e-2 is off by e*h^2/6 = 4.5e-5 > tolerance
    nonfinite = os.path.join(src, "corpus", "nonfinite", "norm-p2-nan.json")  # both sides NaN where non-finite
    code, g = verdict(kink)
    check(code == 0 and g.get("kink_count") == 1 and g.get("failure_count") == 0, "gradcheck: a kink is reported, not failed")
    code, g = verdict("--kinks", "fail", kink)
    check(code == 1 and g.get("kink_count") == 1, f"gradcheck --kinks fail: a kink fails (exit {code})")
    code, g = verdict("--kinks", "off", kink)
    check(code == 1 and g.get("kink_count") == 0 and g.get("failure_count") == 1,
          f"gradcheck --kinks off: not detected, the kink judged by the tolerance (exit {code})")
    code, g = verdict(nonfinite)
    check(code == 1 and g.get("status") == "nonfinite", f"gradcheck: same NaN on both sides fails by default (exit {code})")
    code, g = verdict("--allow-nonfinite", nonfinite)
    check(code == 0 and g.get("nonfinite_count", 0) > 0, f"gradcheck --allow-nonfinite: it passes (exit {code})")
    code, g = verdict("--eps", "1e-2", "--kinks", "off", smooth)
    check(code == 1 and g.get("scheme") == "central", f"gradcheck --eps 1e-2: central differences too coarse (exit {code})")
    code, g = verdict("--eps", "1e-2", "--kinks", "off", "--scheme", "richardson", smooth)
    check(code == 0 and g.get("scheme") == "richardson", f"gradcheck --scheme richardson: O(h^4) passes (exit {code})")
    code, g = verdict("--step", "absolute", "--eps", "1e-5", smooth)
    check(code == 0 and g.get("step") == "absolute" and g.get("eps") == 1e-5, "gradcheck --step absolute")
    for usage in (["--scheme", "forward"], ["--kinks", "maybe"], ["--step", "big"]):
        check(run("gradcheck", *usage, smooth).returncode == 2, f"gradcheck {usage} is a usage error")

    # bad inputs: each with its expected error, exit 2.
    n = 0
    for name in sorted(os.listdir(bad)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(bad, name[:-5] + ".expected")) as f:
            expected = f.readline().rstrip("\n")
        r = run("replay", "--json", os.path.join(bad, name))
        msg = json.loads(r.stdout)["cases"][0]["message"] if r.returncode == 2 else None
        check(r.returncode == 2 and msg == expected, f"bad/{name} exits 2 with: {expected}")
        n += 1
    check(n >= 30, f"{n} bad-input cases")

# The files the README's commands write into the checkout (--junit FILE, --counterexamples DIR)
# are ignored by git.
with open(os.path.join(src, "README.md")) as f:
    readme = f.read().replace("${{ matrix.shard }}", "0")
path = r"([A-Za-z0-9_./-]*[a-z][A-Za-z0-9_./-]*)"  # a relative or absolute path, not a placeholder (FILE, DIR)
written = re.findall(r"--junit " + path, readme)
written += [os.path.join(m, "op-exp-float64.json") for m in re.findall(r"--counterexamples " + path, readme)]
written = [w for w in written if not os.path.isabs(w)]
if subprocess.run(["git", "-C", src, "rev-parse"], capture_output=True).returncode == 0:
    check(len(written) >= 3, f"the README's commands write {written}")
    for w in written:
        r = subprocess.run(["git", "-C", src, "check-ignore", "-q", "--no-index", w])
        check(r.returncode == 0, f"{w}, which a README command writes, is in .gitignore")
else:
    print(f"skip .gitignore checks: {src} is not a git checkout")

# The README's replay and gradcheck commands over corpus/ files run as shown and pass.
shown = re.findall(r"^    build/gradoracle (replay|gradcheck) ((?:corpus/[A-Za-z0-9_./-]+ ?)+)", readme, re.M)
check(len(shown) >= 3, f"the README shows {len(shown)} replay/gradcheck commands over corpus/")
for command, paths in shown:
    r = run(command, *[os.path.join(src, p) for p in paths.split()])
    check(r.returncode == 0 and "PASS" in r.stdout, f"README: gradoracle {command} {paths.strip()} passes (exit {r.returncode})")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
