#!/usr/bin/env bash
# bench/scaling.sh — how minijet and nats-server 2.9.10 scale (make bench-scaling; issue 9 §3).
#
# FIGURES (each: minijet and nats-server on 127.0.0.1, fresh store dirs, alternating order)
#   subs       pub→sub 1:1 throughput (16 B, build/minijet-bench pubsub -d 1) while the server
#              holds N subscriptions, N = 1 … 100,000: the one that matches `bench.s` plus N-1
#              that never match, a quarter each literal (noise.<i>.a) and wildcard
#              (noise.*.<i>, bench.s.<i>.>, *.x<i>). SUB_ROUNDS runs per point, median.
#   grow       async publish (window 4,000, 128 B) into one stream as it grows to GROW_TO
#              messages (1 M), the rate of each 100k slice. minijet, minijet --sync_interval 2m
#              (nats-server's promise) and nats-server; GROW_ROUNDS (2) runs, median per slice.
#   consumers  async publish rate with 1, 10, 100, 1,000 durable PULL consumers on the stream,
#              each filtered on its own subject that nothing is published to (idle,
#              non-matching consumers), CONS_ROUNDS rounds on fresh servers, median.
#   idle_conn  VmRSS (/proc/<pid>/status) of a fresh server before and while IDLE_CONNS raw
#              connections (CONNECT + PING/PONG, then nothing) are open: bytes per connection.
#   stored_msg VmRSS and bytes on disk (du of the store dir) before/after 100,000 messages of
#              128 B in one stream: bytes per stored message.
#   restart    the server stopped with SIGTERM and started again on the same store: seconds
#              from launch until a client connects (restart_connect) and until the stream
#              answers STREAM.INFO with every message (restart), RESTART_ROUNDS (5) times, at
#              100 k, 1 M and (BIG=1, the default when 3 GB of disk are free and the run is on
#              time) 5 M messages; the VmRSS after each (restart_rss). The RSS growth of
#              publishing the 1 M (stored_msg_rss at 1000000) is memory per message too.
#              restart_ids: the same at 1 M messages that each carry a Nats-Msg-Id (jsgrow -I),
#              restarted inside the 2-minute dedup window. fresh_rss: a fresh server's VmRSS.
#   many       MANY (10,000) file streams of one message each, created on a fresh server
#              (under the shell's own descriptor limit: nats-server 2.9.10 cannot create more
#              than ~500 file streams under 1,024, "error creating store for stream"), in
#              chunks of MANY_CHUNK (4,000) with a restart between (nats-server keeps two
#              descriptors per stream it created until it restarts; many_create sums them), then
#              MANY_ROUNDS (3) restarts under `ulimit -n MANY_NOFILE` (1,024): seconds until
#              $JS.API.INFO counts them all (restart_many) and the open descriptors then
#              (many_open_files, /proc/<pid>/fd).
#
# USAGE
#   bench/scaling.sh            (make bench-scaling), bounded: every run has a timeout and
#                               the 5 M step is skipped when the run is past TIME_BUDGET_BIG s.
#   FIGURES="restart" bench/scaling.sh   only some figures (subs consumers idle restart grow
#                               many; restart = stored messages, restarts at 100 k / 1 M / 5 M
#                               and restart_ids, without the minijet-2m growth curve): a partial
#                               run, bench/results/<date>-scaling-partial*.csv, no plots; a
#                               restart-only run becomes LATEST's `restart` line.
#   Environment: FIGURES, SUB_POINTS, SUB_ROUNDS, GROW_TO, GROW_ROUNDS, CONS_MAX, CONS_ROUNDS, IDLE_CONNS,
#   IDLE_ROUNDS, RESTART_ROUNDS, BIG (0/1), MANY (0 = skip), MANY_CHUNK, MANY_ROUNDS, MANY_NOFILE, MINIJET,
#   NATS_SERVER, BENCH.
#
# OUTPUT
#   bench/results/<date>-scaling.csv           every measurement: figure,server,x,value,unit,round
#   bench/results/<date>-scaling-summary.csv   medians (min, max, runs) per figure, server, x
#   plots/scaling-{subs,grow,consumers,memory,restart}.png   (plots/scaling-*.gp)
set -u
cd "$(dirname "$0")/.."

