#!/usr/bin/env bash
# tests/run.sh — run every test suite and print one closing line "N passed, N failed".
#
# Each suite speaks TAP (GLib tests through tests/run-glib.sh, which reports every failing test
# where a bare GLib binary stops at the first; node --test with the tap reporter); we count
# its results, keep its full log in build/test-logs/, and show the failures. Interop suites run
# twice: against minijet and against nats-server 2.9.10 (MINIJET_TEST_SERVER picks the server),
# which is how we know they test the protocol and not our reading of it.
set -u
cd "$(dirname "$0")/.."
logs=build/test-logs
mkdir -p "$logs"
total_pass=0
total_fail=0
total_skip=0
failed_suites=()
skipped_tests=()

# count_tap LOG -> "pass fail skip" from a TAP log (top-level and nested ok/not ok lines of
# GLib, or node's "# pass N" / "# fail N" / "# skipped N" summary when present). A skipped
# test ("ok N name # SKIP reason") is a skip, not a pass.
count_tap() {
  local log=$1 p f c s
  if grep -qE '^# pass [0-9]+' "$log"; then
    p=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | awk '{print $3}')
    f=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | awk '{print $3}')
    # node cancels a test whose promise never settles: that is a failure too
    c=$(grep -E '^# cancelled [0-9]+' "$log" | tail -1 | awk '{print $3}')
    s=$(grep -E '^# skipped [0-9]+' "$log" | tail -1 | awk '{print $3}')
    f=$(( ${f:-0} + ${c:-0} ))
  else
    s=$(grep -ciE '^ok [0-9]+.*# skip' "$log")
    p=$(( $(grep -cE '^ok [0-9]+' "$log") - s ))
    f=$(grep -cE '^not ok [0-9]+' "$log")
  fi
  echo "${p:-0} ${f:-0} ${s:-0}"
}

# run_suite NAME TIMEOUT_S CMD... : run a TAP-speaking command, add up its results.
run_suite() {
  local name=$1 limit=$2; shift 2
  local log="$logs/$name.log" rc p f s
  mkdir -p "$(dirname "$log")"
  local start=$SECONDS
  timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1
  rc=$?
  read -r p f s < <(count_tap "$log")
  total_skip=$((total_skip + s))
  if [ "$s" -gt 0 ]; then
    while IFS= read -r t; do skipped_tests+=("$name: $t"); done \
      < <(grep -iE '^ok [0-9]+.*# skip' "$log" | sed -E 's/^ok [0-9]+ (- )?//')
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1  # crashed, timed out or failed outside a test case: count the suite as one failure
    echo "  (exit code $rc)" >>"$log"
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  printf '%-40s %4d passed %4d failed  %3ds%s\n' "$name" "$p" "$f" $((SECONDS - start)) \
    "$([ "$s" -gt 0 ] && echo "  ($s skipped)")"
  if [ "$f" -ne 0 ]; then
    failed_suites+=("$name")
    grep -E '^(not ok|# (Fail|fail)|\*\*|.*ERROR)' "$log" | head -n 20 | sed 's/^/    /'
  fi
}

# run_check NAME CMD... : a pass/fail check that is not TAP (e.g. make tidy) counts as one test.
run_check() {
  local name=$1; shift
  local log="$logs/$name.log"
  if "$@" >"$log" 2>&1; then
    total_pass=$((total_pass + 1)); printf '%-40s %4d passed %4d failed\n' "$name" 1 0
  else
    total_fail=$((total_fail + 1)); failed_suites+=("$name")
    printf '%-40s %4d passed %4d failed\n' "$name" 0 1; tail -n 20 "$log" | sed 's/^/    /'
  fi
}

echo "== unit tests"
for t in build/tests/test_*; do
  [ -x "$t" ] || continue
  run_suite "unit/$(basename "$t")" 300 tests/run-glib.sh "$t"
done

echo "== checks"
run_check "tidy" make -s tidy
run_check "client-layer" make -s client-layer-check
run_suite "layers" 60 tests/test_layers.sh

for server in minijet nats-server; do
  echo "== interop tests against $server"
  for t in build/tests/interop_*; do
    [ -x "$t" ] || continue
    run_suite "interop-c/$server/$(basename "$t")" 300 env MINIJET_TEST_SERVER=$server tests/run-glib.sh "$t"
  done
  for t in tests/interop/js/*.test.mjs; do
    [ -f "$t" ] || continue
    run_suite "interop-js/$server/$(basename "$t" .test.mjs)" 300 env MINIJET_TEST_SERVER=$server \
      node --test --test-reporter=tap "$t"
  done
done

if [ -x tests/run-extra.sh ]; then
  # Suites added by later modules (simulator determinism, book sessions, labs) register here.
  source tests/run-extra.sh
fi

echo
if [ "$total_skip" -gt 0 ]; then
  echo "$total_skip skipped (not counted as passed):"
  printf '  %s\n' "${skipped_tests[@]}"
fi
if [ ${#failed_suites[@]} -gt 0 ]; then
  echo "failed suites: ${failed_suites[*]} (logs in $logs/)"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
