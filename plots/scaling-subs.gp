# plots/scaling-subs.gp — pub→sub throughput as the subscription count grows (bench/scaling.sh).
#   gnuplot -e "dir='<dir with subs.dat>'; outfile='plots/scaling-subs.png'; subtitle='...'" plots/scaling-subs.gp
# subs.dat: N, then median/min/max for minijet, nats-server, minijet-2m (NaN where absent).
if (!exists("dir")) dir = '.'
if (!exists("outfile")) outfile = 'plots/scaling-subs.png'
if (!exists("subtitle")) subtitle = ''
set terminal pngcairo size 900,560 font "Sans,10"
set output outfile
set title "pub→sub 1:1 (16 B) while the server holds N subscriptions\n(1 matches, N-1 never do: ¼ literal, ¾ wildcard) — ".subtitle
set xlabel "subscriptions held by the server (log scale)"
set ylabel "messages delivered per second (millions)"
set logscale x
set xrange [0.7:150000]
set yrange [0:*]
set format x "10^{%L}"
set grid
set key top right
set style line 1 lc rgb "#3366cc" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#dd8833" lw 2 pt 5 ps 1.2
plot dir.'/subs.dat' using 1:($2/1e6):($3/1e6):($4/1e6) with yerrorlines ls 1 title "minijet (median, min–max)", \
     ''              using 1:($5/1e6):($6/1e6):($7/1e6) with yerrorlines ls 2 title "nats-server 2.9.10"
