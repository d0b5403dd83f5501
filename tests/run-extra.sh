# tests/run-extra.sh — suites registered by later modules; sourced by tests/run.sh, which
# provides run_suite (TAP) and run_check (pass/fail). Keep the whole file under ~60 s.
#
# The simulator (sim/, book chapter 8):
#   selftest      the simulator's own unit tests (scheduler, PRNG, disk crash model, parser)
#   determinism   two scenarios, each run twice with one seed: the trace hashes must be equal
#   replay        a saved run directory replays to the same hash
#   scenarios     every single-node scenario passes its checkers (seed 1); disk-corruption
#                 and sync-failure also at seeds 1-20
#   checkers      a deliberately broken network (--bug) and a store that acks before fsync
#                 (--sync 2m) must be caught: exit 1 (safety)
#   bad input     a broken scenario file is a one-line usage error (exit 64), not a crash
#   swarm         20 seeds of random faults, no failing seed
#   clustered JetStream  every failover-* and jepsen-* scenario over 20 seeds; lazy fsync
#                 loses acked data at a coordinated power cut (exit 1); --bug js-* caught

SIM=build/minijet-sim

sim_hash() { "$SIM" run "$1" --seed "$2" | tail -n 1; }

sim_same_hash() { # SCENARIO SEED
  local a b
  a=$(sim_hash "$1" "$2") || return 1
  b=$(sim_hash "$1" "$2") || return 1
  echo "$a"; echo "$b"
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "${a#trace_hash=}" != "$a" ]
}

sim_replay() {
  local dir=build/sim/test-replay
  rm -rf "$dir"
  "$SIM" run crash-restart --seed 11 --out "$dir" >/dev/null || return 1
  "$SIM" replay "$dir"
}

# a cluster run draws cluster.png from per-node metrics: in cluster-node-crash n2 has clients
# before its crash at 2 s and none while it is down, and no client is lost: at 3 s n1 and n3
# hold every client that the three nodes held at 1.5 s
sim_cluster_chart() {
  local dir=build/sim/test-cluster-chart
  rm -rf "$dir"
  "$SIM" run cluster-node-crash --seed 1 --out "$dir" >/dev/null || return 1
  [ -s "$dir/cluster.png" ] || { echo "no cluster.png"; return 1; }
  at() { awk -v t="$2" '$1 + 0 >= t { print int($4); exit }' "$dir/cluster-$1.dat"; }
  local before during total after
  before=$(at n2 1.5); during=$(at n2 3.0)
  total=$(( $(at n1 1.5) + $(at n2 1.5) + $(at n3 1.5) )); after=$(( $(at n1 3.0) + $(at n3 3.0) ))
  echo "n2 clients at 1.5 s: $before, at 3 s: $during; all clients at 1.5 s: $total, on n1+n3 at 3 s: $after"
  [ "$before" -gt 0 ] && [ "$during" -eq 0 ] && [ "$total" -eq "$after" ]
}

