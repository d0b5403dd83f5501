#!/usr/bin/env bash
# tests/run-glib.sh BIN [ARGS...] — run a GLib test binary so that every failing test is reported.
#
# A GLib test binary stops at its first failing assertion (g_assert* aborts the process; even
# g_test_fail() ends the run with "Bail out!" unless --keep-going), and a crash ends it too: the
# tests after it never run, so one failure hides the others. This wrapper runs the binary once;
# when the process dies, it lists the test paths (`BIN -l`) and starts the binary again with the
# paths after the one that died (`-p PATH ...`), until every path has a result. A run that
# passes costs one process, exactly as before; each failure costs one more.
#
# Output is one TAP stream on stdout: the binary's own lines with its "ok"/"not ok" renumbered,
# "ok N path # SKIP reason" for a skip (a skip stays a skip), "not ok N path # died: ..." for a
# test during which the process died without reporting, GLib's "Bail out!" turned into a comment
# (it would end a TAP reader's count), and one plan line "1..N" at the end. Exit status 0 when
# every test passed or was skipped, 1 otherwise. tests/run.sh runs each unit and C interop binary
# through it.
set -u
bin=$1; shift
paths=()          # BIN -l, read only after a run that died
declare -A index  # path -> its position in paths
n=0 failures=0 next=0 first=1
out=${TMPDIR:-/tmp}/run-glib.$$  # each run's output; a regular file is read in blocks, a pipe byte by byte
trap 'rm -f "$out"' EXIT
trap 'cat "$out"; echo "# killed while running the tests above"; exit 1' TERM INT  # e.g. by timeout
while [ "$first" -eq 1 ] || [ "$next" -lt ${#paths[@]} ]; do
  args=()
  for p in "${paths[@]:next}"; do args+=(-p "$p"); done  # none on the first run: all of them
  "$bin" "$@" --tap "${args[@]}" >"$out" 2>&1
  rc=$?
  last_path='' last_failed=0
  while IFS= read -r line; do
    if [[ $line =~ ^(ok|not\ ok)\ [0-9]+\ (/[^ ]*)(.*)$ ]]; then
      n=$((n + 1))
      echo "${BASH_REMATCH[1]} $n ${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
      last_path=${BASH_REMATCH[2]}
      if [ "${BASH_REMATCH[1]}" = ok ]; then last_failed=0; else last_failed=1; failures=$((failures + 1)); fi
    elif [[ $line =~ ^1\.\.[0-9]+$ ]]; then
      :  # one plan, at the end
    elif [[ $line == "Bail out!"* ]]; then
      echo "# $line"
    else
      printf '%s\n' "$line"
    fi
  done <"$out"
  if [ "$first" -eq 1 ]; then
    first=0
    [ "$rc" -eq 0 ] && break  # the common case: one process ran everything
    mapfile -t paths < <("$bin" "$@" -l 2>/dev/null | grep '^/')
    for k in "${!paths[@]}"; do index[${paths[$k]}]=$k; done
  fi
  last=$((next - 1))
  [ -n "$last_path" ] && [ -n "${index[$last_path]+x}" ] && last=${index[$last_path]}
  next=$((last + 1))
  if [ "$rc" -ne 0 ] && [ "$last_failed" -eq 0 ]; then
    # the process died during the test after the last one it reported (or after all of them)
    if [ "$rc" -gt 128 ]; then why="signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
    else why="exit code $rc"; fi
    n=$((n + 1)); failures=$((failures + 1))
    if [ "$next" -lt ${#paths[@]} ]; then
      echo "not ok $n ${paths[$next]} # died: $why"
      next=$((next + 1))
    else
      echo "not ok $n $bin # died after its last test: $why"
    fi
  elif [ "$rc" -eq 0 ] && [ "$next" -lt ${#paths[@]} ]; then
    # a clean exit that did not run every listed path: say which, do not count them as passed
    for p in "${paths[@]:next}"; do
      n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n $p # listed but not run"
    done
    next=${#paths[@]}
  fi
done
echo "1..$n"
[ "$failures" -eq 0 ]
