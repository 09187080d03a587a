#!/usr/bin/env python3
"""`gradoracle check`, the gate: exit codes 0/1/2, --json per task, --junit (xmllint), shards
partition the cases, --time stops early and says so, same seed same results, and planted
broken ops (GRADORACLE_PLANTED) fail it with their names and the commands that reproduce them.

usage: test_gate.py GRADORACLE GRADORACLE_PLANTED SOURCE_DIR"""
import fcntl
import json
import os
import pty
import re
import shlex
import shutil
import subprocess
import sys
import struct
import tempfile
import termios
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import check, failures, junit_ok, junit_properties  # noqa: E402

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


def run_on_terminal(*args, columns, timeout=120):
    """`gradoracle check ARGS` with its output on a pseudo-terminal `columns` wide: the bytes it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.Popen([exe, "check", *args], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    proc.wait(timeout=timeout)
    return out.decode(errors="replace")


def progress_draws(out):
    """The progress lines drawn: what follows each "\r\033[K" up to the next \r or \n."""
    return [seg[3:] for seg in re.split(r"[\r\n]", out) if seg.startswith("\033[K") and len(seg) > 3]


def case_ids(rep):
    return [f"{t['id']}#{k}" for t in rep["tasks"] for k in range(t["cases"])]


with tempfile.TemporaryDirectory() as tmp:
    ce = ["--counterexamples", os.path.join(tmp, "ce")]
    # Runs without --counterexamples neither read nor write the build tree's folder.
    os.environ["GRADORACLE_COUNTEREXAMPLE_DIR"] = os.path.join(tmp, "ce-default")

    # Pass: every kind of task, both dtypes, a JUnit report written atomically.
    junit = os.path.join(tmp, "gate.xml")
    r, rep = report("--cases", "4", "--seed", "7", examples, "--junit", junit, *ce)
    check(r.returncode == 0 and rep.get("exit_code") == 0, f"the gate passes, exit 0 (got {r.returncode})")
    kinds = {t["kind"] for t in rep["tasks"]}
    check(kinds == {"fixture", "op", "program", "structural", "second_order"}, f"fixtures, ops, programs, second order, structural run ({kinds})")
    ids = {t["id"] for t in rep["tasks"]}
    check({"fixture/tutorial/1-simple-example", "fixture/examples/semantics", "op/softmax/float64",
           "op/softmax/float32", "program/float32", "structural/split_batch/float64"} <= ids,
          "embedded corpus, given fixtures, ops in both dtypes, programs, structural")
    check(all(t["status"] == "pass" and t["cases"] == (1 if t["kind"] == "fixture" else 4 + t.get("references", 0))
              for t in rep["tasks"]), "--cases 4: every property checked 4 cases (an op task its reference inputs too)")
    check(any(t.get("references", 0) > 0 for t in rep["tasks"]), "op tasks run their reference inputs")
    check(os.path.exists(junit) and junit_ok(junit), "--junit validates as JUnit XML")
    props = junit_properties(junit) if os.path.exists(junit) else {}
    check(props == {"seed": "7", "shard": "0/1", "budget.cases": "4", "budget.seconds": "none"},
          f"--junit <properties>: seed, shard, budget ({props})")
    # summary.by_kind: per kind present, the sums over its tasks and cases_per_second = cases/seconds;
    # the text summary prints the same rows.
    by_kind = rep["summary"].get("by_kind", {})
    check(set(by_kind) == kinds, f"summary.by_kind has every kind that ran ({sorted(by_kind)})")
    for kind, k in by_kind.items():
        mine = [t for t in rep["tasks"] if t["kind"] == kind]
        secs = sum(t["seconds"] for t in mine)
        check(k["tasks"] == len(mine) and k["cases"] == sum(t["cases"] for t in mine)
              and abs(k["seconds"] - secs) <= 1e-9 * max(secs, 1)
              and k["cases_per_second"] is not None and abs(k["cases_per_second"] * k["seconds"] - k["cases"]) <= 1e-6 * k["cases"],
              f"summary.by_kind.{kind} sums its tasks, cases/s = cases/seconds ({k})")
        check(k["cases_per_second"] is not None and re.search(rf"^  {kind} +{k['tasks']} +{k['cases']} +{k['seconds']:.2f} +{k['cases_per_second']:.0f}$", r.stderr, re.M),
              f"the text summary prints by_kind.{kind}")
    check(sum(k["cases"] for k in by_kind.values()) == rep["summary"].get("cases")
          and sum(k["seconds"] for k in by_kind.values()) <= rep["summary"].get("seconds", 0) * rep.get("jobs", 0),
          "the kinds add up to the summary's cases, their seconds to at most its elapsed seconds times its workers")
    files = {c.get("name"): c.get("file") for c in ET.parse(junit).getroot().iter("testcase")} if props else {}
    check(files.get("fixture/tutorial/1-simple-example") == "embedded:corpus/tutorial/1-simple-example.json"
          and os.path.isfile(files.get("fixture/examples/semantics", "")),
          "--junit file: an embedded fixture's name, a given fixture's path")
    # Every fixture of the recorded corpus is embedded, under its source path (the count follows
    # the corpus: other tasks come and go).
    embedded = {}
    for folder in ("tutorial", "examples", "semantics", "nonfinite"):
        for name in sorted(os.listdir(os.path.join(src, "corpus", folder))):
            if name.endswith(".json"):
                with open(os.path.join(src, "corpus", folder, name)) as f:
                    embedded["fixture/" + json.load(f)["name"]] = f"embedded:corpus/{folder}/{name}"
    given = {i for i, f in files.items() if f and not f.startswith("embedded:")}
    missing = [i for i, f in embedded.items() if i not in given and files.get(i) != f]
    check(files and len(embedded) > 100 and not missing,
          f"every corpus fixture of tutorial, examples, semantics, nonfinite is embedded ({missing[:3]})")
    semantics = os.path.join(src, "corpus", "semantics")
    r_given, rep_given = report("--task", "fixture/semantics/*", semantics)
    check(r_given.returncode == 0 and rep_given["tasks"] and all(t["status"] == "pass" for t in rep_given["tasks"]),
          f"given fixtures that replace replayed-only embedded ones are replayed only (exit {r_given.returncode})")
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
                        ([os.path.join(bad, "not-json.json")], "not-json.json: invalid JSON")):
        for a in args:  # a fixture named here is there: its error is the one checked, not a missing file
            if a.startswith(src):
                check(os.path.isfile(a), f"{a} exists")
        r = run(*args)
        check(r.returncode == 2 and named in r.stdout + r.stderr,
              f"{args} exits 2 naming {named!r} (got {r.returncode}: {(r.stdout + r.stderr).strip()[-200:]})")

    # Planted broken ops, and two failing fixtures: a wrong expect (replay fails, gradcheck
    # passes) and a wrong gradient (gradcheck fails, replay passes). The gate fails, naming each.
    with open(os.path.join(examples, "spec-example.json")) as f:
        doc = json.load(f)
    doc["name"] = "planted/wrong-expect"
    doc["program"][4]["data"] = [5, 7, 9.5]
    wrong_expect = os.path.join(tmp, "wrong-expect.json")
    with open(wrong_expect, "w") as f:
        json.dump(doc, f)
    wrong_gradient = os.path.join(tmp, "wrong gradient.json")  # a space: the printed commands quote it
    with open(wrong_gradient, "w") as f:
        json.dump({"format": "gradoracle.fixture/1", "name": "planted/wrong-gradient", "dtype": "float64",
                   "tensors": {"a0": {"shape": [], "data": [0.5], "requires_grad": True}},
                   "program": [{"let": "y", "op": "broken_sin_sign", "args": ["a0"]},
                               {"backward": "y", "grad": {"shape": [], "fill": 1.0}}]}, f)
    junit = os.path.join(tmp, "planted.xml")
    r, rep = report("--cases", "60", "--dtype", "float64", "--seed", "3", "--junit", junit, *ce,
                    wrong_expect, wrong_gradient, prog=planted)
    check(r.returncode == 1, f"planted broken ops fail the gate, exit 1 (got {r.returncode})")
    failed = {t["op"] for t in rep["tasks"] if t["status"] == "fail" and t["kind"] == "op"}
    broken = {"broken_sin_sign", "broken_add_broadcast", "broken_matmul_transposed", "broken_sum_dim", "broken_softmax",
              "broken_relu_at_zero", "broken_softmax_unshifted"}
    check(failed == broken, f"exactly the planted ops fail: {sorted(failed)}")
    # broken_mul_detached is right at first order (op/ passes) and wrong at second (op2/ fails).
    failed2 = {t["id"].split("/")[1] for t in rep["tasks"] if t["status"] == "fail" and t["id"].startswith("op2/")}
    check("broken_mul_detached" in failed2 and failed2 <= broken | {"broken_mul_detached"},
          f"the second-order planted bug fails op2/, and only planted ops do: {sorted(failed2)}")
    failed_fixtures = {t["id"] for t in rep["tasks"] if t["status"] == "fail" and t["kind"] == "fixture"}
    check(failed_fixtures == {"fixture/planted/wrong-expect", "fixture/planted/wrong-gradient"},
          f"exactly the planted fixtures fail: {sorted(failed_fixtures)}")
    check(junit_ok(junit) and "broken_softmax" in open(junit).read(), "--junit names the broken op")

    # --jobs: the tasks in worker processes give the report one process gives, task for task
    # (times aside), failures, shrunk cases and printed commands included.
    def by_jobs(jobs):
        where = os.path.join(tmp, "ce-jobs-" + jobs)
        r, rep = report("--cases", "60", "--dtype", "float64", "--seed", "3", "--jobs", jobs, "--counterexamples", where,
                        "--op", "broken_softmax", "--op", "broken_mul_detached", "--op", "exp", wrong_expect,
                        wrong_gradient, prog=planted)
        tasks = [{k: v for k, v in t.items() if k != "seconds"} for t in rep["tasks"]]
        return r.returncode, json.dumps(tasks).replace(where, "CE"), r.stderr.count("FAILED")
    one, two = by_jobs("1"), by_jobs("2")
    check(one[0] == two[0] == 1 and one[2] >= 3 and one == two,
          f"--jobs 2 reports what --jobs 1 does, failures included (exit {one[0]}, {two[0]}; {one[2]} failures)")
    # A task that crashes (GRADORACLE_PLANTED_CRASH: broken_crash's backward aborts) ends the gate
    # by its signal either way; a worker's crash is named.
    for jobs in ("1", "2"):
        crash = subprocess.run([planted, "check", "--op", "broken_crash", "--op", "exp", "--dtype", "float64", "--cases",
                                "5", "--jobs", jobs, "--counterexamples", os.path.join(tmp, "ce-crash")],
                               capture_output=True, text=True, timeout=120, env={**os.environ, "GRADORACLE_PLANTED_CRASH": "1"})
        named = "the worker process running task op/broken_crash/float64 ended by signal 6" in crash.stderr
        check(crash.returncode == -6 and (named or jobs == "1"),
              f"--jobs {jobs}: a crashing task ends the gate by SIGABRT ({crash.returncode})"
              f"{' and is named' if jobs != '1' else ''}")

    # Every command a failure prints fails again, exit 1 (the text and --json print the same).
    def printed_commands(text):
        commands, listing = [], False
        for line in text.splitlines():
            listing = line == "  reproduce:" or (listing and line.startswith("    "))
            if listing and line.startswith("    "):
                commands.append(line.strip())
        return commands
    failing = [t for t in rep["tasks"] if t["status"] == "fail"]
    check(printed_commands(r.stderr) == [c for t in failing for c in t["reproduce"]],
          "the failure text and --json list the same commands")
    forms = set()
    for t in failing:
        for c in t["reproduce"]:
            words = shlex.split(c)
            forms.add(" ".join(w for w in words[1:] if w in ("gradcheck", "replay", "check", "--op", "--task",
                                                            "--reproduce")))
            again = subprocess.run(words, capture_output=True, text=True, timeout=60)
            fails_again = again.returncode == 1
            if words[1] == "check":
                fails_again = fails_again and f"FAILED {t['id']} " in again.stdout
            check(fails_again, f"{t['id']}: `{c}` fails again (exit {again.returncode})")
    check(forms == {"gradcheck", "replay", "check --op", "check --task", "check --task --reproduce"},
          f"each form of command was printed and run: {sorted(forms)}")
    by_id = {t["id"]: t for t in rep["tasks"]}
    commands = by_id["op/broken_softmax/float64"]["reproduce"]
    check([shlex.split(c)[1] for c in commands] == ["gradcheck", "replay", "check", "check"] and os.path.isfile(
        shlex.split(commands[0])[-1]),
          f"a random case's failure: its fixture's gradcheck and replay (finite differences' grads as expects), "
          f"the search, the exact case")
    for task, fixture_command in (("fixture/planted/wrong-expect", "replay"),
                                  ("fixture/planted/wrong-gradient", "gradcheck"),
                                  ("op/broken_relu_at_zero/float64", "replay")):
        listed = [shlex.split(c)[1] for c in by_id[task]["reproduce"]]
        check(listed[0] == fixture_command and listed.count("gradcheck") + listed.count("replay") == 1,
              f"{task}: only `{fixture_command} FILE` of its fixture is listed ({listed})")
    # (in a fresh directory: the run above saved a case, which a run in its directory re-runs first)
    r = run("--op", "broken_softmax", "--dtype", "float64", "--cases", "25", "--seed", "3",
            "--counterexamples", os.path.join(tmp, "ce-search"), prog=planted)
    check(r.returncode == 1 and "FAILED op/broken_softmax/float64 (seed 3" in r.stdout and "shrunk case:" in r.stdout,
          "a failure prints the task, the seed and the shrunk case")

    # --reproduce: a malformed string, or another task's, is refused; a valid one says the seed it replays.
    rc_params = by_id["op/broken_softmax/float64"]["rc_params"]
    for args, named in ((["--reproduce", "seed=3"], "names no failure"),
                        (["--reproduce", "reproduce=xyz seed=3"], "not an RC_PARAMS string"),
                        (["--task", "op/broken_sin_sign/float64", "--reproduce", rc_params], "does not select")):
        r = run(*args, *ce, prog=planted)
        check(r.returncode == 2 and named in r.stderr and "--reproduce" in r.stderr,
              f"{args[-2:]} is refused, exit 2 ({r.returncode}: {r.stderr.strip()[-200:]})")
    r = run("--reproduce", rc_params, *ce, prog=planted)
    check(r.returncode == 1 and "seed 3;" in r.stdout and "replays the shrunk case of op/broken_softmax/float64" in
          r.stdout and [l[:l.find(",")] for l in r.stdout.splitlines() if l.startswith("FAILED ")] == [
              "FAILED op/broken_softmax/float64 (seed 3"],
          "--reproduce replays only its case and says its seed")

    # Hints name commands that work.
    for args in (["--op", "nope"], ["--task", "nothing/*"]):
        r = run(*args)
        hint = r.stderr.split("`")[1] if r.stderr.count("`") == 2 else ""
        ok = subprocess.run(shlex.split(hint), capture_output=True, text=True, timeout=60).returncode == 0 if hint else False
        check(ok, f"the hint of {args}, `{hint}`, runs (exit 0)")

    # Seeds: every seed `random` can print is accepted back, and --json carries it as a string.
    r, rep = report("--seed", "random", "--op", "exp", "--dtype", "float64", "--cases", "3")
    seed = rep.get("seed")
    r2, rep2 = report("--seed", str(seed), "--op", "exp", "--dtype", "float64", "--cases", "3")
    check(isinstance(seed, str) and r2.returncode == 0 and rep2.get("seed") == seed and
          rep2["tasks"][0]["digest"] == rep["tasks"][0]["digest"], f"--seed random's seed {seed} replays the same cases")
    r, rep = report("--seed", "18446744073709551615", "--op", "exp", "--dtype", "float64", "--cases", "3")
    check(r.returncode == 0 and rep.get("seed") == "18446744073709551615", "--seed 2^64-1 is accepted")
    for bad_seed in ("18446744073709551616", "abc", "-1", ""):
        r = run("--seed", bad_seed, "--list")
        check(r.returncode == 2 and r.stderr.count("--seed") == 1 and "18446744073709551615" in r.stderr,
              f"--seed {bad_seed!r}: exit 2, said once ({r.stderr.strip()[:200]})")

    # Options take one value each: a path after --task, --op or --dtype is a path.
    listed = run("--task", "fixture/planted/*", wrong_expect, "--list").stdout.split()
    check(listed == ["fixture/planted/wrong-expect"], f"--task ID FILE: FILE is a fixture path ({listed})")
    listed = run("--op", "exp", wrong_expect, "--dtype", "float64", wrong_gradient, "--task", "fixture/planted/*",
                 "--list", prog=planted).stdout.split()
    check(listed == ["fixture/planted/wrong-expect", "fixture/planted/wrong-gradient", "op/exp/float64"],
          f"--op NAME FILE, --dtype D FILE: FILE is a fixture path ({listed})")

    # A run that checks no case is not a pass: exit 5, said.
    r, rep = report("--task", "program/*", "--time", "0.000001")
    check(r.returncode == 5 and rep.get("exit_code") == 5 and rep["summary"]["cases"] == 0 and
          "nothing was checked" in r.stderr, f"0 cases: exit 5, not a pass (got {r.returncode})")

    # --help states the default budgets the run plans (the op sweep after its reference inputs).
    helped = re.search(r"default: (\d+) per op and dtype, after its reference inputs; (\d+) per program sweep; "
                       r"(\d+) per structural property", run("--help").stdout)
    _, rep = report("--task", "op/exp/float64", "--task", "program/float64", "--task", "structural/split_batch/float64",
                    "--time", "0.000001")
    planned = {t["kind"]: t["planned"] - t.get("references", 0) for t in rep["tasks"]}
    check(helped and [int(n) for n in helped.groups()] == [planned.get(k) for k in ("op", "program", "structural")],
          f"check --help states the default budgets ({helped and helped.groups()} vs planned {planned})")

    # The example database, as Hypothesis keeps one: a run re-runs the cases earlier runs saved
    # in the counterexample directory first, before drawing new ones, and reports them.
    db = os.path.join(tmp, "db")
    focus = ["--op", "broken_softmax", "--dtype", "float64", "--cases", "25", "--counterexamples", db]
    r, first = report(*focus, "--seed", "3", prog=planted)
    saved = os.path.join(db, "op-broken_softmax-float64.json")
    check(r.returncode == 1 and os.path.isfile(saved) and [t.get("saved") for t in first["tasks"]] == [0],
          "a failure saves its shrunk case in the counterexample directory")
    r, again = report(*focus, "--seed", "4", prog=planted)
    t = again["tasks"][0] if len(again["tasks"]) == 1 else {}
    check(r.returncode == 1 and t.get("saved") == 1 and t.get("cases") == 1 and t.get("fixture") == saved
          and "rc_params" not in t and "fails again" in t.get("message", ""),
          f"the next run re-runs the saved case first: it fails again before any new case ({t.get('message', '')[:120]})")
    check(again["summary"].get("saved_failed") == 1 and f"1 saved case from {db} re-run first: 1 failed again" in r.stderr,
          "the summary reports the saved case")
    db = os.path.join(tmp, "db-pass")
    os.makedirs(db)
    shutil.copy(os.path.join(examples, "spec-example.json"), os.path.join(db, "op-exp-float64.json"))
    with open(os.path.join(db, "program-float64.json"), "w") as f:
        f.write("{")
    # Saved by a generator that did not yet keep away from pow's declared kink at exponent 0:
    # PyTorch's masked double backward there gives 0 where finite differences give 1/x.
    kink_case = {
        "format": "gradoracle.fixture/1", "name": "counterexample/program", "dtype": "float64",
        "source": {"engine": "gradoracle", "generator": "properties"},
        "tensors": {"x0": {"shape": [2], "data": [0.25, 0.5], "requires_grad": True},
                    "x1": {"shape": [2], "data": [0.0, 0.0], "requires_grad": True},
                    "up0": {"shape": [2], "fill": 1.0, "requires_grad": True}},
        "program": [
            {"let": "y0", "op": "pow", "args": ["x0", "x1"]},
            {"let": ["d0", "d1"], "grad_of": "y0", "wrt": ["x0", "x1"], "grad_outputs": "up0", "create_graph": True},
            {"backward": "d0", "grad": {"shape": [2], "fill": 1.0}, "retain_graph": True},
            {"backward": "d1", "grad": {"shape": [2], "fill": 1.0}, "retain_graph": True}]}
    with open(os.path.join(db, "program2-float64.json"), "w") as f:
        json.dump(kink_case, f)
    r, rep = report("--task", "op/exp/float64", "--task", "program/float64", "--task", "program2/float64", "--cases", "5",
                    "--counterexamples", db)
    by_id = {t["id"]: t for t in rep["tasks"]}
    exp_task, program_task = by_id.get("op/exp/float64", {}), by_id.get("program/float64", {})
    kink_task = by_id.get("program2/float64", {})
    check(kink_task.get("status") == "pass" and kink_task.get("saved") == 0
          and "declared kink" in " ".join(kink_task.get("saved_not_judged", []))
          and "saved case not judged" in r.stderr,
          "a saved case at a point its property now draws again at (a declared kink) is reported, not judged")
    replayed = subprocess.run([exe, "gradcheck", os.path.join(db, "program2-float64.json")], capture_output=True, text=True)
    check(replayed.returncode == 1, "that case does fail gradcheck: not judging it is what keeps the run from failing")
    check(r.returncode == 0 and exp_task.get("saved") == 1 and exp_task.get("cases") == 1 + exp_task.get("references", 0) + 5,
          "a saved case that passes now is re-run and counted, and the search runs as asked")
    check(program_task.get("saved") == 0 and "program-float64.json" in " ".join(program_task.get("saved_unreadable", []))
          and "saved case not re-run: " + os.path.join(db, "program-float64.json") in r.stderr,
          "an unreadable saved case is reported, not re-run")

    # --maxfail N, -x: stop after N failed tasks; the rest are reported as not run.
    mf = ["--dtype", "float64", "--cases", "20", "--seed", "3", "--counterexamples", os.path.join(tmp, "mf")]
    junit = os.path.join(tmp, "maxfail.xml")
    r, rep = report(*mf, "--maxfail", "2", "--junit", junit, prog=planted)
    statuses = [t["status"] for t in rep["tasks"]]
    listed = run("--list", *mf, prog=planted).stdout.split()
    check(r.returncode == 1 and statuses.count("fail") == 2 and statuses[-1:] == ["fail"] and rep.get("not_run")
          and [t["id"] for t in rep["tasks"]] + rep["not_run"] == listed and rep["summary"]["not_run"] == len(rep["not_run"]),
          f"--maxfail 2: two failed tasks, then the rest not run ({statuses.count('fail')} failed, {len(rep.get('not_run', []))} not run)")
    check(f"stopped after 2 failed tasks (--maxfail 2): {len(rep.get('not_run', []))} not run" in r.stderr,
          "--maxfail: the summary says what was not run")
    skipped = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("skipped") is not None] \
        if os.path.exists(junit) else []
    check(junit_ok(junit) and skipped == rep.get("not_run"), "--maxfail: --junit lists the tasks not run as skipped")
    r, rep = report(*mf, "-x", prog=planted)
    statuses = [t["status"] for t in rep["tasks"]]
    check(r.returncode == 1 and statuses.count("fail") == 1 and statuses[-1:] == ["fail"] and rep.get("not_run"),
          "-x: stops at the first failed task")
    r = run("-x", "--maxfail", "2", prog=planted)
    check(r.returncode == 2 and "--maxfail" in r.stderr, "-x with --maxfail is a usage error")

    # The default counterexample directory: counterexamples/ in the binary's build directory
    # (the nearest holding CMakeCache.txt), whatever the current directory; for an installed
    # binary, the user's cache. Each case runs a copy of the planted build from elsewhere.
    env = {k: v for k, v in os.environ.items() if k != "GRADORACLE_COUNTEREXAMPLE_DIR"}
    tree = os.path.join(tmp, "tree", "build")
    os.makedirs(os.path.join(tree, "tests", "cli"))
    open(os.path.join(tree, "CMakeCache.txt"), "w").close()
    prefix_bin, elsewhere, cache = (os.path.join(tmp, d) for d in ("prefix/bin", "elsewhere", "cache"))
    os.makedirs(prefix_bin)
    os.makedirs(elsewhere)
    for what, where, expected, extra in (
            ("a build tree's binary", os.path.join(tree, "tests", "cli"), os.path.join(tree, "counterexamples"), {}),
            ("an installed binary", prefix_bin, os.path.join(cache, "gradoracle", "counterexamples"),
             {"XDG_CACHE_HOME": cache})):
        copy = shutil.copy2(planted, where)
        r = subprocess.run([copy, "check", "--op", "broken_softmax", "--dtype", "float64", "--cases", "25",
                            "--seed", "3", "--json"], cwd=elsewhere, env={**env, **extra},
                           capture_output=True, text=True, timeout=120)
        try:
            written = [t.get("fixture", "") for t in json.loads(r.stdout)["tasks"] if t["status"] == "fail"]
        except (json.JSONDecodeError, KeyError):
            written = []
        check(r.returncode == 1 and len(written) == 1 and os.path.isfile(written[0])
              and os.path.dirname(os.path.realpath(written[0])) == os.path.realpath(expected),
              f"{what}: counterexamples go to {expected} ({written})")
    check(os.listdir(elsewhere) == [], "nothing is written under the current directory")

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
    def drawn(rep):  # fixtures draw no cases: the same whatever the seed
        return [r for r, t in zip(results(rep), rep["tasks"]) if t["kind"] != "fixture"]
    check(sum(a != b for a, b in zip(drawn(whole), drawn(other))) > len(drawn(whole)) // 2,
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
    # (text mode reads \r as \n; [k/2]: k tasks started, in whichever order two workers start them)
    check(re.search(r"\033\[K\[[12]/2\] op/exp/float64", r.stdout) is not None, "--progress redraws a line in place")
    r = run("--op", "exp", "--cases", "3")
    check("\033" not in r.stdout and "PASS op/exp/float64  3 cases" in r.stdout, "not a terminal: plain lines")
    # On a terminal 40 columns wide: every redraw fits (a wrapped line cannot be redrawn in
    # place), and a long task is redrawn while it runs, its case count moving.
    out = run_on_terminal("--task", "program/float64", "--task", "op/softmax/float64", "--cases", "2000", columns=40)
    draws = progress_draws(out)
    check(draws and all(len(d) <= 39 for d in draws),
          f"on a 40-column terminal every progress line fits ({max(map(len, draws), default=0)} columns at most)")
    within = {}
    for d in draws:
        within.setdefault(d.split()[1] if len(d.split()) > 1 else "", set()).add(d)
    check(len(within.get("program/float64", ())) >= 3,
          f"the progress line is redrawn while a task runs ({len(within.get('program/float64', ()))} distinct draws)")
    r = subprocess.run([exe, "check", "--op", "exp", "--cases", "3", "--progress"], capture_output=True,
                       env={**os.environ, "COLUMNS": "30"}, timeout=60)
    draws = progress_draws(r.stdout.decode())
    check(draws and all(len(d) <= 29 for d in draws), "not a terminal: --progress fits $COLUMNS")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
