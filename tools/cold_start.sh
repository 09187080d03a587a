#!/usr/bin/env bash
# Cold start: what a user waits for between a fresh clone and the gate's verdict (issue 18,
# goal 1), and optionally the builds .ci/run makes (goal 2).
#
# Clones this repository's HEAD (committed state only) into a temporary directory, then does
# what tools/main.sh does there, step by step and timed: configure (Release), build
# `--target gradoracle` with -j$(nproc), run the gate (`gradoracle check`, default budget).
# No compiler cache: CCACHE_DISABLE=1 and CMAKE_CXX_COMPILER_LAUNCHER is replaced by a timing
# wrapper that only runs the compiler under /usr/bin/time, one log line per compile and link.
# Prints:
#   - configure seconds; build wall and CPU seconds (user+sys of every child: robust to load);
#   - per target (engine, oracle, fixtures, properties, cli, gradoracle): translation units,
#     compiler CPU seconds, and the wall span from its first compile's start to its last end
#     (spans overlap: ninja/make build targets side by side);
#   - the heaviest translation units by CPU seconds (--top N, default 8);
#   - the gate's wall and CPU seconds and its exit status; the total wall; `uptime` before/after.
# Options:
#   --tests release|asan|both  also build everything .ci/run builds (tools/test.sh's configure
#                              lines: Release -Werror, and/or ASan+UBSan) from cold, each in its
#                              own build dir, and print the same table for each (no ctest run)
#   --top N                    heaviest translation units listed (default 8)
#   --keep                     keep the temporary clone (its path is printed)
#   --rev REV                  clone this revision instead of HEAD
#   --worktree                 build the working tree as it is (uncommitted changes included)
#                              instead of a clone: for trying a change before committing it
#   --cmake-args "ARGS"        extra arguments to every configure (e.g. -DGRADORACLE_UNITY=OFF)
#   --no-gate                  stop after the build
# Needs: git, cmake, a C++ compiler, /usr/bin/time, and the packages tools/install-deps.sh
# installs (it is not run here: the figure is "packages installed").
# Exit status: 0 when every step ran (whatever the gate's verdict, which is printed), 1 when a
# configure or build failed, 2 on bad usage.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tests="" top=8 keep=0 rev=HEAD worktree=0 extra="" gate=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --tests) tests=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --rev) rev=$2; shift 2 ;;
    --worktree) worktree=1; shift ;;
    --cmake-args) extra=$2; shift 2 ;;
    --no-gate) gate=0; shift ;;
    *) echo "cold_start.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
