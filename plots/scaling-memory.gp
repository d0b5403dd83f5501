# plots/scaling-memory.gp — memory per idle connection and per stored message (bench/scaling.sh).
#   gnuplot -e "dir='<dir with memory.dat>'; outfile='plots/scaling-memory.png'; subtitle='...'" plots/scaling-memory.gp
# memory.dat: one row per figure (idle_conn, stored_msg_rss, stored_msg_disk): minijet nats-server.
if (!exists("dir")) dir = '.'
if (!exists("outfile")) outfile = 'plots/scaling-memory.png'
if (!exists("subtitle")) subtitle = ''
set terminal pngcairo size 900,560 font "Sans,10"
set output outfile
set title "Memory: bytes per idle connection and per stored 128-byte message\n(VmRSS growth of a fresh server; disk = du of the store dir) — ".subtitle
set ylabel "bytes (log scale)"
set logscale y
set yrange [10:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top right
set bmargin 4
set xtics ("RSS per idle connection\n(1,000 connections)" 0, "RSS per stored message\n(100,000 x 128 B)" 1, "disk per stored message\n(100,000 x 128 B)" 2)
set offsets -0.5, -0.5, 0, 0
fix(v) = (v < 10 ? 10 : v)
plot dir.'/memory.dat' using (fix($2)) lc rgb "#3366cc" title "minijet", \
     ''                using (fix($3)) lc rgb "#dd8833" title "nats-server 2.9.10", \
     ''                using ($0 - 0.15):(fix($2)):(sprintf('%d', $2)) with labels offset 0,0.8 notitle, \
     ''                using ($0 + 0.15):(fix($3)):(sprintf('%d', $3)) with labels offset 0,0.8 notitle
