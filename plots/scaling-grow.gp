# plots/scaling-grow.gp — async publish rate as one stream grows to 1 M messages (bench/scaling.sh).
#   gnuplot -e "dir='<dir with grow.dat>'; outfile='plots/scaling-grow.png'; subtitle='...'" plots/scaling-grow.gp
if (!exists("dir")) dir = '.'
if (!exists("outfile")) outfile = 'plots/scaling-grow.png'
if (!exists("subtitle")) subtitle = ''
set terminal pngcairo size 900,560 font "Sans,10"
set output outfile
set title "JetStream async publish (128 B, window 4,000) into one stream as it grows\nrate of each slice of 100,000 messages — ".subtitle
set xlabel "messages in the stream at the end of the slice (thousands)"
set ylabel "acknowledged publishes per second (thousands)"
set yrange [0:*]
set xrange [0:*]
set grid
set key bottom right
set style line 1 lc rgb "#3366cc" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#dd8833" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#33aa55" lw 2 pt 9 ps 1.2 dt 2
plot dir.'/grow.dat' using ($1/1e3):($2/1e3) with linespoints ls 1 title "minijet (fsync before ack)", \
     ''              using ($1/1e3):($8/1e3) with linespoints ls 3 title "minijet --sync_interval 2m" noenhanced, \
     ''              using ($1/1e3):($5/1e3) with linespoints ls 2 title "nats-server 2.9.10 (fsync every 2 min)"