ALL_FIGURES="subs consumers idle restart grow many"
FIGURES=${FIGURES:-$ALL_FIGURES}
want() { [[ " $FIGURES " == *" $1 "* ]]; }
SUB_POINTS=${SUB_POINTS:-"1 10 100 1000 10000 100000"}
SUB_ROUNDS=${SUB_ROUNDS:-3}
GROW_TO=${GROW_TO:-1000000}
GROW_ROUNDS=${GROW_ROUNDS:-2}
CONS_MAX=${CONS_MAX:-1000}
CONS_ROUNDS=${CONS_ROUNDS:-2}
IDLE_CONNS=${IDLE_CONNS:-1000}
IDLE_ROUNDS=${IDLE_ROUNDS:-3}
RESTART_ROUNDS=${RESTART_ROUNDS:-5}
MANY=${MANY:-10000}
MANY_ROUNDS=${MANY_ROUNDS:-3}
MANY_NOFILE=${MANY_NOFILE:-1024}
MANY_CHUNK=${MANY_CHUNK:-4000}
TIME_BUDGET_BIG=${TIME_BUDGET_BIG:-1800}
MINIJET=${MINIJET:-build/minijet-server}
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
BENCH=${BENCH:-build/minijet-bench}

for f in "$MINIJET" "$NATS_SERVER" "$BENCH"; do
  [ -x "$f" ] || { echo "scaling.sh: $f is missing (make all build/minijet-bench)"; exit 1; }
done
work=$(mktemp -d /tmp/minijet-scaling.XXXXXX)
# Private copies of the binaries: a rebuild of build/ halfway through (someone else's `make`)
# must not make a restart fail with "Permission denied" or change the server under test.
cp "$MINIJET" "$work/minijet-server" && MINIJET=$work/minijet-server
cp "$BENCH" "$work/minijet-bench" && BENCH=$work/minijet-bench
if [ -z "${BIG:-}" ]; then
  free_kb=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
  BIG=$(( free_kb > 3 * 1024 * 1024 ? 1 : 0 ))
fi
stamp=$(date +%Y-%m-%d_%H%M%S)
mkdir -p bench/results plots
run=$stamp-scaling
[ "$FIGURES" = "$ALL_FIGURES" ] || run=$stamp-scaling-partial
raw=bench/results/$run.csv
summary=bench/results/$run-summary.csv
echo "figure,server,x,value,unit,round" >"$raw"

declare -A pid=() port=()
SERVERS2=(minijet nats-server)

free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$(( 20000 + (RANDOM % 30000) ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return 0; fi
  done
  return 1
}

# launch NAME [keep]: start a server (fresh store unless "keep"); returns at once.
launch() {
  local name=$1 dir=$work/store-$1
  [ "${2:-}" = keep ] || { rm -rf "$dir"; mkdir -p "$dir"; }
  [ -n "${port[$name]:-}" ] && [ "${2:-}" = keep ] || port[$name]=$(free_port)
  local nofile=${NOFILE:-$(ulimit -n)}  # NOFILE: the many-streams figure's descriptor limit
  case $name in
    minijet)     (ulimit -n "$nofile" && exec "$MINIJET" -a 127.0.0.1 -p "${port[$name]}" -js -sd "$dir") >>"$work/$name.log" 2>&1 & ;;
    minijet-2m)  (ulimit -n "$nofile" && exec "$MINIJET" -a 127.0.0.1 -p "${port[$name]}" -js -sd "$dir" --sync_interval 2m) >>"$work/$name.log" 2>&1 & ;;
    nats-server) (ulimit -n "$nofile" && exec "$NATS_SERVER" -a 127.0.0.1 -p "${port[$name]}" -js -sd "$dir") >>"$work/$name.log" 2>&1 & ;;
  esac
  pid[$name]=$!
}

start() {  # NAME [keep]: launch and wait (up to 10 s) for the first PONG
  local i
  launch "$@"
  for ((i = 0; i < 100; i++)); do
    "$BENCH" -p "${port[$1]}" -T 1 ping 2>/dev/null && return 0
    kill -0 "${pid[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "scaling.sh: $1 did not start:"; tail -3 "$work/$1.log"; return 1
}

