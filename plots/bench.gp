# plots/bench.gp — the benchmark's ratios as bars (bench/compare.sh calls this).
#   gnuplot -e "datafile='bench/results/X-summary.csv'; outfile='plots/bench.png'; subtitle='...'" plots/bench.gp
# One bar per row of the summary (compare.sh leaves out the p50 rows): minijet ÷ nats-server.
# Blue bars are throughput (higher is better), orange bars are p99 latency (lower is better).
# The dashed line at 1.0 is parity.
if (!exists("datafile")) datafile = 'bench/results/latest-summary.csv'
if (!exists("outfile")) outfile = 'plots/bench.png'
if (!exists("subtitle")) subtitle = ''
set terminal pngcairo size 1300,600 font "Sans,10"
set output outfile
set datafile separator ','
set title "minijet ÷ nats-server 2.9.10 (median of alternating runs)\n".subtitle noenhanced
set ylabel "ratio"
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [0:*]
set offsets 0, 0, 0.25, 0
set rmargin 4
set key outside top center horizontal
set grid ytics
set xtics rotate by -35 noenhanced font ",9"
set bmargin 7
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "#444444"
label(s, m) = (m eq "msgs_per_s" || m eq "MB_per_s") ? s : s." ".m[1:3]
color(b) = (b eq "higher") ? 0x3366cc : 0xdd8833
stats datafile using 0 skip 1 nooutput
set xrange [-0.6:STATS_records - 0.4]
ratio(s) = (s eq 'n/a') ? 0 : real(s)
plot datafile using 0:(ratio(strcol(12))):(color(strcol(3))):xtic(label(strcol(1), strcol(2))) skip 1 \
       with boxes lc rgb variable notitle, \
     '' using 0:(ratio(strcol(12))):(strcol(12) eq 'n/a' ? 'n/a' : sprintf('%.2f', $12)) skip 1 with labels offset 0,0.7 notitle, \
     NaN with boxes lc rgb "#3366cc" title "throughput (higher is better)", \
     NaN with boxes lc rgb "#dd8833" title "latency (lower is better)"
