# scripts/plot-bench.gp: the benchmark chart, drawn from data files that bench-report.py writes.
#
# gnuplot -e "micro='M.dat'; echo='E.dat'; out='latest.png'; title='...'; grlabel='greenrun'" \
#         scripts/plot-bench.gp
#
# M.dat: one row per micro workload: label, then ns per operation for native, greenrun, Go.
# E.dat: one row per connection count: label, then requests/s for native, greenrun, Go, then
#        p99 latency (µs) for native, greenrun, Go.
# A configuration that failed or was skipped has "?" (missing) and simply draws no bar; so
# does a p99 taken while some connections starved (p99note then says so in the title).

if (!exists("grlabel")) grlabel = "greenrun"
if (!exists("p99note")) p99note = ""
set terminal pngcairo size 1400,1000 font "DejaVu Sans,10" noenhanced
set output out
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key above
set logscale y
set format y "%.0s%c"

set multiplot title title font ",13"

set origin 0, 0.45
set size 1, 0.52
set title "Micro benchmarks: time per operation (ns, log scale; lower is better)"
set xtics rotate by -30 scale 0
plot micro using 2:xtic(1) title "native" lc rgb "#4e79a7", \
     '' using 3 title grlabel lc rgb "#59a14f", \
     '' using 4 title "Go" lc rgb "#e15759"

set xtics norotate
set origin 0, 0
set size 0.5, 0.44
set title "Echo server: requests per second (higher is better)"
set xlabel "connections"
unset logscale y
set yrange [0:*]
plot echo using 2:xtic(1) title "native" lc rgb "#4e79a7", \
     '' using 3 title grlabel lc rgb "#59a14f", \
     '' using 4 title "Go" lc rgb "#e15759"

set origin 0.5, 0
set size 0.5, 0.44
set title "Echo server: p99 latency (µs, log scale; lower is better)".p99note
set logscale y
set yrange [*:*]
plot echo using 5:xtic(1) title "native" lc rgb "#4e79a7", \
     '' using 6 title grlabel lc rgb "#59a14f", \
     '' using 7 title "Go" lc rgb "#e15759"

unset multiplot
