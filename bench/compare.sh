#!/usr/bin/env bash
# bench/compare.sh — minijet and nats-server 2.9.10 side by side (make bench, make bench-quick).
#
# METHOD
#   Both servers run on loopback with equivalent settings (-a 127.0.0.1 -p PORT -js -sd DIR),
#   a fresh pair per scenario. Each scenario runs ROUNDS times on each server IN ALTERNATION,
#   in ABBA order (minijet first in odd rounds, nats-server first in even ones) so that a
#   machine that gets slower or faster during the run does not favour either side. We report
#   the median of the runs, their spread (min–max), and the ratio minijet ÷ nats-server of
#   the medians: for throughput higher is better; for latency (p99) lower is better.
#   Every figure is a ratio measured in one sitting because these machines are shared and
#   noisy: absolute numbers from different days are not comparable, ratios roughly are.
#
# USAGE
#   bench/compare.sh [--quick]       (make bench / make bench-quick)
#   Environment: ROUNDS, DURATION (seconds per run), SCENARIOS (space separated),
#   MINIJET (server binary), MINIJET_ARGS (extra minijet flags), NATS_SERVER (reference
#   binary), BENCH (load generator), FILL_COUNT (messages pull/push consume),
#   OBJ_MIB (object size for objput/objget: 100, quick 10), OBJ_ROUNDS (their rounds: 5, quick 3).
#   MINIJET_BASE (a second minijet binary, e.g. an older commit's build: it runs beside the
#   first in every single-server scenario as "minijet-base", and as "minijet-base-2m" where
#   minijet-2m runs; its rows are labelled "(MINIJET_BASE_LABEL)", default "base").
#   failover (opt-in: SCENARIOS="... failover"; about 5 minutes): bench/failover.mjs on a
#   three-node cluster of each kind: kill -9 of the stream leader to the next ack
#   (FAILOVER_KILLS, default 9), a restarted follower FAILOVER_BEHIND (10,000) messages behind
#   until current, a follower SIGSTOPped FAILOVER_PAUSE_S (10) s, FAILOVER_STEPDOWNS (9)
#   leader stepdowns under a steady publisher (its longest gap, its timed-out attempts); raw rows in
#   bench/results/<stamp>[-partial]-failover.csv, medians in the summary.
#   objput/objget run bench/objbench.mjs with node and nats.js (libnats has no object store);
#   without node they are skipped.
#   The disk ceiling (issue 15): in every round of jspub, the same rounds also time the disk
#   alone, no server (minijet-bench -D <the stores' folder> fsync-append / fsync-prealloc:
#   208-byte write + fdatasync for DURATION s, growing file / preallocated file), rows
#   "fsync-append" and "fsync-prealloc" (server "disk"): a sync publish with fsync before its
#   ack cannot beat fsync-prealloc. DISK_CEILING=0 leaves them out.
#
# OUTPUT
#   the table on stdout, and
#   bench/results/<date>[-quick|-partial].csv every run (round,scenario,server,figures...)
#   bench/results/<date>[-quick|-partial]-summary.csv  medians, spread, ratios (feeds the plot)
#   bench/results/<date>[-quick|-partial].txt the table as printed
#   plots/bench.png                           bar chart of the ratios (plots/bench.gp), full runs only
set -u
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick -eq 1 ]; then
  ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-1}; FILL_COUNT=${FILL_COUNT:-50000}; tag=-quick
  OBJ_MIB=${OBJ_MIB:-10}; OBJ_ROUNDS=${OBJ_ROUNDS:-3}
else
  ROUNDS=${ROUNDS:-7}; DURATION=${DURATION:-2}; FILL_COUNT=${FILL_COUNT:-100000}; tag=""
  OBJ_MIB=${OBJ_MIB:-100}; OBJ_ROUNDS=${OBJ_ROUNDS:-5}
fi
ALL_SCENARIOS="pub pubsub fanout queue reqrep jspub jspubasync pull push kvput kvget objput objget pubsub-route queue-route jspub-r3 jspubasync-r3"
# A run of some scenarios only (SCENARIOS=...) is kept as <stamp>-partial.*: it never becomes
# "the results" (bench/results/LATEST), whose tables need every row. The opt-in failover
# scenario does not make a run partial; a second binary (MINIJET_BASE) does.
[ -n "${SCENARIOS:-}" ] && [ "$(echo $SCENARIOS | sed 's/\bfailover\b//' | xargs)" != "$ALL_SCENARIOS" ] \
  && [ -z "$tag" ] && tag=-partial
