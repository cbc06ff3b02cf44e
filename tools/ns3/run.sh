#!/usr/bin/env bash
# Runs the ns-3 counterparts of ikesim's tcp-bulk, dumbbell and many-clients scenarios
# (tools/ns3/README.md) and, with -i, ikesim's scenario_bench on the same scenario in
# alternation, so that other load on the machine affects both.
#
#   tools/ns3/run.sh [-n ROUNDS] [-m MC_ROUNDS] [-i] [-v VARIANTS] [-S] [SCENARIO...]
#
#   SCENARIO   tcp-bulk, dumbbell, many-clients (default: all three)
#   -n ROUNDS  ns-3 runs per scenario and variant (default 3)
#   -m ROUNDS  the same for many-clients (default 2: a default-variant run takes minutes)
#   -i         before each ns-3 run, one ikesim scenario_bench run (--repeat 5) of the
#              same scenario
#   -v LIST    ns-3 variants, comma-separated (default "default,strong-es"):
#                default    ns-3's defaults
#                strong-es  --ns3::Ipv4::WeakEsModel=false: IP checks only the arrival
#                           interface's addresses when deciding whether a packet is for
#                           this node, instead of every interface's (RFC 1122's strong
#                           end-system model). No packet in these scenarios is addressed
#                           to another interface of its receiver, so the results are the
#                           same, but routers with many interfaces run much faster.
#   -S         only print the summary of the results of the previous invocation
#
# Installs Debian's ns-3 (libns3-dev) if missing, compiles the programs with g++ -O2 into
# $NS3_BUILD (default /tmp/ikesim-ns3-build), and prints per run: Simulator::Run wall time
# and user CPU (measured inside the program), the process's wall time, user CPU and peak
# RSS (/usr/bin/time -v), the sanity line; then a summary. Each run is preceded by the
# busiest processes on the machine (top), to see what else was running.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${NS3_BUILD:-/tmp/ikesim-ns3-build}"
rounds=3
mc_rounds=2
with_ikesim=0
variants="default,strong-es"
summary_only=0
while getopts "n:m:iv:S" opt; do
    case "$opt" in
        n) rounds="$OPTARG" ;;
        m) mc_rounds="$OPTARG" ;;
        i) with_ikesim=1 ;;
        v) variants="$OPTARG" ;;
        S) summary_only=1 ;;
        *) sed -n '2,25p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(tcp-bulk dumbbell many-clients)

results="$build/results.txt"
IFS=, read -r -a vlist <<<"$variants"
if [ "$summary_only" = 0 ]; then

# --- ns-3 ---------------------------------------------------------------------------
if ! dpkg -s libns3-dev >/dev/null 2>&1; then
    echo "installing ns-3 (Debian libns3-dev)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libns3-dev ns3 >/dev/null
fi
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
ns3_version="$(dpkg-query -W -f='${Version}' libns3-dev)"
echo "ns-3: Debian libns3-dev $ns3_version"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"

mkdir -p "$build"
# Debian's ns3-*.pc files carry a broken Cflags line; the headers are in /usr/include/ns3
# and the libraries in the default search path.
libs="-lns3-core -lns3-network -lns3-internet -lns3-point-to-point -lns3-applications -lns3-traffic-control"
for s in "${scenarios[@]}"; do
    if [ ! -x "$build/$s" ] || [ "$here/$s.cc" -nt "$build/$s" ] || [ "$here/common.h" -nt "$build/$s" ]; then
        echo "compiling $s"
        g++ -O2 -std=c++17 -I/usr/include "$here/$s.cc" -o "$build/$s" $libs
    fi
done

# --- ikesim ---------------------------------------------------------------------------
bench="$repo/target/release/examples/scenario_bench"
if [ "$with_ikesim" = 1 ]; then
    echo "building ikesim's scenario_bench (cargo build --release -j 1)"
    (cd "$repo" && cargo build --release -j 1 -p ikesim --example scenario_bench -q)
fi

: >"$results"

busy() {
    echo "  busiest processes:"
    # the second of two samples half a second apart: CPU use now, not since start
    top -b -c -n 2 -d 0.5 -o %CPU -w 200 | awk '/^ *PID / { n++; next } n == 2 && shown < 3 && $9 + 0 >= 5 {
        printf "    pid %s %s%% ", $1, $9; for (i = 12; i <= NF; i++) printf "%s ", $i; print ""; shown++ }
        END { if (!shown) print "    (none above 5% CPU)" }' | cut -c1-120
}

# time -v fields of a finished run: wall user rss_mib
timev() {
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + t[i] }
        /User time/ { u = $2 }
        /Maximum resident set size/ { r = $2 / 1024 }
        END { printf "%.2f %.2f %.0f", w, u, r }' "$1"
}