stop() {  # NAME: SIGTERM, up to 30 s for a clean exit (a big store is flushed), then SIGKILL
  local p=${pid[$1]:-} i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < 300; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  pid[$1]=""
}

cleanup() { for s in minijet minijet-2m nats-server; do stop "$s"; done; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
row() { echo "$1,$2,$3,$4,$5,${6:-1}" >>"$raw"; }
say() { printf '%4ds  %s\n' $(( SECONDS - t_start )) "$*"; }
# The second field of a loadgen result line, or nothing on failure (bounded by timeout).
bench() { timeout -k 2 "$1" "$BENCH" "${@:2}" 2>>"$work/failures"; }

t_start=$SECONDS
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "scaling: minijet vs $("$NATS_SERVER" --version 2>&1 | head -1) — $(date '+%Y-%m-%d %H:%M %Z'), $(nproc) cores ($cpu)"
echo "  subs points: $SUB_POINTS x $SUB_ROUNDS rounds; grow to $GROW_TO; consumers to $CONS_MAX x $CONS_ROUNDS rounds;"
echo "  $IDLE_CONNS idle connections x $IDLE_ROUNDS rounds; restart at 100k, $GROW_TO$([ "$BIG" = 1 ] && echo ", 5M (if on time)") x $RESTART_ROUNDS;"
echo "  $MANY streams under ulimit -n $MANY_NOFILE, $MANY_ROUNDS restarts; load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$FIGURES" = "$ALL_FIGURES" ] || echo "  figures: $FIGURES (a partial run)"

# ------------------------------------------------------------------ subs
if want subs; then
for s in "${SERVERS2[@]}"; do start "$s" || exit 1; done
for n in $SUB_POINTS; do
  for ((r = 1; r <= SUB_ROUNDS; r++)); do
    order=("${SERVERS2[@]}"); (( r % 2 == 0 )) && order=(nats-server minijet)
    for s in "${order[@]}"; do
      out=$(bench 40 -p "${port[$s]}" -l "$s" -d 1 -T 35 -S $(( n - 1 )) pubsub)
      v=$(echo "$out" | cut -d, -f3)
      [ -n "$v" ] && row subs "$s" "$n" "$v" msgs_per_s "$r"
    done
  done
  say "subs $n: $(awk -F, -v n="$n" '$1 == "subs" && $3 == n { printf "%s=%s ", $2, $4 }' "$raw")"
done
for s in "${SERVERS2[@]}"; do stop "$s"; done
fi

# ------------------------------------------------------------------ consumers
want consumers || CONS_ROUNDS=0
for ((r = 1; r <= CONS_ROUNDS; r++)); do
  order=(minijet minijet-2m nats-server); (( r % 2 == 0 )) && order=(nats-server minijet-2m minijet)
  for s in "${order[@]}"; do
    start "$s" || continue
    bench 120 -p "${port[$s]}" -l "$s" -d 1 -T 110 -n "$CONS_MAX" jsconsumers | while IFS=, read -r _ _ n rate add_ms; do
      row consumers "$s" "$n" "$rate" msgs_per_s "$r"
      row consumer_add "$s" "$n" "$add_ms" ms "$r"
    done
    stop "$s"
  done
  say "consumers round $r: $(awk -F, -v r="$r" '$1 == "consumers" && $6 == r { printf "%s@%s=%s ", $2, $3, $4 }' "$raw")"
done