[ -n "${MINIJET_BASE:-}" ] && [ -z "$tag" ] && tag=-partial
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/interop/js/node_modules/nats ]; then
  SCENARIOS=$(echo " $SCENARIOS " | sed 's/ objput / /; s/ objget / /')   # nats.js needed
fi
# Where the sync policy decides the figure, minijet also runs as "minijet-2m" (--sync_interval
# 2m: nats-server 2.9.10's promise) so there is an equal-policy row. SYNC_SCENARIOS="" skips it.
SYNC_SCENARIOS=${SYNC_SCENARIOS-"jspub jspubasync kvput objput jspub-r3 jspubasync-r3"}
MINIJET=${MINIJET:-build/minijet-server}
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
BENCH=${BENCH:-build/minijet-bench}
RUN_LIMIT=$(( DURATION * 5 + 20 ))   # hard bound per load-generator run, seconds

MINIJET_BASE_LABEL=$(echo "${MINIJET_BASE_LABEL:-base}" | tr -d ",")
for f in "$MINIJET" "$NATS_SERVER" "$BENCH" ${MINIJET_BASE:-}; do
  [ -x "$f" ] || { echo "compare.sh: $f is missing (make all build/minijet-bench)"; exit 1; }
done

stamp=$(date +%Y-%m-%d_%H%M%S)
mkdir -p bench/results plots
raw=bench/results/$stamp$tag.csv
summary=bench/results/$stamp$tag-summary.csv
table=bench/results/$stamp$tag.txt
work=$(mktemp -d /tmp/minijet-bench.XXXXXX)

# ---------------------------------------------------------------- servers

declare -A pid=()     # server name -> pid of the process we started
declare -A port=()
ALL_SERVERS=(minijet minijet-2m minijet-base minijet-base-2m nats-server)
SERVERS=(minijet nats-server)   # the servers of the current scenario

# A loopback port nobody listens on (bounded: 200 tries).
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$(( 20000 + (RANDOM % 30000) ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return 0; fi
  done
  return 1
}

# A cluster of n servers of one kind (pubsub-route: 2 nodes, queue-route: 3, no JetStream;
# jspub-r3, jspubasync-r3: 3 nodes with JetStream, "js", each its own fresh store dir):
# one shared --routes list, --cluster_name bench, nodes named n1..n<n> in the order of the
# client ports the load generator gets (-c). The route scenarios wait for interest themselves
# (bench/loadgen.c, run_throughput); the R3 ones connect to the stream leader's node.
declare -A cpids=() cports=()
start_cluster() {  # name n [js]
  local name=$1 n=$2 js=${3:-} i bin routes="" list="" cp=() jsargs=()
  case $name in minijet|minijet-2m) bin=$MINIJET ;; nats-server) bin=$NATS_SERVER ;; *) return 1 ;; esac
  local ps=()
  local taken=" " q
  for ((i = 0; i < 2 * n; i++)); do   # 2n distinct ports: free_port alone may repeat itself
    q=$(free_port); while [[ "$taken" == *" $q "* ]]; do q=$(free_port); done; taken+="$q "
    if (( i < n )); then ps+=("$q"); else cp+=("$q"); fi
  done
  for ((i = 0; i < n; i++)); do routes+="${routes:+,}nats://127.0.0.1:${cp[$i]}"; list+="${list:+,}${ps[$i]}"; done
  cpids[$name]=""
  for ((i = 0; i < n; i++)); do
    jsargs=()
    if [ -n "$js" ]; then
      rm -rf "$work/store-$name-n$((i + 1))"; mkdir -p "$work/store-$name-n$((i + 1))"
      jsargs=(-js -sd "$work/store-$name-n$((i + 1))")
      # minijet-2m: nats-server 2.9.10's promise (ack at once, fsync every 2 min), as below
      [ "$name" = minijet-2m ] && jsargs+=(--sync_interval 2m)
      [ "$name" != nats-server ] && jsargs+=(${MINIJET_ARGS:-})
    fi
    "$bin" -a 127.0.0.1 -p "${ps[$i]}" --cluster "nats://127.0.0.1:${cp[$i]}" --routes "$routes" \
      --cluster_name bench -n "n$((i + 1))" "${jsargs[@]}" >>"$work/$name-cluster.log" 2>&1 &
    cpids[$name]+=" $!"
  done
  cports[$name]=$list
  port[$name]=${ps[0]}
  local first=${cpids[$name]# }; pid[$name]=${first%% *}
  for ((i = 0; i < n; i++)); do
    local k
    for ((k = 0; k < 50; k++)); do "$BENCH" -p "${ps[$i]}" -T 1 ping 2>/dev/null && break; sleep 0.1; done
  done
}

