# plots/scaling-consumers.gp — async publish rate as idle consumers per stream grow (bench/scaling.sh).
#   gnuplot -e "dir='<dir with consumers.dat>'; outfile='plots/scaling-consumers.png'; subtitle='...'" plots/scaling-consumers.gp
if (!exists("dir")) dir = '.'
if (!exists("outfile")) outfile = 'plots/scaling-consumers.png'
if (!exists("subtitle")) subtitle = ''
set terminal pngcairo size 900,560 font "Sans,10"
set output outfile
set title "JetStream async publish (128 B, window 4,000) with N durable pull consumers on the stream\n(each filtered on a subject nothing is published to) — ".subtitle
set xlabel "consumers on the stream (log scale)"
set ylabel "acknowledged publishes per second (thousands, log scale)"
set logscale xy
set xrange [0.7:1500]
set format x "10^{%L}"
set grid
set key bottom left
set style line 1 lc rgb "#3366cc" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#dd8833" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#33aa55" lw 2 pt 9 ps 1.2 dt 2
plot dir.'/consumers.dat' using 1:($2/1e3):($3/1e3):($4/1e3) with yerrorlines ls 1 title "minijet (fsync before ack)", \
     ''                   using 1:($8/1e3):($9/1e3):($10/1e3) with yerrorlines ls 3 title "minijet --sync_interval 2m" noenhanced, \
     ''                   using 1:($5/1e3):($6/1e3):($7/1e3) with yerrorlines ls 2 title "nats-server 2.9.10"
