#!/usr/bin/env python3
"""What the CLI says when something is wrong, and that it says it before doing any work: bounds
printed readably, an option named once, unknown subcommands named, unwritable reports refused up
front with the path and the reason, nothing created on bad input, counts with their plural, and
--json messages without RapidCheck's source lines.

usage: test_messages.py GRADORACLE GRADORACLE_PLANTED SOURCE_DIR"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import check, failures  # noqa: E402

exe, planted, src = sys.argv[1], sys.argv[2], sys.argv[3]
tutorial = os.path.join(src, "corpus", "tutorial")
simple = os.path.join(tutorial, "1-simple-example.json")
check(os.path.isfile(simple), f"{simple} exists")


def run(*args, prog=None):
    return subprocess.run([prog or exe, *args], capture_output=True, text=True, timeout=120)


def said(r):
    return r.stdout + r.stderr


with tempfile.TemporaryDirectory() as tmp:
    # Bounds readably: the bound itself, not the largest double's 309 digits.
    for args, expected in ((["gradcheck", "--eps", "-1", simple], '--eps: expected a number > 0, got "-1"'),
                           (["gradcheck", "--atol", "-1e-3", simple], '--atol: expected a number >= 0, got "-1e-3"'),
                           (["check", "--time", "0"], '--time: expected a number > 0, got "0"')):
        r = run(*args)
        check(r.returncode == 2 and expected in r.stderr and not re.search(r"\d{20}", said(r)),
              f"{args} exits 2 with {expected!r} ({said(r).strip()[:200]!r})")

    # An option's name once.
    r = run("check", "--seed", "abc")
    check(r.returncode == 2 and r.stderr.count("--seed") == 1 and 'got "abc"' in r.stderr,
          f"--seed abc names --seed once ({r.stderr.strip()!r})")

    # Subcommands: an unknown one is named, and the valid ones are listed.
    subcommands = "replay, gradcheck, generate, serve, ops, check"
    r = run("nope", simple)
    check(r.returncode == 2 and 'unknown subcommand "nope"' in r.stderr and subcommands in r.stderr
          and "A subcommand is required" not in r.stderr, f"an unknown subcommand is named ({r.stderr.strip()!r})")
    r = run()
    check(r.returncode == 2 and "a subcommand is required" in r.stderr and subcommands in r.stderr,
          f"no subcommand: the valid ones are listed ({r.stderr.strip()!r})")

    # Reports that cannot be written: refused before any work (nothing printed, nothing created),
    # naming the path given and the reason.
    a_dir = os.path.join(tmp, "a-dir.xml")
    os.mkdir(a_dir)
    missing = os.path.join(tmp, "missing", "report.xml")
    gen_out = os.path.join(tmp, "gen")
    for name, args in (("replay", ["replay", simple]), ("gradcheck", ["gradcheck", simple]),
                       ("generate", ["generate", "--op", "add", "--out", gen_out]), ("ops", ["ops"]),
                       ("check", ["check", "--cases", "1"])):
        for target, reason in ((a_dir, "it is a directory"), (missing, "no such directory " + os.path.dirname(missing))):
            r = run(*args, "--junit", target)
            expected = f"gradoracle: --junit: cannot write {target}: {reason}"
            check(r.returncode == 2 and r.stderr.strip() == expected and r.stdout == "",
                  f"{name} --junit {os.path.basename(target)}: exit 2 before any work, with {expected!r} "
                  f"(got {r.returncode}: {said(r).strip()[:200]!r})")
    check(not os.path.exists(gen_out), "generate with an unwritable --junit creates no --out folder")
    check(sorted(os.listdir(tmp)) == ["a-dir.xml"] and os.listdir(a_dir) == [], "nothing was written anywhere")

    # generate refuses bad input before creating its folder.
    r = run("generate", "--op", "nosuch", "--out", gen_out)
    check(r.returncode == 2 and 'unknown op "nosuch"' in r.stderr and not os.path.exists(gen_out),
          f"generate --op nosuch exits 2 and creates no folder ({r.stderr.strip()!r})")

    # Counts with their plural.
    r = run("check", "--task", "program/float64", "--cases", "1")
    check(r.returncode == 0 and "check: 1 task, seed 1, 1 case per property" in r.stdout and "1 task: 1 passed" in r.stdout
          and not re.search(r"\b1 (tasks|cases)\b", r.stdout), f"one task, one case: singular ({r.stdout[:300]!r})")
    r = run("check", "--task", "program/float64", "--time", "0.01")
    check("1 of 1 task stopped early" in r.stdout and not re.search(r"\b1 tasks\b", r.stdout),
          f"one task out of time: singular ({r.stdout[-300:]!r})")

    # --json: the message is the diagnosis, without RapidCheck's source lines (the text report drops them too).
    r = run("check", "--op", "broken_softmax", "--dtype", "float64", "--cases", "25", "--seed", "3", "--json",
            "--counterexamples", os.path.join(tmp, "ce"), prog=planted)
    tasks = [t for t in json.loads(r.stdout)["tasks"] if t["status"] == "fail"] if r.returncode == 1 else []
    check(len(tasks) == 1, f"the planted op fails (exit {r.returncode})")
    for t in tasks:
        message = t["message"]
        check("gradcheck FAILED" in message and not re.search(r"\.cpp:\d+", message) and "RC_FAIL" not in message,
              f"--json message without source lines ({message[:300]!r})")
        check(message.splitlines()[0] in r.stderr, "the JSON message is the diagnosis the text report prints")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
