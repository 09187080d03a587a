"""Shared by the CLI tests: a check that records failures, and a JUnit validator (xmllint
against tests/cli/junit.xsd, then the counts against the test cases)."""
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

failures = []
JUNIT_XSD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "junit.xsd")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def junit_problems(path):
    """What is wrong with the JUnit report at `path`: the schema's verdict, then whether each
    suite's counts are its test cases', it says when it ran, and times have three decimals
    (gradoracle writes %.3f). [] when nothing is."""
    if not shutil.which("xmllint"):
        return ["xmllint not found: install libxml2-utils (tools/install-deps.sh)"]
    r = subprocess.run(["xmllint", "--noout", "--schema", JUNIT_XSD, path], capture_output=True, text=True)
    if r.returncode != 0:
        return [r.stderr.strip()]
    root = ET.parse(path).getroot()
    problems = []
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        counts = {"tests": len(cases)}
        for outcome in ("failures", "errors", "skipped"):
            tag = outcome if outcome == "skipped" else outcome[:-1]
            counts[outcome] = sum(c.find(tag) is not None for c in cases)
        for key, n in counts.items():
            totals[key] += n
            if suite.get(key) != str(n):
                problems.append(f"testsuite {suite.get('name')}: {key}=\"{suite.get(key)}\" but {n} test cases say so")
        if suite.get("timestamp") is None:
            problems.append(f"testsuite {suite.get('name')}: no timestamp")
    for e in root.iter():
        if "time" in e.attrib and not re.fullmatch(r"[0-9]+\.[0-9]{3}", e.get("time")):
            problems.append(f"{e.tag} {e.get('name')}: time=\"{e.get('time')}\" is not %.3f")
    for key, n in totals.items():
        if root.get(key) != str(n):
            problems.append(f"testsuites: {key}=\"{root.get(key)}\" but its suites hold {n}")
    return problems


def junit_ok(path):
    problems = junit_problems(path)
    for p in problems:
        print("     " + p)
    return not problems


def junit_properties(path):
    """The first suite's <properties> as a dict."""
    suite = ET.parse(path).getroot().find("testsuite")
    return {p.get("name"): p.get("value") for p in suite.iter("property")}
