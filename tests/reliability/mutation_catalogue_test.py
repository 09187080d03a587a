#!/usr/bin/env python3
"""tools/mutation.py without a build: the catalogue is valid against the real sources, every
mutant applies to exactly its anchor, and a stale, ambiguous or malformed entry is refused by
id with exit 2.

    python3 tests/reliability/mutation_catalogue_test.py <repository root>
"""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(sys.argv.pop(1) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
TOOL = ROOT / "tools" / "mutation.py"
sys.path.insert(0, str(ROOT / "tools"))
import mutation  # noqa: E402

CATEGORIES = {"backward", "forward", "reduction", "broadcast", "autograd", "accumulation", "detach", "nn",
              "layout", "stability"}


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60)


def entry(id_, file, anchor, replacement):
    return f"[[mutant]]\nid = {id_!r}\ncategory = 'backward'\nfile = {file!r}\nanchor = '''{anchor}'''\nreplacement = '''{replacement}'''\n"


class Catalogue(unittest.TestCase):
    def setUp(self):
        self.mutants = mutation.load_catalogue(mutation.DEFAULT_CATALOGUE)

    def test_at_least_80_mutants_over_the_engine_in_known_categories(self):
        self.assertGreaterEqual(len(self.mutants), 80)
        for m in self.mutants:
            self.assertTrue(m.file.startswith("engine/"), m.id)
            self.assertIn(m.category, CATEGORIES, m.id)

    def test_every_anchor_occurs_once_in_the_real_sources(self):
        self.assertEqual(mutation.stale_anchors(self.mutants, ROOT), [])
        result = run_tool("--validate")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_each_mutant_changes_its_file_at_its_anchor_only(self):
        for m in self.mutants:
            text = (ROOT / m.file).read_text(encoding="utf-8")
            mutated = mutation.apply(text, m)
            self.assertNotEqual(mutated, text, m.id)
            start = text.index(m.anchor)
            self.assertEqual(mutated[:start], text[:start], m.id)
            self.assertEqual(mutated[start + len(m.replacement):], text[start + len(m.anchor):], m.id)

    def test_an_edit_elsewhere_in_the_file_keeps_the_anchors(self):
        with tempfile.TemporaryDirectory() as tmp:
            for m in self.mutants:
                copy = Path(tmp) / m.file
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_text("// an edit above\n" + (ROOT / m.file).read_text(encoding="utf-8") + "\n// below\n")
            self.assertEqual(mutation.stale_anchors(self.mutants, Path(tmp)), [])

    def test_selection_by_glob_and_category(self):
        chosen = mutation.select(self.mutants, ["softmax-*"], [])
        self.assertTrue(chosen)
        self.assertTrue(all(m.id.startswith("softmax-") for m in chosen))
        nn = mutation.select(self.mutants, [], ["nn"])
        self.assertTrue(nn and all(m.category == "nn" for m in nn))