case $tests in ""|release|asan|both) ;; *) echo "cold_start.sh: --tests release|asan|both" >&2; exit 2 ;; esac
[[ -x /usr/bin/time ]] || { echo "cold_start.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d /tmp/cold_start.XXXXXX)
if [[ $keep == 0 ]]; then trap 'rm -rf "$work"' EXIT; else echo "clone kept in $work"; fi
if [[ $worktree == 1 ]]; then
  ln -s "$repo" "$work/src"
  commit="$(git -C "$repo" rev-parse --short HEAD) + working tree"
else
  git clone -q --no-hardlinks "$repo" "$work/src"
  git -C "$work/src" checkout -q "$rev"
  commit=$(git -C "$work/src" rev-parse --short HEAD)
fi

# The timing wrapper: runs "$@" under /usr/bin/time; one line per compile or link into $LOG:
# "<wall s> <user s> <sys s> <start epoch s> <output file>".
cat >"$work/timed" <<'EOF'
#!/usr/bin/env bash
out=-; prev=
for a in "$@"; do [[ $prev == -o ]] && out=$a; prev=$a; done
start=$(date +%s.%N)
exec /usr/bin/time -a -o "$COLD_START_LOG" -f "%e %U %S $start $out" "$@"
EOF
chmod +x "$work/timed"

unset CMAKE_CXX_COMPILER_LAUNCHER CMAKE_C_COMPILER_LAUNCHER CCACHE_DIR
export CCACHE_DISABLE=1
jobs=$(nproc)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# cputime CMD...: runs CMD; sets cpu_s to the user+sys seconds of it and its children.
cputime() {
  local f=$work/cpu.$RANDOM
  /usr/bin/time -o "$f" -f "%U %S" "$@"; local rc=$?
  cpu_s=$(awk '{ printf "%.1f", $1 + $2 }' "$f"); rm -f "$f"
  return $rc
}

# report LOG: per-target table and the heaviest translation units from the wrapper's log.
report() {
  awk -v top="$top" '
    { wall=$1; cpu=$2+$3; start=$4; out=$5; end=start+wall
      t=out
      if (match(out, /CMakeFiles\/[^\/]+\.dir/)) t=substr(out, RSTART+11, RLENGTH-15)
      else { sub(/.*\//, "", t); t=t " (link)" }
      n[t]++; c[t]+=cpu; total+=cpu
      if (!(t in s) || start<s[t]) s[t]=start
      if (!(t in e) || end>e[t]) e[t]=end
      tu[out]=cpu }
    END {
      printf "  %-28s %5s %9s %9s\n", "target", "units", "CPU s", "span s"
      for (t in n) printf "  %-28s %5d %9.1f %9.1f\n", t, n[t], c[t], e[t]-s[t] | "sort -k3 -nr"
      close("sort -k3 -nr")
      printf "  %-28s %5s %9.1f\n", "all compiles and links", "", total
      printf "  heaviest units (CPU s):\n"
      for (o in tu) { x=o; sub(/.*CMakeFiles\//, "", x); printf "    %7.1f  %s\n", tu[o], x | "sort -nr | head -" top }
    }' "$1"
}

# build_dir NAME CONFIGURE-ARGS... -- BUILD-ARGS...: configure and build from cold, timed.
build_dir() {
  local name=$1; shift
  local cfg=() bld=()
  while [[ $1 != -- ]]; do cfg+=("$1"); shift; done; shift; bld=("$@")
  export COLD_START_LOG=$work/$name.log; : >"$COLD_START_LOG"
  local t0 t1 t2
  t0=$(now)
  # shellcheck disable=SC2086  # $extra: words on purpose
  cmake -S "$work/src" -B "$work/$name" "${cfg[@]}" $extra \
    -DCMAKE_CXX_COMPILER_LAUNCHER="$work/timed" -DCMAKE_CXX_LINKER_LAUNCHER="$work/timed" >/dev/null
  t1=$(now)
  cputime cmake --build "$work/$name" -j"$jobs" "${bld[@]}" >"$work/$name.out" 2>&1 ||
    { tail -30 "$work/$name.out" >&2; echo "cold_start.sh: building $name failed" >&2; exit 1; }
  t2=$(now)
  echo "== $name: cmake ${cfg[*]} $extra; cmake --build -j$jobs ${bld[*]}"
  echo "  configure $(secs "$t0" "$t1") s; build $(secs "$t1" "$t2") s wall, $cpu_s s CPU (user+sys)"
  report "$COLD_START_LOG"
  build_wall=$(secs "$t0" "$t2")
}

echo "cold_start.sh at $commit, $(date -u '+%F %H:%M UTC'), $jobs cores, $(g++ --version | head -1)"
echo "uptime before: $(uptime)"
start=$(now)
# tools/main.sh's configure and build lines (install-deps.sh aside: packages are installed).
build_dir build -DCMAKE_BUILD_TYPE=Release -- --target gradoracle
if [[ $gate == 1 ]]; then
  g0=$(now)
  gate_rc=0
  cputime "$work/build/gradoracle" check >"$work/gate.out" 2>&1 || gate_rc=$?
  g1=$(now)
  echo "== gate: gradoracle check: exit $gate_rc, $(secs "$g0" "$g1") s wall, $cpu_s s CPU; $(tail -1 "$work/gate.out")"
  echo "== total (configure + build + gate): $(secs "$start" "$(now)") s wall"
fi
echo "uptime after: $(uptime)"

# tools/test.sh's configure lines (.ci/run), each from cold.
if [[ $tests == release || $tests == both ]]; then
  build_dir build-test -DCMAKE_BUILD_TYPE=Release -DGRADORACLE_WERROR=ON --
  echo "uptime after: $(uptime)"
fi
if [[ $tests == asan || $tests == both ]]; then
  build_dir build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DGRADORACLE_SANITIZE=ON -DGRADORACLE_WERROR=ON --
  echo "uptime after: $(uptime)"
fi