stop_cluster() {  # name
  local name=$1 p
  for p in ${cpids[$name]:-}; do kill -TERM "$p" 2>/dev/null; done
  for p in ${cpids[$name]:-}; do
    local i; for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  cpids[$name]=""; cports[$name]=""; pid[$name]=""
}

start_server() {  # name
  local name=$1 dir=$work/store-$1 p
  rm -rf "$dir"; mkdir -p "$dir"
  p=$(free_port) || { echo "no free port"; return 1; }
  port[$name]=$p
  case $name in
    # MINIJET_ARGS: extra flags, e.g. "-c bench/equal-sync.conf" for an equal sync policy.
    minijet)     "$MINIJET" -a 127.0.0.1 -p "$p" -js -sd "$dir" ${MINIJET_ARGS:-} >>"$work/$name.log" 2>&1 & ;;
    # The same promise as nats-server 2.9.10: ack at once, fsync every 2 minutes.
    minijet-2m)  "$MINIJET" -a 127.0.0.1 -p "$p" -js -sd "$dir" --sync_interval 2m ${MINIJET_ARGS:-} >>"$work/$name.log" 2>&1 & ;;
    # MINIJET_BASE: the second minijet (an older build), at both policies.
    minijet-base)    "$MINIJET_BASE" -a 127.0.0.1 -p "$p" -js -sd "$dir" >>"$work/$name.log" 2>&1 & ;;
    minijet-base-2m) "$MINIJET_BASE" -a 127.0.0.1 -p "$p" -js -sd "$dir" --sync_interval 2m >>"$work/$name.log" 2>&1 & ;;
    nats-server) "$NATS_SERVER" -a 127.0.0.1 -p "$p" -js -sd "$dir" >>"$work/$name.log" 2>&1 & ;;
  esac
  pid[$name]=$!
  local i
  for ((i = 0; i < 50; i++)); do   # up to 5 s for the first PONG
    if "$BENCH" -p "$p" -T 1 ping 2>/dev/null; then return 0; fi
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare.sh: $name did not start; its log:"; tail -5 "$work/$name.log"
  return 1
}

stop_server() {  # name
  local name=$1 p=${pid[$1]:-} i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  pid[$name]=""
}