# cluster.png of a clustered-JetStream run charts what it measured, the PubAcks per node (it
# once charted only core-NATS messages: all zeros): the PubAcks its data files add up to
# (rate x bucket width, summed over the nodes) are summary.txt's count
sim_cluster_chart_js() {
  local dir=build/sim/test-cluster-chart-js drawn want
  rm -rf "$dir"
  "$SIM" run failover-leader-kill --seed 1 --out "$dir" >/dev/null || return 1
  [ -s "$dir/cluster.png" ] || { echo "no cluster.png"; return 1; }
  grep -q "cluster-acks-n1.dat" "$dir/charts.gp" || { echo "cluster.png does not plot the PubAcks"; return 1; }
  drawn=$(awk 'FNR == 2 { w = $1 - p } { p = $1; s[FILENAME] += $2; ws[FILENAME] = w }
               END { for (f in s) n += s[f] * ws[f]; printf "%.0f\n", n }' "$dir"/cluster-acks-n*.dat)
  want=$(sed -nE 's/^answered .*\(([0-9]+) replies to requests, ([0-9]+) PubAcks.*/\2/p' "$dir/summary.txt")
  echo "cluster.png's PubAcks add up to $drawn; summary.txt: $want"
  [ -n "$want" ] && [ "$want" -gt 0 ] && [ "$drawn" -eq "$want" ]
}

# lost.png (the queue checker drawn): jepsen-7564 under lazy fsync loses acknowledged
# publishes, and the chart's data says how many, as summary.txt does; at the default policy
# the same run draws the chart with none lost
sim_lost_chart() {
  local dir=build/sim/test-lost-chart rc sync lost want
  for sync in 2m default; do
    rm -rf "$dir"
    if [ "$sync" = default ]; then "$SIM" run jepsen-7564 --seed 1 --out "$dir" >/dev/null; rc=$?
    else "$SIM" run jepsen-7564 --seed 1 --sync "$sync" --out "$dir" >/dev/null; rc=$?; fi
    [ -s "$dir/lost.png" ] || { echo "--sync $sync: no lost.png"; return 1; }
    lost=$(awk '$1 >= 1 && $1 <= 3 { n += $2 } END { print n + 0 }' "$dir/lost-classes.dat")
    want=$(sed -nE 's/^queue .* lost ([0-9]+) .*/\1/p' "$dir/summary.txt" | head -1)
    echo "--sync $sync: exit $rc, lost.png shows $lost lost, summary.txt says $want"
    [ "$lost" = "$want" ] || return 1
    if [ "$sync" = default ]; then [ "$rc" -eq 0 ] && [ "$lost" -eq 0 ] || return 1
    else [ "$rc" -eq 1 ] && [ "$lost" -gt 0 ] && awk '$2 > 0 { n++ } END { exit n == 0 }' "$dir/lost-nodes.dat" || return 1; fi
  done
}

# Raft's five properties in a cluster run (sim/raft_checker.c on every Raft group of every
# node, sim_jscluster.c): wired (the meta group and the stream's, every Ready batch judged,
# none broken in a clean run) and catching a broken variant at the Raft level itself, before
# the queue checker sees the damage: RULE is the property named in the violation
sim_raft_checked() {
  local out
  out=$("$SIM" run failover-leader-kill --seed 1 --out build/sim/test-raft-checked) || return 1
  grep '^raft checkers' build/sim/test-raft-checked/summary.txt
  grep -qE '^raft checkers: [2-9] groups .*, [1-9][0-9]* Ready batches judged, 0 violations' build/sim/test-raft-checked/summary.txt
}
sim_raft_catches() { # RULE ARGS...
  local rule=$1 out rc; shift
  out=$("$SIM" "$@"); rc=$?
  printf '%s\n' "$out" | grep -E "raft group [^:]+: " | head -3
  [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -qE "violation: safety: raft group [^:]+: $rule"
}

sim_expect_exit() { # CODE CMD...
  local want=$1; shift
  "$@"; local rc=$?
  echo "exit code $rc (want $want)"
  [ "$rc" -eq "$want" ]
}

sim_bad_scenario() {
  local f
  f=$(mktemp --suffix=.ini)
  printf '[run]\nduration = 5s\n[client.p]\ntype = publisher\nsubject = a\nrate = 10/s\n[faults]\nf1 = 2s crsh n1\n' >"$f"
  local out rc
  out=$("$SIM" run "$f" 2>&1); rc=$?
  rm -f "$f"
  echo "$out"
  [ "$rc" -eq 64 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -q ':8: \[faults\] f1: unknown action'
}

# nodes > 1 with JetStream is clustered JetStream (one meta group, a Raft group per
# replicated stream), never islands: a minimal file runs, creates no stream, exits 0
sim_cluster_js_runs() {
  local f=build/sim/test-islands.ini out
  mkdir -p build/sim
  printf '[run]\nduration = 2s\n[cluster]\nnodes = 3\njetstream = true\n[client.p]\ntype = publisher\nsubject = a\nrate = 1/s\n' >"$f"
  out=$("$SIM" run "$f" 2>&1); local code=$?
  echo "$out" | tail -n 3
  [ "$code" -eq 0 ]
}

# a list of seeds of one scenario, each must pass (regressions found by the simulator)
# jepsen-7556: both damaged nodes find their corrupt snapshots (checksum), say so, and are
# repaired by a leader's snapshot plus a catch-up from peers; nothing acked is lost
sim_jepsen_7556_detects() {
  local out
  out=$("$SIM" run jepsen-7556 --seed 1 --trace 2>&1) || { echo "$out" | tail -n 5; return 1; }
  local corrupt caught
  corrupt=$(printf '%s\n' "$out" | grep -E ' n[12] +log .*raft snapshot .*raft.snap: corrupt' | wc -l)
  caught=$(printf '%s\n' "$out" | grep -E ' n[12] +log .*caught up through seq' | wc -l)
  printf '%s\n' "$out" | grep 'queue ORDERS'
  echo "corrupt snapshots found: $corrupt, catch-ups on n1/n2: $caught"
  [ "$corrupt" -ge 4 ] && [ "$caught" -ge 2 ] && printf '%s\n' "$out" | grep -q 'lost 0,.*unexpected 0,'
}

# jepsen-7549 with compaction: the follower whose store and Raft log took the bit flips
# finds the damaged record at its restart, cuts its store there and catches up from its peers
# (snapshot + stream catch-up), and nothing acknowledged is lost
sim_jepsen_7549_snapshots_repairs() {
  local out node
  out=$("$SIM" run jepsen-7549-snapshots --seed 1 --trace 2>&1) || { echo "$out" | tail -n 5; return 1; }
  node=$(printf '%s\n' "$out" | grep -E 'log +\[WRN\] store ORDERS: .*checksum mismatch' | awk '{print $2}' | head -n 1)
  printf '%s\n' "$out" | grep 'queue ORDERS'
  echo "damaged replica: ${node:-none}"
  [ -n "$node" ] && printf '%s\n' "$out" | grep -qE " $node +log .*caught up through seq .*\(from peers\)" &&
    printf '%s\n' "$out" | grep -q 'lost 0,.*unexpected 0,'
}

sim_seeds() { # SCENARIO SEED...
  local s=$1 seed; shift
  for seed in "$@"; do
    "$SIM" run "$s" --seed "$seed" >/dev/null || { echo "$s seed $seed failed"; return 1; }
  done
}

# minijet-sim list, from another directory: every scenario file appears with its description,
# and every --bug value
sim_list() {
  local out n s
  out=$(cd / && "$OLDPWD/$SIM" list) || return 1
  echo "$out"
  for s in sim/scenarios/*.ini; do
    n=$(basename "$s" .ini)
    printf '%s\n' "$out" | grep -qE "^  $n +[^(]" || { echo "missing: $n"; return 1; }
  done
  for n in net-drop net-dup net-reorder raft-commit-old-term raft-no-noop route-forward-routed route-no-replay route-no-unsub \
           js-ack-before-commit js-append-before-fsync js-vote-truncated js-remove-locally; do
    printf '%s\n' "$out" | grep -qE "^  $n " || { echo "missing bug: $n"; return 1; }
  done
}

echo "== simulator"
if [ -x "$SIM" ]; then
  run_suite "sim-selftest" 60 "$SIM" selftest --tap
  for s in crash-restart slow-consumer; do
    run_check "sim-determinism-$s" sim_same_hash "$s" 5
  done
  run_check "sim-replay" sim_replay
  for s in pubsub-basic slow-consumer reconnect-storm crash-restart random-faults crash-during-publish consumer-redelivery \
           disk-corruption index-corruption sync-failure; do
    run_check "sim-scenario-$s" sim_expect_exit 0 "$SIM" run "$s" --seed 1
  done
  # the disk's own faults at more seeds: a bit flip at rest (in a segment, in an index file),
  # a failed fsync (EIO, ENOSPC)
  for s in disk-corruption index-corruption sync-failure; do
    run_check "sim-swarm-$s-1-20" "$SIM" swarm "$s" --seeds 1-20
  done
  for b in net-drop net-dup net-reorder; do
    run_check "sim-checker-catches-$b" sim_expect_exit 1 "$SIM" run pubsub-basic --seed 1 --bug "$b"
  done
  # a store that acknowledges before fsync (nats-server's default sync_interval) loses acked
  # messages at a power cut: the checker must say so
  run_check "sim-checker-catches-ack-before-fsync" sim_expect_exit 1 "$SIM" run crash-during-publish --seed 1 --sync 2m
  run_check "sim-bad-scenario" sim_bad_scenario
  run_check "sim-list" sim_list
  run_check "sim-swarm-random-faults-1-20" "$SIM" swarm random-faults --seeds 1-20
  # clusters (issue 13): nodes > 1 is one cluster whose routes run over the simulated network
  for s in cluster-pubsub cluster-node-crash cluster-partition; do
    run_check "sim-swarm-$s-1-100" "$SIM" swarm "$s" --seeds 1-100
  done
  run_check "sim-determinism-cluster-partition" sim_same_hash cluster-partition 7
  for b in route-forward-routed route-no-replay route-no-unsub; do
    run_check "sim-checker-catches-$b" sim_expect_exit 1 "$SIM" run cluster-partition --seed 1 --bug "$b"
  done
  run_check "sim-cluster-jetstream-no-islands" sim_cluster_js_runs
  # clustered JetStream (issue 14): R3/R5 streams whose Raft logs live on the simulated
  # disks and travel over the simulated routes; publishers that fail over. Checkers: the
  # queue checker (ok/lost/unknown/recovered/unexpected) and replicas byte-identical at every step
  for s in failover-leader-kill failover-partition-leader failover-minority-partition failover-pause failover-clock-jump failover-consumers \
           failover-workqueue failover-interest failover-power-loss failover-rolling-restart jepsen-6888 jepsen-7549 jepsen-7549-snapshots jepsen-7556 jepsen-7564 jepsen-7567; do
    run_check "sim-swarm-$s-1-20" "$SIM" swarm "$s" --seeds 1-20
  done
  run_check "sim-swarm-failover-random-1-20" "$SIM" swarm failover-random --seeds 1-20
  # num_replicas changes and PEER.REMOVE under faults (book 11.12); the seeds that found a
  # lost catch-up source, a removed server forgetting its votes, a leaving voter not reopened,
  # a stream leader acting on a stale catalogue (293), a restarted leader not counting the
  # leaving voters (130), a change computed from peers another change had replaced (157, 269),
  # the last voter removing itself first (269), a liveness window judged on no publish (224),
  # a shrink removing a live voter before a silent one, leaving no live majority (131, 343),
  # a first peer that learned of its stream from a meta snapshot booting without itself (41, 70, 89)
  for s in failover-scale failover-scale-random; do
    run_check "sim-swarm-$s-1-20" "$SIM" swarm "$s" --seeds 1-20
  done
  run_check "sim-failover-scale-random-seeds" sim_seeds failover-scale-random 18 41 47 54 70 84 89 91 130 131 157 224 269 293 343
  run_check "sim-determinism-failover-leader-kill" sim_same_hash failover-leader-kill 3
  # a stale leader woken from a pause tripped an invariant before the fix (these seeds)
  run_check "sim-failover-pause-stale-leader-seeds" sim_seeds failover-pause 21 23 26 57
  # a deposed leader applied the new leader's retention removals while its consumer still
  # held one of them pending (src/stream_publish.c stream_repl_removed)
  run_check "sim-failover-workqueue-stale-leader-removal-seed" sim_seeds failover-workqueue 39
  # lazy fsync (nats-server's default) plus a coordinated power loss must LOSE acked data,
  # and the checker must say so; the broken variants must be caught
  run_check "sim-jepsen-7564-lazy-sync-loses-acked" sim_expect_exit 1 "$SIM" run jepsen-7564 --seed 1 --sync 2m
  run_check "sim-checker-catches-js-ack-before-commit" sim_expect_exit 1 "$SIM" run failover-partition-leader --seed 1 --bug js-ack-before-commit
  run_check "sim-checker-catches-js-append-before-fsync" sim_expect_exit 1 "$SIM" run jepsen-7564 --seed 1 --bug js-append-before-fsync
  run_check "sim-checker-catches-js-vote-truncated" sim_expect_exit 1 "$SIM" run jepsen-7549 --seed 1 --bug js-vote-truncated
  # retention (work queue, interest) removes through the stream's log: a leader that removes
  # only from its own store leaves replicas that disagree, and the retention checker says so
  run_check "sim-checker-catches-js-remove-locally-workqueue" sim_expect_exit 1 "$SIM" run failover-workqueue --seed 1 --bug js-remove-locally
  run_check "sim-checker-catches-js-remove-locally-interest" sim_expect_exit 1 "$SIM" run failover-interest --seed 1 --bug js-remove-locally
  # Raft's five properties on every group every Ready batch; the two Raft-level bugs caught by
  # them (a PubAck before commit is not a Raft bug: only the queue checker sees it)
  run_check "sim-raft-checkers-wired" sim_raft_checked
  run_check "sim-raft-checker-catches-js-vote-truncated" sim_raft_catches "leader completeness" run jepsen-7549 --seed 1 --bug js-vote-truncated
  run_check "sim-raft-checker-catches-js-append-before-fsync" sim_raft_catches "leader completeness" run jepsen-7564 --seed 1 --bug js-append-before-fsync
  run_check "sim-lost-chart" sim_lost_chart
  run_check "sim-jepsen-7556-detects-and-repairs" sim_jepsen_7556_detects
  run_check "sim-jepsen-7549-snapshots-repairs" sim_jepsen_7549_snapshots_repairs
  run_check "sim-cluster-chart" sim_cluster_chart
  run_check "sim-cluster-chart-pubacks" sim_cluster_chart_js
else
  run_check "sim-binary-built" test -x "$SIM"
fi

# The book and the labs (issue 8; tools/book/book.py, labs/lab.py):
#   book-test    every `sh runnable` session against a fresh server, every citation resolves (TAP)
#   labs-check   each lab's reference scores full marks; its starter builds and scores less
echo "== book and labs"
run_suite "book-test" 300 python3 tools/book/book.py test
run_check "labs-check" python3 labs/lab.py check

# Raft in the simulator (sim/sim_raft.c, book chapter 9 "Running Raft in the simulator"):
#   raft-*        each raft scenario once on seed 1: every checker holds (exit 0)
#   determinism   raft-random and raft-figure8 run twice with one seed: equal trace hashes
#   swarm         30 seeds of raft-random (make swarm runs 1,000), 20 of every other raft-*
#   broken rule   RAFT_BUG_COMMIT_OLD_TERM (--bug raft-commit-old-term) under the Figure 8
#                 adversary on seed 2 is caught: exit 1 (safety); the correct rule passes it
echo "== raft in the simulator"
if [ -x "$SIM" ]; then
  for s in raft-basic raft-leader-crash raft-partition raft-figure8 raft-unreliable raft-reorder raft-random; do
    run_check "sim-$s" sim_expect_exit 0 "$SIM" run "$s" --seed 1
  done
  run_check "sim-determinism-raft-random" sim_same_hash raft-random 7
  run_check "sim-determinism-raft-figure8" sim_same_hash raft-figure8 2
  run_check "sim-swarm-raft-random-1-30" "$SIM" swarm raft-random --seeds 1-30
  # the scripted Raft scenarios at 20 seeds each, not only seed 1 (~3 s each on 2 cores)
  for s in raft-basic raft-leader-crash raft-partition raft-figure8 raft-unreliable raft-reorder; do
    run_check "sim-swarm-$s-1-20" "$SIM" swarm "$s" --seeds 1-20
  done
  run_check "sim-raft-figure8-seed2-correct-rule" sim_expect_exit 0 "$SIM" run raft-figure8 --seed 2
  run_check "sim-raft-catches-commit-old-term" sim_expect_exit 1 "$SIM" run raft-figure8 --seed 2 --bug raft-commit-old-term
fi
