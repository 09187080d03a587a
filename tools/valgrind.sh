#!/usr/bin/env bash
# Runs the CLI under valgrind memcheck over fixtures: every replay (good and bad fixtures, bad
# input must be refused with exit 2, never a memory error), a gradcheck of the small ones (also
# through `gradoracle serve` as the engine, under valgrind too), and the gate over a few ops in
# one process and in two forked workers.
# Fails on any memcheck error or definite leak (valgrind exits 99 then).
#
#   tools/valgrind.sh [--quick] [GRADORACLE_BINARY]       # default build/gradoracle
#
# --quick (the ctest valgrind.cli): the tutorial, the examples, every corpus/bad case but the
# few that allocate ~10^7 elements on purpose, and a sample of corpus/nonfinite.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [[ "${1:-}" == --quick ]]; then quick=1; shift; fi
bin=${1:-${GRADORACLE_BUILD_DIR:-build}/gradoracle}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (tools/install-deps.sh --test)" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "valgrind.sh: no executable $bin (build first)" >&2; exit 2; }
vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes -q)

heavy=(repeated-backward matmul-work absurd-fill huge-outer-product)  # refused after allocating ~10^7 elements
bad=()
for f in corpus/bad/*.json; do
  skip=0
  if ((quick)); then
    for h in "${heavy[@]}"; do [[ "$f" == "corpus/bad/$h.json" ]] && skip=1; done
  fi
  ((skip)) || bad+=("$f")
done
nonfinite=(corpus/nonfinite)
if ((quick)); then
  nonfinite=(corpus/nonfinite/{relu,abs,log,pow,div}-*.json corpus/nonfinite/{softmax,log_softmax}-rows.json
             corpus/nonfinite/norm-pinf-*.json corpus/nonfinite/clip_grad_norm-nan-p*.json
             corpus/nonfinite/matmul*.json corpus/nonfinite/float32-*.json)
fi

status=0
run() {  # run EXPECTED_EXIT ARGS...: valgrind error -> 99
  local want=$1; shift
  local rc=0
  "${vg[@]}" "$bin" "$@" >/dev/null 2>"$tmp" || rc=$?
  if ((rc == 99)) || grep -q "^==[0-9]*== " "$tmp"; then
    echo "valgrind.sh: memcheck errors in: $bin $*" >&2; cat "$tmp" >&2; status=1
  elif ((rc != want)); then
    echo "valgrind.sh: exit $rc (expected $want): $bin $*" >&2; tail -5 "$tmp" >&2; status=1
  else
    echo "ok (exit $rc): $* " | cut -c1-120
  fi
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
run 0 replay corpus/tutorial corpus/examples "${nonfinite[@]}"
run 0 gradcheck --fast corpus/tutorial corpus/examples
run 2 replay "${bad[@]}"
for f in "${bad[@]}"; do  # each alone too: the error path of every refusal
  ((quick)) && break
  run 2 replay "$f"
done
run 0 ops
# The engine protocol, both sides under valgrind: the driver, and `gradoracle serve` as its engine
# (a memcheck error in the engine ends it with 99: a protocol fault, exit 2 here).
run 0 gradcheck --fast corpus/tutorial corpus/examples --jobs 1 --engine "${vg[*]} $bin serve"
# The gate, its tasks in two worker processes (forked: valgrind runs on in each) and in one.
cex=$(mktemp -d)
trap 'rm -f "$tmp"; rm -rf "$cex"' EXIT
run 0 check --op exp --op softmax --dtype float64 --cases 3 --jobs 2 --no-progress --counterexamples "$cex"
run 0 check --op exp --dtype float64 --cases 3 --jobs 1 --no-progress --counterexamples "$cex"
exit $status