cleanup() {
  for s in "${ALL_SERVERS[@]}"; do if [ -n "${cpids[$s]:-}" ]; then stop_cluster "$s"; else stop_server "$s"; fi; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- header

cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
nats_version=$("$NATS_SERVER" --version 2>&1 | head -1)
{
  echo "minijet vs nats-server — $(date '+%Y-%m-%d %H:%M %Z'), $(hostname), $cores cores ($cpu), Linux $(uname -r)"
  echo "mode: $([ $quick -eq 1 ] && echo quick || echo full), $ROUNDS rounds per scenario, ${DURATION} s per run, alternating ABBA"
  echo "servers: minijet ($MINIJET${MINIJET_ARGS:+ $MINIJET_ARGS}, single-threaded) vs $nats_version (Go, GOMAXPROCS=${GOMAXPROCS:-$cores});"
  echo "  both on 127.0.0.1, -js -sd <fresh dir> per scenario. Server and load generator share the"
  echo "  same $cores cores, unpinned: raw-socket scenarios use one loadgen thread (the server keeps a"
  echo "  core), libnats scenarios use the library's threads (requester, reader, flusher, responder)."
  echo "sync policy (JetStream scenarios only): nats-server 2.9.10 acks before fsync and fsyncs the"
  echo "  file store on a timer (sync_interval, default 2 min); minijet fsyncs before it acks, with"
  echo "  group commit (one fsync covers every append waiting at that moment). Rows marked"
  echo "  \"(sync 2m)\" run minijet with --sync_interval 2m, the same promise as nats-server."
  [ -n "${MINIJET_BASE:-}" ] && echo "second minijet: $MINIJET_BASE, rows \"($MINIJET_BASE_LABEL)\" (and \"($MINIJET_BASE_LABEL sync 2m)\"), same sitting, same ABBA order"
  # The disk's fsync cost now: it sets the floor for every fsync-before-ack figure, and on
  # a shared virtual disk it changes from minute to minute.
  dd_s=$(dd if=/dev/zero of="$work/ddtest" bs=4k count=200 oflag=dsync 2>&1 | tail -1 \
         | sed -n 's/.*copied, \([0-9.]*\) s.*/\1/p')
  rm -f "$work/ddtest"
  [ -n "$dd_s" ] && echo "disk: a synchronous 4 KiB write (dd oflag=dsync, 200 of them) took $(awk -v s="$dd_s" 'BEGIN { printf "%.0f", s / 200 * 1e6 }') us on average"
} | tee "$table"

echo "round,scenario,server,msgs_per_s,MB_per_s,p50_us,p90_us,p99_us,p999_us,max_us" >"$raw"

# ---------------------------------------------------------------- runs

run_one() {  # round scenario server
  local round=$1 sc=$2 name=$3 out err rc extra=""
  case $sc in pull|push) extra="-n $FILL_COUNT" ;; esac
  local gen=("$BENCH") limit=$RUN_LIMIT
  case $name in disk-*)   # the disk alone, no server (see USAGE): its own scenario name in the row
    out=$(timeout -k 2 "$RUN_LIMIT" "$BENCH" -l disk -d "$DURATION" -D "$work" "fsync-${name#disk-}" 2>"$work/err")
    rc=$?
    if [ $rc -eq 0 ] && [ -n "$out" ]; then echo "$round,$out" >>"$raw"; return 0; fi
    err=$(tail -1 "$work/err" | tr ',' ';')
    echo "$round,fsync-${name#disk-},disk,FAIL,${err:-exit $rc}" >>"$raw"
    echo "  fsync-${name#disk-} on disk, round $round: ${err:-exit $rc}" >>"$work/failures"
    return 1 ;;
  esac
  # Object store: nats.js (libnats has none). The object is OBJ_MIB MiB; bound 60 s + 1 s/MiB.
  case $sc in objput|objget) gen=(node bench/objbench.mjs); extra="-m $OBJ_MIB"; limit=$(( 60 + OBJ_MIB )) ;; esac
  case $sc in *-route|*-r3) extra="-c ${cports[$name]}" ;; esac
  if [ -z "${cpids[$name]:-}" ] && ! kill -0 "${pid[$name]:-0}" 2>/dev/null; then
    echo "  $sc on $name, round $round: the server had exited; restarted it" >>"$work/failures"
    start_server "$name" || { echo "$round,$sc,$name,FAIL,server would not start" >>"$raw"; return 1; }
  fi
  if [ "${gen[0]}" = node ]; then
    out=$(timeout -k 2 "$limit" node bench/objbench.mjs -p "${port[$name]}" -l "$name" \
          -T $(( limit - 5 )) $extra "$sc" 2>"$work/err")
  else
    out=$(timeout -k 2 "$RUN_LIMIT" "$BENCH" -p "${port[$name]}" -l "$name" -d "$DURATION" \
          -T $(( RUN_LIMIT - 5 )) $extra "$sc" 2>"$work/err")
  fi
  rc=$?
  if [ $rc -eq 0 ] && [ -n "$out" ]; then
    echo "$round,$out" >>"$raw"
    return 0
  fi
  err=$(tail -1 "$work/err" | tr ',' ';')
  [ $rc -eq 124 ] && err="killed after ${limit}s"
  echo "$round,$sc,$name,FAIL,${err:-exit $rc}" >>"$raw"
  echo "  $sc on $name, round $round: ${err:-exit $rc}" >>"$work/failures"
  return 1
}