# ------------------------------------------------------------------ idle connections
want idle || IDLE_ROUNDS=0
for ((r = 1; r <= IDLE_ROUNDS; r++)); do
  order=("${SERVERS2[@]}"); (( r % 2 == 0 )) && order=(nats-server minijet)
  for s in "${order[@]}"; do
    start "$s" || continue
    sleep 0.5
    before=$(rss_kb "${pid[$s]}")
    bench 60 -p "${port[$s]}" -l "$s" -n "$IDLE_CONNS" -d 3 -T 50 idle >"$work/idle.out" &
    lg=$!
    for ((i = 0; i < 400; i++)); do grep -q ready "$work/idle.out" && break; kill -0 $lg 2>/dev/null || break; sleep 0.05; done
    sleep 1   # let the server settle (Go: goroutine stacks, buffers)
    with=$(rss_kb "${pid[$s]}")
    wait $lg
    if grep -q ready "$work/idle.out"; then
      row idle_conn_rss_before "$s" 0 "$before" kB "$r"
      row idle_conn "$s" "$IDLE_CONNS" $(( (with - before) * 1024 / IDLE_CONNS )) bytes_per_conn "$r"
    fi
    stop "$s"
  done
done
want idle && say "idle connections: $(awk -F, '$1 == "idle_conn" { printf "%s=%sB ", $2, $4 }' "$raw")"

# ------------------------------------------------------------------ stored messages, restart at 100k
restart_times() {  # NAME MSGS ROUNDS [FIGURE]: stop, relaunch on the same store, time until ready
  local s=$1 msgs=$2 fig=${4:-restart} k out
  for ((k = 1; k <= $3; k++)); do
    stop "$s"
    sync; sleep 0.3
    launch "$s" keep
    out=$(bench 200 -p "${port[$s]}" -l "$s" -n "$msgs" -T 180 jsready)
    if [ -n "$out" ]; then
      row "${fig}_connect" "$s" "$msgs" "$(echo "$out" | cut -d, -f3)" s "$k"
      row "$fig" "$s" "$msgs" "$(echo "$out" | cut -d, -f4)" s "$k"
      row "${fig}_rss" "$s" "$msgs" "$(rss_kb "${pid[$s]}")" kB "$k"
    fi
  done
}
want restart && for s in "${SERVERS2[@]}"; do
  start "$s" || continue
  sleep 0.5
  before=$(rss_kb "${pid[$s]}")
  row fresh_rss "$s" 0 "$before" kB
  disk_before=$(du -sb "$work/store-$s" | cut -f1)
  bench 120 -p "${port[$s]}" -l "$s" -n 100000 -T 110 jsgrow >/dev/null
  sleep 1
  after=$(rss_kb "${pid[$s]}")
  disk_after=$(du -sb "$work/store-$s" | cut -f1)
  row stored_msg_rss "$s" 100000 $(( (after - before) * 1024 / 100000 )) bytes_per_msg
  row stored_msg_disk "$s" 100000 $(( (disk_after - disk_before) / 100000 )) bytes_per_msg
  restart_times "$s" 100000 "$RESTART_ROUNDS"
  stop "$s"
done
want restart && say "stored message: $(awk -F, '$1 ~ /^stored_msg/ { printf "%s %s=%sB ", $1, $2, $4 }' "$raw")"

# ------------------------------------------------------------------ grow to 1M, restart at 1M and 5M
grow_servers="minijet nats-server minijet-2m"
want grow || grow_servers="minijet nats-server"
want restart || want grow || grow_servers=""
for s in $grow_servers; do
  start "$s" || continue
  sleep 0.5
  before=$(rss_kb "${pid[$s]}")
  bench 300 -p "${port[$s]}" -l "$s" -n "$GROW_TO" -w 100000 -T 290 jsgrow | while IFS=, read -r _ _ n rate; do
    row grow "$s" "$n" "$rate" msgs_per_s
  done
  sleep 1
  [ "$s" != minijet-2m ] && row stored_msg_rss "$s" "$GROW_TO" $(( ($(rss_kb "${pid[$s]}") - before) * 1024 / GROW_TO )) bytes_per_msg
  say "grow $s: $(awk -F, -v s="$s" '$1 == "grow" && $2 == s { printf "%dk=%.0fk ", $3 / 1000, $4 / 1000 }' "$raw")"
  if [ "$s" != minijet-2m ] && want restart; then
    restart_times "$s" "$GROW_TO" "$RESTART_ROUNDS"
    say "restart $s at $GROW_TO: $(awk -F, -v s="$s" -v n="$GROW_TO" '$1 == "restart" && $2 == s && $3 == n { printf "%ss ", $4 }' "$raw")"
    if [ "$BIG" = 1 ] && (( SECONDS - t_start < TIME_BUDGET_BIG )); then
      bench 300 -p "${port[$s]}" -l "$s" -A -n $(( 5000000 - GROW_TO )) -w 1000000 -T 290 jsgrow >/dev/null
      restart_times "$s" 5000000 "$RESTART_ROUNDS"
      say "restart $s at 5M: $(awk -F, -v s="$s" '$1 == "restart" && $2 == s && $3 == 5000000 { printf "%ss ", $4 }' "$raw")"
    elif [ "$BIG" = 1 ]; then
      say "5M step skipped for $s: past the ${TIME_BUDGET_BIG} s budget"
    fi
  fi
  stop "$s"
  rm -rf "$work/store-$s"
