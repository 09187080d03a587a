"""The tools that need PyTorch under a Python without it (tools/torch_python.py): one line on
stderr and exit 2, or a re-exec under the Python that has it. `-S` (no site-packages) stands
for a Python without torch; GRADORACLE_TORCH_PYTHON names the one to re-exec under."""
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = ROOT / "tools"
# Every tool that imports torch, numpy or torch_fixture (which imports both).
NEEDS_TORCH = sorted(p for p in TOOLS.glob("*.py")
                     if re.search(r"^\s*import (torch|numpy|torch_fixture)\b", p.read_text(), re.M))


def run_without_torch(tool, *args, torch_python):
    env = dict(os.environ, GRADORACLE_TORCH_PYTHON=torch_python)
    env.pop("GRADORACLE_TORCH_REEXEC", None)
    return subprocess.run([sys.executable, "-S", str(tool), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


class MissingTorch(unittest.TestCase):
    def test_the_tools_are_found(self):
        names = {p.name for p in NEEDS_TORCH}
        self.assertTrue({"torch_fixture.py", "checker_throughput.py", "nonfinite_fixtures.py"} <= names, names)

    def test_one_line_and_exit_2_when_no_python_has_torch(self):
        for tool in NEEDS_TORCH:
            with self.subTest(tool=tool.name):
                r = run_without_torch(tool, "--help", torch_python="/nonexistent/python3")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                lines = r.stderr.splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(f"{tool.name}: needs PyTorch", lines[0])
                self.assertIn("no module named", lines[0])
                self.assertIn("/nonexistent/python3 (not found)", lines[0])

    def test_reexecuted_under_the_python_that_has_torch(self):
        tutorial = ROOT / "corpus" / "tutorial" / "1-simple-example.json"
        self.assertTrue(tutorial.is_file(), tutorial)
        r = run_without_torch(TOOLS / "torch_fixture.py", "replay", str(tutorial), torch_python=sys.executable)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("PASS"), r.stdout)


if __name__ == "__main__":
    unittest.main()
