"""Shared by the CLI tests: a check that records failures, and a JUnit validator (xmllint)."""
import shutil
import subprocess
import xml.etree.ElementTree as ET

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def junit_ok(path):
    if shutil.which("xmllint"):
        r = subprocess.run(["xmllint", "--noout", path], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr)
            return False
    root = ET.parse(path).getroot()
    return root.tag == "testsuites" and root.find("testsuite") is not None
