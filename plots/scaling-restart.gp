# plots/scaling-restart.gp — restart time versus stream size (bench/scaling.sh).
#   gnuplot -e "dir='<dir with restart.dat, restart_connect.dat>'; outfile='plots/scaling-restart.png'; subtitle='...'" plots/scaling-restart.gp
if (!exists("dir")) dir = '.'
if (!exists("outfile")) outfile = 'plots/scaling-restart.png'
if (!exists("subtitle")) subtitle = ''
set terminal pngcairo size 900,560 font "Sans,10"
set output outfile
set title "Restart on an existing store: launch → stream answers STREAM.INFO with every message\n(one stream of 128-byte messages; SIGTERM, then start again) — ".subtitle
set xlabel "messages in the stream (log scale)"
set ylabel "seconds (log scale)"
set logscale xy
set xrange [50000:10000000]
set format x "10^{%L}"
set grid
set key top left
set style line 1 lc rgb "#3366cc" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#dd8833" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#3366cc" lw 1 pt 6 ps 1 dt 2
set style line 4 lc rgb "#dd8833" lw 1 pt 4 ps 1 dt 2
plot dir.'/restart.dat' using 1:2:3:4 with yerrorlines ls 1 title "minijet: stream ready", \
     ''                 using 1:5:6:7 with yerrorlines ls 2 title "nats-server 2.9.10: stream ready", \
     dir.'/restart_connect.dat' using 1:2 with linespoints ls 3 title "minijet: first client connects (the same: it listens after restoring)", \
     ''                         using 1:5 with linespoints ls 4 title "nats-server: first client connects"