done

# Restarts inside the dedup window: 1 M messages that each carry a Nats-Msg-Id.
if want restart; then
  for s in "${SERVERS2[@]}"; do
    start "$s" || continue
    bench 300 -p "${port[$s]}" -l "$s" -I -n "$GROW_TO" -w "$GROW_TO" -T 290 jsgrow >/dev/null
    restart_times "$s" "$GROW_TO" "$RESTART_ROUNDS" restart_ids
    say "restart $s at $GROW_TO messages with ids: $(awk -F, -v s="$s" '$1 == "restart_ids" && $2 == s { printf "%ss ", $4 }' "$raw")"
    stop "$s"
    rm -rf "$work/store-$s"
  done
fi

# More rounds of the growth curve alone (fresh servers, no restarts): one run is noisy.
want grow || GROW_ROUNDS=1
for ((r = 2; r <= GROW_ROUNDS; r++)); do
  for s in nats-server minijet-2m minijet; do
    start "$s" || continue
    bench 300 -p "${port[$s]}" -l "$s" -n "$GROW_TO" -w 100000 -T 290 jsgrow | while IFS=, read -r _ _ n rate; do
      row grow "$s" "$n" "$rate" msgs_per_s "$r"
    done
    stop "$s"
    rm -rf "$work/store-$s"
  done
  say "grow round $r: $(awk -F, -v r="$r" '$1 == "grow" && $6 == r && $3 % 500000 == 0 { printf "%s@%dk=%.0fk ", $2, $3 / 1000, $4 / 1000 }' "$raw")"
done

# ------------------------------------------------------------------ many streams, restart
if (( MANY > 0 )) && want many; then
  for s in "${SERVERS2[@]}"; do
    start "$s" || continue
    # In chunks of MANY_CHUNK with a restart between: nats-server 2.9.10 holds two descriptors
    # per stream it created until it restarts (it failed at 9,994 of 10,000 under this shell's
    # 20,000), and loads them all after a restart with a handful.
    made=0 create_s=0
    while (( made < MANY )); do
      chunk=$(( MANY - made < MANY_CHUNK ? MANY - made : MANY_CHUNK ))
      out=$(bench 900 -p "${port[$s]}" -l "$s" -o "$made" -n "$chunk" -T 880 jsmany)
      [ -z "$out" ] && break
      made=$(( made + chunk )) create_s=$(awk -v a="$create_s" -v b="$(echo "$out" | cut -d, -f4)" 'BEGIN { print a + b }')
      if (( made < MANY )); then  # restart; wait until it serves every stream made so far
        stop "$s"; sync; launch "$s" keep
        [ -n "$(bench 300 -p "${port[$s]}" -l "$s" -n "$made" -T 280 jsmanyready)" ] || break
      fi
    done
    if (( made < MANY )); then  # how many it made before the failure (the failure names the next)
      made=$(grep -o "jsmany $s: stream MANY[0-9]*" "$work/failures" | tail -1 | grep -o '[0-9]*$' | sed 's/^0*//')
      row many_create_failed "$s" "$MANY" "${made:-0}" streams
      say "many $s: creating $MANY streams failed after ${made:-0}"; stop "$s"; rm -rf "$work/store-$s"; continue
    fi
    row many_create "$s" "$MANY" "$create_s" s
    for ((k = 1; k <= MANY_ROUNDS; k++)); do
      stop "$s"
      sync; sleep 0.3
      NOFILE=$MANY_NOFILE launch "$s" keep
      out=$(bench 300 -p "${port[$s]}" -l "$s" -n "$MANY" -T 280 jsmanyready)
      if [ -n "$out" ]; then
        row restart_many "$s" "$MANY" "$(echo "$out" | cut -d, -f4)" s "$k"
        row many_open_files "$s" "$MANY" "$(ls "/proc/${pid[$s]}/fd" 2>/dev/null | wc -l)" files "$k"
        row many_rss "$s" "$MANY" "$(rss_kb "${pid[$s]}")" kB "$k"
      fi
    done
    stop "$s"
    rm -rf "$work/store-$s"
    say "many $s: $(awk -F, -v s="$s" '$1 == "restart_many" && $2 == s { printf "%ss ", $4 }' "$raw")"
  done
