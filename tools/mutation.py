#!/usr/bin/env python3
"""Mutation testing of the engine: how many planted one-line bugs the gate and ctest catch.

Reads the catalogue (tools/mutants.toml: id, category, file, anchor, replacement, optional
`equivalent`), checks that every anchor occurs exactly once in its file (a stale anchor is
named by id, exit 2), then for each selected mutant:

  1. writes the mutated file into a scratch copy of the source tree (the working tree is never
     touched; the copy is refreshed from it at start, so it mutates what you have);
  2. builds `gradoracle` incrementally in the scratch build directory (Ninja, ccache when
     present): a mutant that does not compile is *stillborn* and not counted;
  3. runs the gate (`gradoracle check` with its default budgets, --seed S): any failure kills;
  4. for the gate's survivors (unless --gate-only), builds everything and runs ctest (labels
     torch and valgrind excluded by default): a test that fails here but passed on the
     unmutated tree kills;
  5. restores the file.

Before the mutants, the unmutated tree is built and gated (and, when ctest will run, tested):
a baseline failure stops the run (exit 2), since kills against it would mean nothing.

Prints kill rates per category for the gate and for gate + ctest over the non-equivalent,
non-stillborn mutants, lists the survivors with their equivalence argument if any, and with
--json FILE writes every mutant's outcome. Exit: 0 run complete, 1 a non-equivalent mutant
survived gate + ctest, 2 bad catalogue/usage/baseline.

    tools/mutation.py --list
    tools/mutation.py --only 'softmax-*' --only relu-backward-at-zero --gate-only
    tools/mutation.py --category nn --jobs 2 --json mutation.json
    tools/mutation.py --validate            # catalogue only, no build (the ctest self-test)
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CATALOGUE = REPO / "tools" / "mutants.toml"
DEFAULT_WORK = REPO / "build-mutation"
REQUIRED_KEYS = ("id", "category", "file", "anchor", "replacement")


class CatalogueError(Exception):
    """The catalogue cannot be used (bad TOML, missing keys, duplicate ids, stale anchors)."""


@dataclass
class Mutant:
    id: str
    category: str
    file: str
    anchor: str
    replacement: str
    equivalent: str = ""


@dataclass
class Outcome:
    id: str
    category: str
    equivalent: str
    status: str = "not run"      # stillborn | killed-by-gate | killed-by-ctest | survived | gate-survived | error
    killers: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------- catalogue
def load_catalogue(path: Path) -> list[Mutant]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CatalogueError(f"{path}: {e}") from e
    entries = data.get("mutant")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{path}: no [[mutant]] entries")
    mutants, seen = [], set()
    for n, entry in enumerate(entries, 1):
        missing = [k for k in REQUIRED_KEYS if not isinstance(entry.get(k), str) or not entry.get(k)]
        if missing:
            raise CatalogueError(f"{path}: mutant #{n} ({entry.get('id', 'no id')}): missing or empty {', '.join(missing)}")
        unknown = set(entry) - set(REQUIRED_KEYS) - {"equivalent"}
        if unknown:
            raise CatalogueError(f"{path}: mutant {entry['id']}: unknown key(s) {', '.join(sorted(unknown))}")
        if entry["id"] in seen:
            raise CatalogueError(f"{path}: mutant id {entry['id']} appears twice")
        if entry["anchor"] == entry["replacement"]:
            raise CatalogueError(f"{path}: mutant {entry['id']}: replacement equals the anchor")
        seen.add(entry["id"])
        mutants.append(Mutant(**{k: entry[k] for k in entry}))
    return mutants


def stale_anchors(mutants: list[Mutant], root: Path) -> list[str]:
    """One line per mutant whose anchor does not occur exactly once in its file under root."""
    problems, texts = [], {}
    for m in mutants:
        if m.file not in texts:
            try:
                texts[m.file] = (root / m.file).read_text(encoding="utf-8")
            except OSError as e:
                texts[m.file] = e
        text = texts[m.file]
        if isinstance(text, OSError):
            problems.append(f"{m.id}: cannot read {m.file}: {text.strerror}")
            continue
        count = text.count(m.anchor)
        if count != 1:
            where = "not found" if count == 0 else f"found {count} times"
            problems.append(f"{m.id}: anchor {where} in {m.file}: {m.anchor.splitlines()[0][:80]!r}")
    return problems


def apply(text: str, m: Mutant) -> str:
    """text with m's anchor (which must occur exactly once) replaced."""
    if text.count(m.anchor) != 1:
        raise CatalogueError(f"{m.id}: anchor does not occur exactly once in {m.file}")
    return text.replace(m.anchor, m.replacement, 1)


