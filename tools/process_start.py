#!/usr/bin/env python3
"""Process start: `gradoracle --version` against a C++ hello world (iostream) built with the
Release flags (c++ -std=c++20 -O3 -DNDEBUG), interleaved, each started R times (200);
prints the best and the median of each and their difference (issue 18: start <= 1 ms above
the hello world). Each start is posix_spawn + waitpid, stdout to /dev/null, timed by
perf_counter_ns; best-of is the figure, the median says how noisy the machine was.

  process_start.py --gradoracle BIN --hello BIN [--repeat R] [-- ARGS...]
"""

import argparse
import os
import statistics
import time


def start(argv, devnull):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    t = time.perf_counter_ns() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return t / 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gradoracle", required=True)
    p.add_argument("--hello", required=True)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("args", nargs="*", default=["--version"], help="gradoracle's arguments (default --version)")
    a = p.parse_args()
    devnull = os.open(os.devnull, os.O_WRONLY)
    ours, hello = [], []
    for _ in range(a.repeat):  # interleaved: both see the same load
        ours.append(start([a.gradoracle] + a.args, devnull))
        hello.append(start([a.hello], devnull))
    cmd = "gradoracle " + " ".join(a.args)
    print(f"{'process':32s} {'best':>8s} {'median':>8s}   ({a.repeat} starts each, interleaved; load {os.getloadavg()[0]:.1f})")
    print(f"{'C++ hello world (iostream)':32s} {min(hello):6.2f}ms {statistics.median(hello):6.2f}ms")
    print(f"{cmd:32s} {min(ours):6.2f}ms {statistics.median(ours):6.2f}ms")
    print(f"start above hello world: {min(ours) - min(hello):.2f} ms best, "
          f"{statistics.median(ours) - statistics.median(hello):.2f} ms median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