class Reporting(unittest.TestCase):
    def test_ctest_failures_are_read_by_name(self):
        output = ("50% tests passed, 2 tests failed out of 4\n\nLabel Time Summary:\n  cli = 1.0 sec\n\n"
                  "The following tests FAILED:\n\t  3 - engine.Autograd.fan_in (Failed)\n"
                  "\t 12 - cli.end_to_end (Timeout)\nErrors while running CTest\n")
        self.assertEqual(mutation.failed_tests(output), {"engine.Autograd.fan_in", "cli.end_to_end"})
        self.assertEqual(mutation.failed_tests("100% tests passed, 0 tests failed out of 4\n"), set())

    def test_kill_rates_leave_out_stillborn_and_equivalent_mutants(self):
        O = mutation.Outcome
        outcomes = [O("a", "nn", "", "killed-by-gate"), O("b", "nn", "", "killed-by-ctest", ["t"]),
                    O("c", "nn", "", "stillborn"), O("d", "nn", "same values", "survived"),
                    O("e", "layout", "", "survived")]
        text = mutation.table(outcomes, ctest_ran=True)
        self.assertRegex(text, r"nn\s+4\s+1\s+1\s+1/2 \(50%\)\s+2/2 \(100%\)")
        self.assertRegex(text, r"all\s+5\s+1\s+1\s+1/3 \(33%\)\s+2/3 \(67%\)")
        survivors = mutation.survivors_text(outcomes)
        self.assertIn("e [layout]: survived gate and ctest", survivors)
        self.assertIn("d [nn]: survived gate and ctest; equivalent: same values", survivors)
        self.assertIn("b [nn]: survived the gate, killed by t", survivors)


    def test_merged_reports_fill_the_ctest_column_once_every_gate_survivor_had_its_ctest(self):
        mutant = mutation.load_catalogue(mutation.DEFAULT_CATALOGUE)
        live = [m for m in mutant if not m.equivalent][:2]

        def report(path, gate_only, statuses):
            doc = {"seed": 1, "gate_only": gate_only, "complete": True,
                   "mutants": [{"id": m.id, "category": m.category, "status": st, "killers": ["t"] if st.startswith("killed") else [],
                                "detail": "", "equivalent": None, "seconds": 1.0} for m, st in zip(live, statuses)]}
            path.write_text(json.dumps(doc))
            return str(path)

        with tempfile.TemporaryDirectory() as tmp:
            gate = report(Path(tmp) / "gate.json", True, ["killed-by-gate", "gate-survived"])
            alone = run_tool("--report", gate)
            self.assertIn("(not run)", alone.stdout, alone.stderr)
            ctest = report(Path(tmp) / "ctest.json", False, ["killed-by-gate", "killed-by-ctest"])
            merged = run_tool("--report", gate, "--report", ctest)
            self.assertRegex(merged.stdout, r"all\s+\d+\s+0\s+0\s+1/2 \(50%\)\s+2/2 \(100%\)", merged.stderr)


class Refusals(unittest.TestCase):
    def check_refused(self, text, *expected):
        with tempfile.TemporaryDirectory() as tmp:
            cat = Path(tmp) / "mutants.toml"
            cat.write_text(text)
            result = run_tool("--validate", "--catalogue", str(cat))
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        for e in expected:
            self.assertIn(e, result.stderr)

    def test_a_stale_anchor_is_named_by_id(self):
        good = entry("good", "engine/src/nn.cpp", "grad.fill_(0.0);", "grad.fill_(1.0);")
        stale = entry("planted-stale", "engine/src/nn.cpp", "grad.fill_(42.0);", "grad.fill_(1.0);")
        self.check_refused(good + stale, "stale anchor: planted-stale: anchor not found in engine/src/nn.cpp")

    def test_an_ambiguous_anchor_is_named_by_id(self):
        twice = entry("planted-twice", "engine/src/ops_elementwise.cpp", "NeedsGrad", "NeedsGradX")
        self.check_refused(twice, "planted-twice: anchor found")

    def test_a_missing_file_key_or_duplicate_id(self):
        self.check_refused(entry("x", "engine/src/no_such_file.cpp", "a", "b"), "x: cannot read engine/src/no_such_file.cpp")
        self.check_refused("[[mutant]]\nid = 'y'\ncategory = 'nn'\n", "mutant #1 (y): missing or empty file, anchor, replacement")
        dup = entry("z", "engine/src/nn.cpp", "grad.fill_(0.0);", "grad.fill_(1.0);")
        self.check_refused(dup + dup, "mutant id z appears twice")

    def test_a_stale_anchor_stops_a_run_before_any_build(self):
        stale = entry("planted-stale", "engine/src/nn.cpp", "grad.fill_(42.0);", "grad.fill_(1.0);")
        with tempfile.TemporaryDirectory() as tmp:
            cat = Path(tmp) / "mutants.toml"
            cat.write_text(stale)
            result = run_tool("--catalogue", str(cat), "--work", str(Path(tmp) / "work"))
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn("planted-stale", result.stderr)
            self.assertFalse((Path(tmp) / "work").exists())


if __name__ == "__main__":
    unittest.main(verbosity=1)