def select(mutants: list[Mutant], only: list[str], categories: list[str]) -> list[Mutant]:
    chosen = mutants
    if only:
        chosen = [m for m in chosen if any(fnmatch.fnmatchcase(m.id, pattern) for pattern in only)]
    if categories:
        chosen = [m for m in chosen if m.category in categories]
    return chosen


# ---------------------------------------------------------------- scratch tree and build
def refresh_scratch(src: Path) -> None:
    """Copies the repository's tracked files into src, rewriting only files whose content
    differs (unchanged files keep their mtime, so the next build stays incremental)."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], check=True, capture_output=True).stdout
    for rel in filter(None, listed.decode().split("\0")):
        origin, copy = REPO / rel, src / rel
        if not origin.is_file():
            continue  # deleted in the working tree
        data = origin.read_bytes()
        if copy.is_file() and copy.read_bytes() == data:
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        shutil.copymode(origin, copy)


def configure(src: Path, build: Path, log) -> None:
    if (build / "build.ninja").exists():
        return
    cmd = ["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
           "-DGRADORACLE_WERROR=ON"]
    if shutil.which("ccache"):
        cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    run_logged(cmd, log, check=True)


def build(build_dir: Path, targets: list[str] | None, log) -> bool:
    cmd = ["cmake", "--build", str(build_dir), "-j", str(os.environ.get("GRADORACLE_MUTATION_BUILD_JOBS", "2"))]
    for t in targets or []:
        cmd += ["--target", t]
    return run_logged(cmd, log).returncode == 0


def run_logged(cmd: list[str], log, check: bool = False, timeout: float | None = None):
    print("$ " + " ".join(cmd), file=log, flush=True)
    result = run_group(cmd, timeout, merge=True)
    log.write(result.stdout)
    log.flush()
    if check and result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {' '.join(cmd)}")
    return result


def run_group(cmd: list[str], timeout: float | None, merge: bool = False) -> subprocess.CompletedProcess:
    """subprocess.run in a process group of its own, the whole group killed on a timeout or when
    this tool is interrupted (a build's compilers do not outlive it)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# ---------------------------------------------------------------- gate and ctest
def run_gate(build_dir: Path, seed: int, timeout: float, work: Path, log) -> tuple[bool, list[str], str]:
    """(passed, failing task ids, detail). A crash, a timeout or an exit other than 0 fails. The
    counterexample folder starts empty: the gate re-runs saved cases first, and a case saved under
    one mutant must not count as a kill of the next."""
    shutil.rmtree(work / "counterexamples", ignore_errors=True)
    cmd = [str(build_dir / "gradoracle"), "check", "--seed", str(seed), "--json", "--no-progress",
           "--counterexamples", str(work / "counterexamples")]
    try:
        result = run_group(cmd, timeout)
    except subprocess.TimeoutExpired:
        return False, ["(timeout)"], f"gate still running after {timeout:.0f} s"
    print("$ " + " ".join(cmd) + f"  -> exit {result.returncode}", file=log, flush=True)
    log.write(result.stderr[-20000:])
    if result.returncode == 0:
        return True, [], ""
    failing, detail = [], f"exit {result.returncode}"
    try:
        report = json.loads(result.stdout)
        failing = [t["id"] for t in report.get("tasks", []) if "message" in t]
        failing += [f"error: {e.get('file')}" for e in report.get("errors", [])]
        first = next((t for t in report.get("tasks", []) if "message" in t), None)
        if first:
            detail += ": " + first["message"].splitlines()[0][:160]
    except (json.JSONDecodeError, TypeError, KeyError):
        detail += " (no JSON report: crashed?) " + result.stderr.strip().splitlines()[-1][:160] if result.stderr.strip() else ""
    return False, failing or [f"(exit {result.returncode})"], detail


def failed_tests(ctest_output: str) -> set[str]:
    """The names ctest lists under "The following tests FAILED:" ("  12 - name (Failed)")."""
    failed, in_list = set(), False
    for line in ctest_output.splitlines():
        if line.startswith("The following tests FAILED:"):
            in_list = True
            continue
        if in_list:
            parts = line.strip().split(" - ", 1)
            if len(parts) == 2 and parts[0].strip().isdigit():
                failed.add(parts[1].rsplit(" (", 1)[0].strip())
            elif line.strip():
                in_list = False
    return failed


def run_ctest(build_dir: Path, jobs: int, exclude: str, timeout: float, log) -> set[str]:
    """Names of the tests that failed (or timed out). Counterexamples a previous mutant's run saved
    in the build tree are removed first (tests that run the gate re-run them)."""
    shutil.rmtree(build_dir / "counterexamples", ignore_errors=True)
    cmd = ["ctest", "--test-dir", str(build_dir), "-j", str(jobs), "--timeout", str(int(timeout))]
    if exclude:
        cmd += ["-LE", exclude]
    result = run_logged(cmd, log)
    failed = failed_tests(result.stdout)
    if result.returncode != 0 and not failed:
        failed.add(f"(ctest exit {result.returncode})")
    return failed


# ---------------------------------------------------------------- report
def rate(killed: int, total: int) -> str:
    return f"{killed}/{total} ({100.0 * killed / total:.0f}%)" if total else "-"


def table(outcomes: list[Outcome], ctest_ran: bool) -> str:
    counted = [o for o in outcomes if o.status not in ("stillborn", "not run", "error") and not o.equivalent]
    categories = sorted({o.category for o in outcomes})
    rows = [("category", "mutants", "stillborn", "equivalent", "gate kills", "gate+ctest kills")]
    for cat in categories + ["all"]:
        mine = [o for o in outcomes if cat == "all" or o.category == cat]
        live = [o for o in counted if cat == "all" or o.category == cat]
        gate = sum(o.status == "killed-by-gate" for o in live)
        both = gate + sum(o.status == "killed-by-ctest" for o in live)
        rows.append((cat, str(len(mine)), str(sum(o.status == "stillborn" for o in mine)),
                     str(sum(bool(o.equivalent) for o in mine)), rate(gate, len(live)),
                     rate(both, len(live)) if ctest_ran else "(not run)"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def survivors_text(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.status in ("survived", "gate-survived"):
            what = "survived gate and ctest" if o.status == "survived" else "survived the gate (ctest not run)"
            lines.append(f"  {o.id} [{o.category}]: {what}" + (f"; equivalent: {o.equivalent}" if o.equivalent else ""))
        elif o.status == "killed-by-ctest":
            lines.append(f"  {o.id} [{o.category}]: survived the gate, killed by {', '.join(sorted(o.killers)[:4])}")
    return "\n".join(lines) if lines else "  (none)"


def write_json(args, outcomes: list[Outcome], baseline_gate: float, complete: bool) -> None:
    if not args.json:
        return
    doc = {"seed": args.seed, "gate_only": args.gate_only, "exclude_labels": args.exclude_labels,
           "baseline_gate_seconds": round(baseline_gate, 1), "complete": complete,
           "mutants": [{"id": o.id, "category": o.category, "status": o.status, "killers": o.killers,
                        "detail": o.detail, "equivalent": o.equivalent or None, "seconds": round(o.seconds, 1)}
                       for o in outcomes]}
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.json)


# ---------------------------------------------------------------- main
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalogue", type=Path, default=DEFAULT_CATALOGUE, help="default tools/mutants.toml")
    p.add_argument("--root", type=Path, default=REPO, help="source tree the anchors are checked against (default: the repository)")
    p.add_argument("--only", action="append", default=[], metavar="ID/GLOB", help="mutants whose id matches (repeatable)")
    p.add_argument("--category", action="append", default=[], help="mutants of this category (repeatable)")
    p.add_argument("--list", action="store_true", help="print the selected mutants and exit")
    p.add_argument("--validate", action="store_true", help="check the catalogue and its anchors, and exit (no build)")
    p.add_argument("--seed", type=int, default=1, help="the gate's --seed (default 1)")
    p.add_argument("--gate-only", action="store_true", help="do not run ctest for the gate's survivors")
    p.add_argument("--jobs", type=int, default=2, help="ctest -j (default 2)")
    p.add_argument("--exclude-labels", default="torch|valgrind|mutation",
                   help="ctest -LE regex (default 'torch|valgrind|mutation': the catalogue's own test fails on "
                        "any mutated tree, its anchor being gone, and would count as a kill of every mutant)")
    p.add_argument("--gate-timeout", type=float, default=600, help="seconds before a gate run counts as hung (killed)")
    p.add_argument("--ctest-timeout", type=float, default=300, help="ctest --timeout per test")
    p.add_argument("--keep-going", action="store_true",
                   help="with stale anchors, still run the valid mutants (exit stays 2); after a mutant's "
                        "infrastructure error, go on to the next")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch source copy, build dir and logs (default build-mutation/)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every mutant's outcome (rewritten after each mutant)")
    p.add_argument("--report", type=Path, action="append", default=[], metavar="FILE",
                   help="print the table and survivors of --json FILE(s) (repeatable: runs merged), and exit")
    return p.parse_args(argv)


def print_report(outcomes: list[Outcome], seed: int, ctest_ran: bool) -> None:
    print(f"Kill rates over non-equivalent, compiling mutants (gate --seed {seed}):")
    print(table(outcomes, ctest_ran))
    print("\nSurvivors of the gate:")
    print(survivors_text(outcomes))


def report(paths: list[Path], catalogue: Path) -> int:
    """Merges --json files; equivalence arguments come from the catalogue as it is now (a
    mutant argued equivalent after the run is not counted)."""
    outcomes, seeds, ctest_ran, interrupted = [], set(), True, False
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            outcomes += [Outcome(m["id"], m["category"], m.get("equivalent") or "", m["status"], m.get("killers", []),
                                 m.get("detail", ""), m.get("seconds", 0.0)) for m in doc["mutants"]]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            print(f"mutation: cannot read the report {path}: {e}", file=sys.stderr)
            return 2
        seeds.add(doc.get("seed", 1))
        ctest_ran = ctest_ran and not doc.get("gate_only", False)
        interrupted = interrupted or not doc.get("complete", True)
    try:
        argued = {m.id: m.equivalent for m in load_catalogue(catalogue)}
    except CatalogueError:
        argued = {}
    # A later report's outcome for an id replaces an earlier one (a mutant re-run after a fix of
    # its replacement); ids no longer in the catalogue are dropped.
    latest = {o.id: o for o in outcomes}
    outcomes = [o for o in latest.values() if not argued or o.id in argued]
    for o in outcomes:
        o.equivalent = argued.get(o.id, o.equivalent)
    # Merged reports fill the gate+ctest column when every non-equivalent gate survivor has had
    # its ctest run in one of them (a gate-only run of all, then a ctest run of its survivors).
    ctest_ran = ctest_ran or not any(o.status == "gate-survived" and not o.equivalent for o in outcomes)
    if len(seeds) != 1:
        print(f"mutation: the reports come from different seeds {sorted(seeds)}", file=sys.stderr)
        return 2
    if interrupted:
        print(f"(interrupted runs among these: {len(outcomes)} mutants measured)")
    print_report(outcomes, seeds.pop(), ctest_ran)
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report, args.catalogue)
    try:
        mutants = load_catalogue(args.catalogue)
    except CatalogueError as e:
        print(f"mutation: bad catalogue: {e}", file=sys.stderr)
        return 2
    problems = stale_anchors(mutants, args.root)
    for line in problems:
        print(f"mutation: stale anchor: {line}", file=sys.stderr)
    chosen = select(mutants, args.only, args.category)
    if (args.only or args.category) and not chosen:
        print("mutation: --only/--category select no mutant", file=sys.stderr)
        return 2
    if args.list or args.validate:
        if args.list:
            for m in chosen:
                print(f"{m.id}\t{m.category}\t{m.file}" + ("\tequivalent" if m.equivalent else ""))
        if args.validate and not problems:
            print(f"mutation: {len(mutants)} mutants, every anchor found exactly once")
        return 2 if problems else 0
    if problems:
        if not args.keep_going:
            return 2
        stale_ids = {line.split(":", 1)[0] for line in problems}
        chosen = [m for m in chosen if m.id not in stale_ids]
    if "CCACHE_DIR" in os.environ:
        print(f"mutation: ccache in {os.environ['CCACHE_DIR']}", file=sys.stderr)

    work = args.work.resolve()
    src, build_dir = work / "src", work / "build"
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "mutation.log"
    with open(log_path, "a", encoding="utf-8") as log:
        print(f"\n##### {time.strftime('%Y-%m-%d %H:%M:%S')} mutation.py {' '.join(argv)}", file=log, flush=True)
        refresh_scratch(src)
        configure(src, build_dir, log)
        return run(args, chosen, src, build_dir, work, log, log_path, bool(problems))


def run(args, chosen: list[Mutant], src: Path, build_dir: Path, work: Path, log, log_path: Path, stale: bool) -> int:
    print(f"mutation: baseline build and gate (log: {log_path})", file=sys.stderr)
    if not build(build_dir, ["gradoracle"], log):
        print("mutation: the unmutated tree does not build; see the log", file=sys.stderr)
        return 2
    start = time.monotonic()
    ok, failing, detail = run_gate(build_dir, args.seed, args.gate_timeout, work, log)
    baseline_gate = time.monotonic() - start
    if not ok:
        print(f"mutation: the gate fails on the unmutated tree ({', '.join(failing)}: {detail})", file=sys.stderr)
        return 2
    print(f"mutation: baseline gate passed in {baseline_gate:.0f} s", file=sys.stderr)
    baseline_failures: set[str] | None = None  # ctest on the unmutated tree, run on first need

    outcomes: list[Outcome] = []
    for n, m in enumerate(chosen, 1):
        o = Outcome(m.id, m.category, m.equivalent)
        outcomes.append(o)
        path = src / m.file
        original = path.read_text(encoding="utf-8")
        started = time.monotonic()
        try:
            path.write_text(apply(original, m), encoding="utf-8")
            print(f"\n=== mutant {m.id}", file=log, flush=True)
            if not build(build_dir, ["gradoracle"], log):
                o.status = "stillborn"
            else:
                ok, failing, detail = run_gate(build_dir, args.seed, args.gate_timeout, work, log)
                if not ok:
                    o.status, o.killers, o.detail = "killed-by-gate", failing, detail
                elif args.gate_only:
                    o.status = "gate-survived"
                else:
                    if baseline_failures is None:
                        path.write_text(original, encoding="utf-8")
                        if not build(build_dir, None, log):
                            print("mutation: the unmutated tree's tests do not build", file=sys.stderr)
                            return 2
                        baseline_failures = run_ctest(build_dir, args.jobs, args.exclude_labels, args.ctest_timeout, log)
                        if baseline_failures:
                            print(f"mutation: on the unmutated tree ctest fails {sorted(baseline_failures)}; "
                                  "those tests are not counted as kills", file=sys.stderr)
                        path.write_text(apply(original, m), encoding="utf-8")
                    if not build(build_dir, None, log):
                        o.status, o.detail = "killed-by-ctest", "a test target does not compile"
                        o.killers = ["(test build)"]
                    else:
                        failed = run_ctest(build_dir, args.jobs, args.exclude_labels, args.ctest_timeout, log) - baseline_failures
                        o.status = "killed-by-ctest" if failed else "survived"
                        o.killers = sorted(failed)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            o.status, o.detail = "error", str(e)
            if not args.keep_going:
                raise
        finally:
            path.write_text(original, encoding="utf-8")
            o.seconds = time.monotonic() - started
        killer = f" by {o.killers[0]}" + (f" (+{len(o.killers) - 1})" if len(o.killers) > 1 else "") if o.killers else ""
        print(f"[{n}/{len(chosen)}] {m.id}: {o.status}{killer} ({o.seconds:.0f} s)", file=sys.stderr, flush=True)
        write_json(args, outcomes, baseline_gate, complete=False)  # an interrupted run keeps what it measured

    # The scratch build is left holding the unmutated sources' objects for the next run.
    build(build_dir, ["gradoracle"], log)
    ctest_ran = not args.gate_only
    print()
    print_report(outcomes, args.seed, ctest_ran)
    write_json(args, outcomes, baseline_gate, complete=True)
    if stale:
        return 2
    live_survivor = any(o.status in ("survived",) and not o.equivalent for o in outcomes)
    return 1 if live_survivor else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: the mutated file is restored
    sys.exit(main(sys.argv[1:]))