run_ns3() { # scenario variant
    local s="$1" v="$2" args=() out="$build/$1.$2.out" err="$build/$1.$2.time"
    [ "$v" = strong-es ] && args=(--ns3::Ipv4::WeakEsModel=false)
    busy
    /usr/bin/time -v "$build/$s" "${args[@]}" >"$out" 2>"$err"
    local run cpu sanity
    run="$(sed -n 's/^run: \([0-9.]*\) s.*/\1/p' "$out")"
    cpu="$(sed -n 's/^run user CPU: \([0-9.]*\) s/\1/p' "$out")"
    sanity="$(sed -n 's/^sanity: //p' "$out")"
    read -r wall user rss <<<"$(timev "$err")"
    echo "  ns-3 $s [$v]: Run ${run} s (user CPU ${cpu} s); process wall ${wall} s, user ${user} s, peak RSS ${rss} MiB"
    echo "    $sanity"
    echo "ns3 $s $v $run $cpu $wall $user $rss" >>"$results"
}

run_ikesim() { # scenario
    local s="$1" out="$build/$1.ikesim.out" err="$build/$1.ikesim.time"
    busy
    (cd "$repo" && /usr/bin/time -v "$bench" "experiments/scenarios/$s.toml" --repeat 5 >"$out" 2>"$err")
    local best median
    read -r best median <<<"$(sed -n 's/^run: \([0-9.]*\) s (median \([0-9.]*\) s).*/\1 \2/p' "$out")"
    read -r wall user rss <<<"$(timev "$err")"
    echo "  ikesim $s: Run best ${best} s, median ${median} s (of 5); process wall ${wall} s, user ${user} s (5 builds + 5 runs), peak RSS ${rss} MiB"
    echo "ikesim $s - $best $median $wall $user $rss" >>"$results"
}

for s in "${scenarios[@]}"; do
    n="$rounds"
    [ "$s" = many-clients ] && n="$mc_rounds"
    echo "== $s"
    for ((r = 1; r <= n; r++)); do
        for v in "${vlist[@]}"; do
            [ "$with_ikesim" = 1 ] && run_ikesim "$s"
            run_ns3 "$s" "$v"
        done
    done
done

fi # summary_only

# --- summary --------------------------------------------------------------------------
# best and median of one column of the results (rows selected by the first three fields)
stat() { # sim scenario variant column
    awk -v a="$1" -v b="$2" -v c="$3" -v k="$4" '$1 == a && $2 == b && $3 == c { print $k }' "$results" |
        sort -g | awk '{ x[NR] = $1 } END { if (NR) printf "%s %s %s %d", x[1], (x[int((NR + 1) / 2)] + x[int(NR / 2) + 1]) / 2, x[NR], NR }'
}
echo
echo "summary: best / median (/ worst) over the runs; ikesim: best of the per-process bests,"
echo "median of the per-process medians (each process does 5 runs); its user CPU is the"
echo "whole process's (5 builds and 5 runs) divided by 5, an upper bound of one run's"
for s in "${scenarios[@]}"; do
    for v in "${vlist[@]}"; do
        read -r rb rm rw n <<<"$(stat ns3 "$s" "$v" 4)"
        [ -n "${n:-}" ] || continue
        read -r cb cm cw _ <<<"$(stat ns3 "$s" "$v" 5)"
        read -r _ _ rss _ <<<"$(stat ns3 "$s" "$v" 8)"
        printf "  ns-3   %-13s %-10s Run %9.4f / %9.4f / %9.4f s   Run user CPU %9.4f / %9.4f s   peak RSS %5d MiB   (%d runs)\n" \
            "$s" "$v" "$rb" "$rm" "$rw" "$cb" "$cm" "$rss" "$n"
    done
    read -r ib _ _ n <<<"$(stat ikesim "$s" - 4)"
    if [ -n "${n:-}" ]; then
        read -r _ im _ _ <<<"$(stat ikesim "$s" - 5)"
        read -r _ _ rss _ <<<"$(stat ikesim "$s" - 8)"
        read -r ub um _ _ <<<"$(stat ikesim "$s" - 7)"
        printf "  ikesim %-13s %-10s Run %9.4f / %9.4f s               process user CPU / 5 %7.4f / %7.4f s   peak RSS %5d MiB   (%d processes)\n" \
            "$s" "" "$ib" "$im" "$(awk -v x="$ub" 'BEGIN { print x / 5 }')" "$(awk -v x="$um" 'BEGIN { print x / 5 }')" "$rss" "$n"
    fi
done
echo "raw results (sim scenario variant run cpu|median wall user rss_mib): $results"
