#!/usr/bin/env bash
# --junit reports are written atomically by every subcommand: a temporary file beside the
# target, then a rename. Checked: an existing report is replaced by a new file (new inode,
# never truncated in place), no temporary is left behind, and a report path that cannot be
# written (a directory, a missing folder) is exit 2 with nothing partial left; a FIFO or device
# (--junit /dev/stdout) is written through, not replaced.
# Usage: report_atomic_test.sh GRADORACLE_BINARY SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1" >&2; fail=1; fi; }

declare -A cmds=(
  [replay]="replay $src/corpus/tutorial"
  [gradcheck]="gradcheck --fast $src/corpus/tutorial"
  [generate]="generate --op add --out $tmp/gen"
  [ops]="ops"
)
for name in replay gradcheck generate ops; do
  args=${cmds[$name]}
  out=$tmp/$name.xml
  echo "stale" >"$out"
  before=$(stat -c %i "$out")
  # shellcheck disable=SC2086
  "$bin" $args --junit "$out" >/dev/null 2>&1
  rc=$?
  check "$name: exit 0" "[[ $rc == 0 ]]"
  check "$name: report replaced by rename (new inode)" "[[ $(stat -c %i "$out") != $before ]]"
  check "$name: report is whole XML" "grep -q '</testsuites>' '$out' && ! grep -q stale '$out'"
  check "$name: no temporary left" "! compgen -G '$tmp/$name.xml.*' >/dev/null"

  mkdir -p "$tmp/dir-$name.xml"
  # shellcheck disable=SC2086
  "$bin" $args --junit "$tmp/dir-$name.xml" >/dev/null 2>&1
  rc=$?
  check "$name: a directory as report path is exit 2" "[[ $rc == 2 ]]"
  check "$name: the directory is untouched" "[[ -d '$tmp/dir-$name.xml' && -z \$(ls -A '$tmp/dir-$name.xml') ]]"
  check "$name: no temporary left beside it" "! compgen -G '$tmp/dir-$name.xml.*' >/dev/null"

  # shellcheck disable=SC2086
  "$bin" $args --junit "$tmp/missing/$name.xml" >/dev/null 2>&1
  rc=$?
  check "$name: a missing folder is exit 2" "[[ $rc == 2 ]]"
  check "$name: nothing created" "[[ ! -e '$tmp/missing' ]]"
done
# A FIFO as report path (what --junit /dev/stdout is inside a pipe) is written through, never
# renamed over: the reader gets the XML and the FIFO stays a FIFO.
mkfifo "$tmp/fifo"
timeout 60 cat "$tmp/fifo" >"$tmp/fifo.out" &
reader=$!
timeout 60 "$bin" ops --junit "$tmp/fifo" >/dev/null 2>&1
rc=$?
wait "$reader"
check "ops --junit FIFO: exit 0" "[[ $rc == 0 ]]"
check "ops --junit FIFO: still a FIFO" "[[ -p '$tmp/fifo' ]]"
check "ops --junit FIFO: the reader got the report" "grep -q '</testsuites>' '$tmp/fifo.out'"
exit $fail