fi

# ------------------------------------------------------------------ summary, plots
awk -F, '
function sortv(list,   n, i, j, t) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return n
}
NR == 1 { next }
{ k = $1 "," $2 "," $3; if (!(k in v)) { order[++nk] = k; unit[k] = $5 } v[k] = v[k] " " $4 }
END {
  print "figure,server,x,median,min,max,runs,unit"
  for (i = 1; i <= nk; i++) {
    k = order[i]; n = sortv(v[k])
    med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    printf "%s,%s,%s,%s,%d,%s\n", k, med, a[1], a[n], n, unit[k]
  }
}' "$raw" >"$summary"

# One data file per figure: x, then median/min/max for minijet, nats-server, minijet-2m (NaN
# where absent), sorted by x, for gnuplot.
pivot() {  # FIGURE > file
  awk -F, -v f="$1" '
  NR > 1 && $1 == f { xs[$3] = 1; m[$3 "," $2] = $4 " " $5 " " $6 }
  END {
    for (x in xs) {
      line = x
      split("minijet nats-server minijet-2m", S, " ")
      for (i = 1; i <= 3; i++) line = line " " ((x "," S[i]) in m ? m[x "," S[i]] : "NaN NaN NaN")
      print line
    }
  }' "$summary" | sort -g
}
for f in subs grow consumers restart restart_connect; do pivot "$f" >"$work/$f.dat"; done
{
  for f in idle_conn stored_msg_rss stored_msg_disk; do
    awk -F, -v f="$f" 'NR > 1 && $1 == f { m[$2] = $4 } END { printf "%s %s %s\n", f, (("minijet") in m ? m["minijet"] : "NaN"), (("nats-server") in m ? m["nats-server"] : "NaN") }' "$summary"
  done
} >"$work/memory.dat"

if [ "$FIGURES" = "$ALL_FIGURES" ] && command -v gnuplot >/dev/null 2>&1; then
  sub="$(date +%Y-%m-%d), $(nproc) cores, medians"
  for f in subs grow consumers memory restart; do
    gnuplot -e "dir='$work'; outfile='plots/scaling-$f.png'; subtitle='$sub'" "plots/scaling-$f.gp" 2>>"$work/failures" \
      && echo "plot: plots/scaling-$f.png"
  done
fi

echo
echo "medians (figure, server, x, median, min, max, runs, unit):"
column -s, -t "$summary" 2>/dev/null || cat "$summary"
if [ -s "$work/failures" ]; then echo; echo "failures:"; sort -u "$work/failures" | head -20; fi
echo "raw: $raw  summary: $summary  elapsed: $(( SECONDS - t_start )) s"

# A full run becomes the scaling results every generated table reads (tools/book/bench.py);
# a restart-only run the `restart` line (the restart rows); other partial runs neither.
if [ "$FIGURES" = "$ALL_FIGURES" ]; then
  sed -i "s/^scaling .*/scaling $run/" bench/results/LATEST
elif [ "$FIGURES" = restart ]; then
  if grep -q '^restart ' bench/results/LATEST; then sed -i "s/^restart .*/restart $run/" bench/results/LATEST
  else echo "restart $run" >>bench/results/LATEST; fi
else
  exit 0
fi
python3 tools/book/book.py bench-sync
