#!/usr/bin/env bash
# tests/test_layers.sh — tools/layers.py (make tidy's layer rule) and tools/refs.py (its
# true-comments rule) on fixture trees that must fail, one that must pass, and the real
# tree. TAP output; run by tests/run.sh.
cd "$(dirname "$0")/.."
n=0; bad=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; bad=1; fi; }

# expect FIXTURE EXIT LINE: tools/layers.py exits EXIT on tests/layers/FIXTURE and prints LINE
expect() {
  local out rc
  out=$(python3 tools/layers.py --root "tests/layers/$1" --table "tests/layers/$1/layers.txt" 2>&1); rc=$?
  echo "$out" | sed 's/^/# /'
  [ "$rc" = "$2" ] && grep -qxF -- "$3" <<<"$out"; ok $? "/layers/$1"
}

echo "1..7"
expect ok 0 "layers: ok (the includes of src/ run one way, no cycles)"
expect up 1 "layers: src/a.c (low) includes src/b.h (high): up the layers"
expect cycle 1 "layers: cycle: src/a.c includes src/b.h, and src/b.c includes src/a.h"
expect unlisted 1 "layers: src/c.h has no layer in layers.txt"
out=$(python3 tools/layers.py 2>&1); rc=$?; echo "$out" | sed 's/^/# /'; ok $rc "/layers/the-tree"

# tools/refs.py: stale names in header comments and chapters
out=$(python3 tools/refs.py --root tests/layers/refs 2>&1); rc=$?; echo "$out" | sed 's/^/# /'
[ "$rc" = 1 ] && grep -qxF "refs: src/a.h:1: src/gone.c does not exist" <<<"$out" &&
  grep -qxF "refs: src/a.h:2: server_gone() names no function" <<<"$out" &&
  grep -qxF 'refs: book/ch.md:3: `nothing_here()` names no function' <<<"$out" &&
  grep -qxF "refs: labs/1-fixture/README.md:3: src/moved_away.c does not exist" <<<"$out"; ok $? "/refs/stale"
out=$(python3 tools/refs.py 2>&1); rc=$?; echo "$out" | sed 's/^/# /'; ok $rc "/refs/the-tree"
exit $bad