# failover: bench/failover.mjs once per kind (its own rounds; it starts its own clusters).
FAILOVER_KILLS=${FAILOVER_KILLS:-9}; FAILOVER_BEHIND=${FAILOVER_BEHIND:-10000}; FAILOVER_PAUSE_S=${FAILOVER_PAUSE_S:-10}
FAILOVER_STEPDOWNS=${FAILOVER_STEPDOWNS:-9}
failover_raw=bench/results/$stamp$tag-failover.csv
run_failover() {
  local kind out
  echo "scenario,server,round,metric,value" >"$failover_raw"
  for kind in minijet nats-server; do
    out=$(MINIJET_SERVER_BIN=$MINIJET NATS_SERVER_BIN=$NATS_SERVER timeout -k 5 1200 node bench/failover.mjs \
          -k "$kind" -K "$FAILOVER_KILLS" -N "$FAILOVER_BEHIND" -C 3 -P "$FAILOVER_PAUSE_S" -S 2 -D "$FAILOVER_STEPDOWNS" 2>>"$work/failover.log")
    local rc=$?
    [ -n "$out" ] && echo "$out" >>"$failover_raw"
    if [ $rc -eq 0 ]; then printf '.'; else printf 'x'; echo "  failover on $kind: $(grep FAIL "$work/failover.log" | tail -1)" >>"$work/failures"; fi
  done
}

