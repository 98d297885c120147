#!/usr/bin/env bash
# scripts/http-server.sh [LIB]: a real program nobody here wrote, unmodified, natively and under
# greenrun: Debian's `python3 -m http.server` (a thread per request) on 127.0.0.1, loaded by wrk
# (`wrk -t2 -c4 -d15s --latency`), two alternated runs each. Prints requests/s, p50, p99, errors
# and the server's peak RSS, then greenrun/native ratios from the same invocation.
# Needs python3 and wrk (scripts/deps.sh bench installs wrk). Every server is stopped by its pid.
set -euo pipefail
lib=$(realpath "${1:-build/libgreenrun.so}")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
head -c 2048 /dev/urandom | base64 >"$dir/index.html"
port=$((20000 + RANDOM % 10000))

run() {   # run MODE: prints "MODE req/s p50 p99 errors peak_kB"
    local mode=$1 pid out rss
    port=$((port + 1))
    if [ "$mode" = greenrun ]; then
        (cd "$dir" && exec env LD_PRELOAD="$lib" python3 -m http.server "$port" --bind 127.0.0.1) \
            >/dev/null 2>&1 &
    else
        (cd "$dir" && exec python3 -m http.server "$port" --bind 127.0.0.1) >/dev/null 2>&1 &
    fi
    pid=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    out=$(timeout 60 wrk -t2 -c4 -d15s --latency "http://127.0.0.1:$port/index.html" || true)
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    printf '%s %s %s %s %s %s\n' "$mode" \
        "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
        "$(grep -cE 'Socket errors|Non-2xx' <<<"$out" || true)" "$rss"
}

printf '%-9s %10s %9s %9s %7s %10s\n' mode req/s p50 p99 errors peak_kB
results=()
for round in 1 2; do
    for mode in native greenrun; do
        line=$(run "$mode")
        results+=("$line")
        read -r m r p50 p99 e k <<<"$line"
        printf '%-9s %10s %9s %9s %7s %10s\n' "$m" "$r" "$p50" "$p99" "$e" "$k"
    done
done
printf '%s\n' "${results[@]}" | awk '
    { n[$1]++; rps[$1] += $2; kb[$1] += $6 }
    END {
        printf "greenrun/native: requests/s %.2fx, peak RSS %.2fx (means of %d runs each)\n",
               (rps["greenrun"] / n["greenrun"]) / (rps["native"] / n["native"]),
               (kb["greenrun"] / n["greenrun"]) / (kb["native"] / n["native"]), n["native"]
    }'