t_start=$SECONDS
for sc in $SCENARIOS; do
  printf 'running %-11s' "$sc"
  if [ "$sc" = failover ]; then
    command -v node >/dev/null 2>&1 && [ -d tests/interop/js/node_modules/nats ] && run_failover
    printf ' %3ds\n' $(( SECONDS - t_start )); continue
  fi
  SERVERS=(minijet nats-server)
  case " $SYNC_SCENARIOS " in *" $sc "*) SERVERS=(minijet minijet-2m nats-server) ;; esac
  if [ -n "${MINIJET_BASE:-}" ]; then
    case $sc in
      *-route|*-r3) ;;
      *) case " $SYNC_SCENARIOS " in
           *" $sc "*) SERVERS=(minijet minijet-2m minijet-base minijet-base-2m nats-server) ;;
           *) SERVERS=(minijet minijet-base nats-server) ;;
         esac ;;
    esac
  fi
  DISKS=()   # the disk ceiling beside jspub, in the same rounds (USAGE)
  [ "$sc" = jspub ] && [ "${DISK_CEILING:-1}" != 0 ] && DISKS=(disk-append disk-prealloc)
  case $sc in
    pubsub-route) for s in "${SERVERS[@]}"; do start_cluster "$s" 2; done ;;
    queue-route)  for s in "${SERVERS[@]}"; do start_cluster "$s" 3; done ;;
    *-r3)         for s in "${SERVERS[@]}"; do start_cluster "$s" 3 js; done ;;
    *) for s in "${SERVERS[@]}"; do start_server "$s" >>"$work/failures" || true; done ;;
  esac
  declare -A fails=([minijet]=0 [minijet-2m]=0 [minijet-base]=0 [minijet-base-2m]=0 [nats-server]=0 [disk-append]=0 [disk-prealloc]=0)
  rounds=$ROUNDS
  case $sc in objput|objget) rounds=$OBJ_ROUNDS ;; esac
  for ((r = 1; r <= rounds; r++)); do
    # ABBA: forwards in odd rounds, backwards in even ones.
    all=("${SERVERS[@]}" "${DISKS[@]}")
    order=("${all[@]}")
    if (( r % 2 == 0 )); then order=(); for ((i = ${#all[@]} - 1; i >= 0; i--)); do order+=("${all[$i]}"); done; fi
    for s in "${order[@]}"; do
      # Two failures on one server end that server's runs of this scenario (not implemented
      # yet, or broken): the remaining runs would only spend the time budget.
      (( fails[$s] >= 2 )) && continue
      if run_one "$r" "$sc" "$s"; then printf '.'; else fails[$s]=$(( fails[$s] + 1 )); printf 'x'; fi
    done
  done
  for s in "${SERVERS[@]}"; do if [ -n "${cpids[$s]:-}" ]; then stop_cluster "$s"; else stop_server "$s"; fi; done
  printf ' %3ds\n' $(( SECONDS - t_start ))
done

# ---------------------------------------------------------------- summary

# One row per (scenario, metric): medians and spread on each server, and the ratio.
# mawk has no sort function: a small insertion sort per group is plenty for 7 values.
awk -F, -v baselabel="$MINIJET_BASE_LABEL" '
function median(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  cnt = n
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  lo = a[1]; hi = a[n]
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { if (v == "") return; vals[key] = vals[key] " " v; seen[key] = 1 }
NR == 1 { next }
!($2 in scen) { scen[$2] = 1; order[++nm] = $2 }   # scenarios in the order they ran
$4 == "FAIL" { failed[$2 "," $3] = 1; next }
{
  add($2 ",msgs_per_s," $3, $4)
  add($2 ",MB_per_s," $3, $5)
  add($2 ",p50_us," $3, $6)
  add($2 ",p99_us," $3, $9)
  if ($9 != "") haslat[$2] = 1
}
END {
  print "scenario,metric,better,minijet_median,minijet_min,minijet_max,minijet_runs,nats_median,nats_min,nats_max,nats_runs,ratio"
  for (k = 1; k <= nm; k++) {
    sc = order[k]
    # object scenarios: MB/s (one object per run, so objects/s says little)
    nmet = split(sc ~ /^obj/ ? "MB_per_s" : "msgs_per_s p50_us p99_us", mets, " ")
    for (v = 1; v <= 5; v++) {
    var = (v == 1) ? "minijet" : (v == 2) ? "minijet-2m" : (v == 3) ? "minijet-base" : (v == 4) ? "minijet-base-2m" : "disk"
    suffix = (v == 1 || v == 5) ? "" : (v == 2) ? " (sync 2m)" : (v == 3) ? " (" baselabel ")" : " (" baselabel " sync 2m)"
    # the disk rows (fsync-*) have no minijet and no nats-server: their figure sits in the minijet columns
    if ((v > 1 || (sc "," mets[1] ",disk") in seen || (sc ",disk") in failed) && !((sc "," mets[1] "," var) in seen) && !((sc "," var) in failed)) continue
    for (m = 1; m <= nmet; m++) {
      met = mets[m]
      if (met ~ /^p/ && !(sc in haslat)) continue   # latency rows where measured
      better = (met ~ /_per_s$/) ? "higher" : "lower"
      km = sc "," met "," var; kn = sc "," met ",nats-server"
      mm = ""; ml = ""; mh = ""; mc = 0
      if (km in seen) { mm = median(vals[km]); ml = lo; mh = hi; mc = cnt }
      nn = ""; nl = ""; nh = ""; ncnt = 0
      if (kn in seen) { nn = median(vals[kn]); nl = lo; nh = hi; ncnt = cnt }
      if (mm != "") mm = sprintf("%.1f", mm)   # not 3.8e+06: mawk prints numbers with %.6g
      if (nn != "") nn = sprintf("%.1f", nn)
      ratio = (mm != "" && nn != "" && nn + 0 > 0) ? sprintf("%.2f", mm / nn) : "n/a"
      printf "%s,%s,%s,%s,%s,%s,%d,%s,%s,%s,%d,%s\n", sc suffix, met, better, mm, ml, mh, mc, nn, nl, nh, ncnt, ratio
    }
    }
  }
}' "$raw" >"$summary"

# failover rows: medians per (part, metric), minijet beside nats-server, lower is better.
if [ -s "$failover_raw" ]; then
  awk -F, '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " "); cnt = n
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[n]
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NR == 1 { next }
  { k = $1 "," $4; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }; vals[k "," $2] = vals[k "," $2] " " $5 }
  END {
    for (i = 1; i <= nk; i++) {
      k = order[i]; mm = ""; nn = ""; mc = 0; ncnt = 0
      if ((k ",minijet") in vals) { mm = median(vals[k ",minijet"]); ml = lo; mh = hi; mc = cnt }
      if ((k ",nats-server") in vals) { nn = median(vals[k ",nats-server"]); nl = lo; nh = hi; ncnt = cnt }
      ratio = (mm != "" && nn != "" && nn + 0 > 0) ? sprintf("%.2f", mm / nn) : "n/a"
      printf "%s,lower,%s,%s,%s,%d,%s,%s,%s,%d,%s\n", k, mm, ml, mh, mc, nn, nl, nh, ncnt, ratio
    }
  }' "$failover_raw" >>"$summary"
fi

# The table: human units (M/k for rates, us for latencies).
awk -F, '
function human(v, met) {
  if (v == "") return "-"
  if (met == "MB_per_s") return sprintf("%.1f MB/s", v)
  if (met ~ /_ms$/) return sprintf("%.0f ms", v)
  if (met == "failed_publishes" || met == "leader_changed" || met == "timeouts") return sprintf("%.0f", v)
  if (met != "msgs_per_s") return sprintf("%.0f us", v)
  if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
  if (v >= 1e3) return sprintf("%.1fk", v / 1e3)
  return sprintf("%.0f", v)
}
function spread(lo, hi, met) {
  if (lo == "") return ""
  if (met == "MB_per_s") return sprintf("(%.1f - %.1f)", lo, hi)   # the unit is on the median
  return "(" human(lo, met) " - " human(hi, met) ")"
}
NR == 1 {
  printf "\n%-20s %-7s %-30s %-30s %s\n", "scenario", "metric", "minijet median (min - max)", "nats-server median (min - max)", "ratio minijet/nats-server"
  next
}
{
  metric = ($2 == "msgs_per_s") ? "msgs/s" : ($2 == "MB_per_s" ? "MB/s" : ($2 == "p50_us" ? "p50" : ($2 == "p99_us" ? "p99" : $2)))
  note = ($3 == "higher") ? "higher is better" : ($2 ~ /_us$/ ? "latency: lower is better" : "lower is better")
  r = ($12 == "n/a") ? "n/a" : $12 "x"
  m = ($7 > 0) ? human($4, $2) " " spread($5, $6, $2) : "FAILED"
  n = ($11 > 0) ? human($8, $2) " " spread($9, $10, $2) : ($1 ~ /^fsync-/ ? "-" : "FAILED")   # disk rows: no server
  printf "%-20s %-7s %-30s %-30s %-6s %s\n", $1, metric, m, n, r, "(" note ")"
}' "$summary" | tee -a "$table"

if [ -s "$work/failures" ]; then
  { echo; echo "failed runs (x above; two failures end a server's runs of a scenario):"; cat "$work/failures"; } | tee -a "$table"
fi
{
  echo
  echo "msgs/s: pub = accepted by the server; pubsub/fanout/queue = delivered (fan-out counts all 4"
  echo "copies); reqrep = round trips; jspub/jspubasync = acknowledged; pull/push = consumed and"
  echo "acked ($FILL_COUNT pre-filled); kvput/kvget = operations over 1,000 keys; objput/objget ="
  echo "MB/s (10^6 B) of one $OBJ_MIB MiB object through nats.js (bench/objbench.mjs), $OBJ_ROUNDS rounds."
  echo "pubsub-route: publisher on node A, subscriber on node B of a 2-node cluster (minijet+minijet vs"
  echo "nats-server+nats-server); queue-route: 4 queue members over 3 nodes (2 on A), publisher on A;"
  echo "cluster nodes run without JetStream. jspub-r3/jspubasync-r3: an R3 file stream on a 3-node"
  echo "JetStream cluster of each kind, the libnats client on the stream leader's node (the PubAck"
  echo "comes after a quorum has the message: minijet fsyncs it first unless \"(sync 2m)\")."
  echo "fsync-append/fsync-prealloc: no server, the disk alone in the jspub rounds (its figure in the"
  echo "minijet column): 208 B write + fdatasync per op, appending / into a preallocated file (the"
  echo "ceiling of jspub with fsync before ack; bench/loadgen.c)."
  echo "payloads: 16 B core, 64 B reqrep and KV, 128 B JetStream. raw runs: $raw"
  echo "elapsed: $(( SECONDS - t_start )) s"
} | tee -a "$table"

# A full run becomes "the results": bench/results/LATEST names it, and the generated tables
# of README.md, bench/LATEST.md and the book's appendix B are rewritten from it.
if [ -z "$tag" ]; then
  sed -i "s/^bench .*/bench   $stamp/" bench/results/LATEST
  python3 tools/book/book.py bench-sync
fi

if [ -z "$tag" ] && command -v gnuplot >/dev/null 2>&1; then   # the chart shows "the results" only
  grep -v ',p50_us,' "$summary" | grep -v '^fsync-' >"$work/plot.csv"   # the chart: throughput and p99 only (fsync-*: no server)
  gnuplot -e "datafile='$work/plot.csv'; outfile='plots/bench.png'; subtitle='$(date +%Y-%m-%d), $cores cores, $ROUNDS rounds'" plots/bench.gp \
    && echo "plot: plots/bench.png"
fi
