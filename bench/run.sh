#!/usr/bin/env bash
# Load bench of the v2 relay against HAProxy and nginx, fail-over under load, and footprint.
#
# One invocation does everything and rewrites the "Load bench" section of bench/README.md:
#   1. installs what it needs (Debian: haproxy nginx nghttp2-client; oha via `cargo install`
#      into target/bench-tools) unless already there;
#   2. builds smesher, bench_upstream and failover_load (release);
#   3. for upstream service times of 0 ms and 1 ms: starts three upstreams (bench_upstream),
#      smesher (JSON + gRPC relay), HAProxy and nginx (round-robin over the same three,
#      HTTP/1.1 keep-alive, 2 threads/workers as smesher's 2 tokio workers), then for each
#      offered rate (1 000 and 5 000 req/s, open loop, oha --latency-correction) and at
#      saturation runs direct, smesher, HAProxy and nginx one after another (interleaved per
#      rate, ROUNDS times), recording latency percentiles, throughput, CPU-seconds of the proxy
#      process(es) from /proc/<pid>/stat and peak RSS (VmHWM);
#   4. unary gRPC with h2load: direct vs smesher vs HAProxy (h2) vs nginx (grpc_pass);
#   5. fail-over under open-loop load on the node-service path (failover_load);
#   6. footprint: idle RSS of smesher with 1, 10, 100, 1000 identities, binary size.
# Every server is started by this script and killed on exit (trap); every load is bounded
# in time and goes to 127.0.0.1 only.
#
# Usage: bench/run.sh            (full run, ~12 minutes)
#        QUICK=1 bench/run.sh    (3 s per point, one round: a smoke test)
# Env:   DURATION (s per point, default 8), ROUNDS (default 1), PAUSE (s between points, 2),
#        NO_INSTALL=1 (fail instead of installing), NO_README=1 (print the table only),
#        DELAYS (service times, "0 1"), RATES (fixed JSON rates, "1000 5000"; saturation is
#        always run), GRPC=0 (skip gRPC), SECTIONS (subset of "relay failover footprint").
#        A partial run never rewrites the README.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
TOOLS="$ROOT/target/bench-tools"
OUT="$ROOT/target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-1}
PAUSE=${PAUSE:-2}
if [[ -n "${QUICK:-}" ]]; then DURATION=3; ROUNDS=1; PAUSE=1; fi
RATES_SET=${RATES+x}
read -r -a RATES <<<"${RATES-1000 5000}"
SECTIONS=${SECTIONS:-relay failover footprint}
GRPC=${GRPC:-1}
# Worker threads of smesher (TOKIO_WORKER_THREADS), HAProxy (nbthread) and nginx (worker_processes).
THREADS=${THREADS:-2}
SAT_CONNS=${SAT_CONNS:-32}
CONNS=${CONNS:-50}
UP_PORTS=(18101 18102 18103)
SMESHER_JSON=18201
SMESHER_GRPC=18202
HAPROXY_PORT=18301
HAPROXY_H2_PORT=18302
NGINX_PORT=18401
NGINX_H2_PORT=18402
JSON_PATH=/spacemesh.v2beta1.NetworkService/Info
GRPC_PATH=/spacemesh.v2beta1.NodeService/Version

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
PIDS=()

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
install_tools() {
    local need=()
    command -v haproxy >/dev/null || need+=(haproxy)
    command -v nginx >/dev/null || need+=(nginx)
    command -v h2load >/dev/null || need+=(nghttp2-client)
    if ((${#need[@]})); then
        [[ -z "${NO_INSTALL:-}" ]] || die "missing ${need[*]} (NO_INSTALL is set)"
        log "installing ${need[*]} from Debian"
        apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null \
            || die "apt-get install ${need[*]} failed"
    fi
    if [[ ! -x "$TOOLS/bin/oha" ]]; then
        [[ -z "${NO_INSTALL:-}" ]] || die "missing $TOOLS/bin/oha (NO_INSTALL is set)"
        log "building oha (cargo install oha --locked) into $TOOLS"
        cargo install oha --locked --root "$TOOLS" -j 1 >/dev/null || die "cargo install oha failed"
    fi
    OHA="$TOOLS/bin/oha"
}

build() {
    log "building smesher, bench_upstream, failover_load (release)"
    (cd "$ROOT" && cargo build --release -q -p smesher --bin smesher \
        && cargo build --release -q -p bench --bin bench_upstream --bin failover_load) \
        || die "cargo build failed"
    SMESHER="$ROOT/target/release/smesher"
    UPSTREAM="$ROOT/target/release/bench_upstream"
}

# ---------------------------------------------------------------- processes
wait_port() { # port
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on 127.0.0.1:$1"
}

# CPU ticks (utime+stime) summed over the given pids.
cpu_ticks() {
    local t=0 pid f
    for pid in "$@"; do
        if [[ -r /proc/$pid/stat ]]; then
            # utime and stime are fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
            f=$(sed 's/^.*) //' "/proc/$pid/stat")
            t=$((t + $(awk '{print $12 + $13}' <<<"$f")))
        fi
    done
    echo "$t"
}

# Peak RSS (VmHWM, KiB) summed over the given pids.
peak_rss() {
    local t=0 pid v
    for pid in "$@"; do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

rss_now() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

start_upstream() { # delay_ms
    local list
    list=$(printf '127.0.0.1:%s,' "${UP_PORTS[@]}")
    "$UPSTREAM" --listen "${list%,}" --delay-ms "$1" --threads 1 --for-secs 1800 >"$OUT/upstream.log" 2>&1 &
    UP_PID=$!
    PIDS+=("$UP_PID")
    for p in "${UP_PORTS[@]}"; do wait_port "$p"; done
}

smesher_config() { # data_dir
    cat <<EOF
{
  "main": {
    "data-folder": "$1",
    "node-service-address": "http://127.0.0.1:18109",
    "proxy-api-v2-address": ["http://127.0.0.1:${UP_PORTS[0]}", "http://127.0.0.1:${UP_PORTS[1]}", "http://127.0.0.1:${UP_PORTS[2]}"]
  },
  "api": {
    "grpc-public-listener": "127.0.0.1:$SMESHER_GRPC",
    "grpc-private-listener": "",
    "grpc-post-listener": "",
    "grpc-json-listener": "127.0.0.1:$SMESHER_JSON"
  },
  "gateway": { "health-interval": "1s", "probe-timeout": "500ms" },
  "smeshing": { "smeshing-start": false },
  "logging": { "level": "error" }
}
EOF
}

start_smesher() {
    local dir="$OUT/smesher-data"
    mkdir -p "$dir"
    smesher_config "$dir" >"$OUT/smesher.json"
    TOKIO_WORKER_THREADS=$THREADS "$SMESHER" smeshing --config "$OUT/smesher.json" >"$OUT/smesher.log" 2>&1 &
    SMESHER_PID=$!
    PIDS+=("$SMESHER_PID")
    wait_port "$SMESHER_JSON"
    wait_port "$SMESHER_GRPC"
    # The relay answers 503 until its probe has seen the upstreams.
    local i
    for i in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$SMESHER_JSON$JSON_PATH" && return 0
        sleep 0.1
    done
    die "smesher never relayed a call (see $OUT/smesher.log)"
}

start_haproxy() {
    local servers="" h2servers="" i=1 p
    for p in "${UP_PORTS[@]}"; do
        servers+="    server u$i 127.0.0.1:$p check inter 1s"$'\n'
        h2servers+="    server g$i 127.0.0.1:$p proto h2 check inter 1s"$'\n'
        i=$((i + 1))
    done
    cat >"$OUT/haproxy.cfg" <<EOF
# Plain round-robin reverse proxy over the three upstreams (written by bench/run.sh).
global
    nbthread $THREADS
    maxconn 8000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend json
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend json
frontend grpc
    bind 127.0.0.1:$HAPROXY_H2_PORT proto h2
    default_backend grpc
backend json
    balance roundrobin
    option httpchk GET /spacemesh.v2beta1.NodeService/Status
$servers
backend grpc
    balance roundrobin
$h2servers
EOF
    haproxy -f "$OUT/haproxy.cfg" -db >"$OUT/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    PIDS+=("$HAPROXY_PID")
    wait_port "$HAPROXY_PORT"
}

start_nginx() {
    local dir="$OUT/nginx" servers="" p
    mkdir -p "$dir"
    for p in "${UP_PORTS[@]}"; do servers+="        server 127.0.0.1:$p;"$'\n'; done
    cat >"$dir/nginx.conf" <<EOF
# Plain round-robin reverse proxy over the three upstreams (written by bench/run.sh).
worker_processes $THREADS;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log error;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream json {
$servers        keepalive 64;
    }
    upstream grpc {
$servers        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://json;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$NGINX_H2_PORT http2;
        keepalive_requests 1000000;
        location / { grpc_pass grpc://grpc; }
    }
}
EOF
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$OUT/nginx.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_port "$NGINX_PORT"
    sleep 0.2
}

# nginx: the master and its workers.
nginx_pids() {
    echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true)
}

# ---------------------------------------------------------------- load
# run_oha subject url rate(0 = saturation) delay protocol pids...
run_oha() {
    local subject=$1 url=$2 rate=$3 delay=$4
    shift 4
    local pids=("$@") args=(-z "${DURATION}s" --no-tui --output-format json)
    if ((rate > 0)); then
        args+=(-q "$rate" --latency-correction -c "$CONNS")
    else
        args+=(-c "$SAT_CONNS")
    fi
    local before after json
    before=$(cpu_ticks "${pids[@]}")
    json=$("$OHA" "${args[@]}" "$url" 2>>"$OUT/oha.err") || { log "oha failed for $subject"; return 0; }
    after=$(cpu_ticks "${pids[@]}")
    python3 "$BENCH/report.py" record-oha \
        --subject "$subject" --proto json --rate "$rate" --delay "$delay" \
        --cpu-ticks $((after - before)) --hz "$(getconf CLK_TCK)" \
        --rss-kib "$(peak_rss "${pids[@]}")" <<<"$json" >>"$RESULTS"
    sleep "$PAUSE"
}

# run_h2load subject url rate(0 = saturation) delay pids...
run_h2load() {
    local subject=$1 url=$2 rate=$3 delay=$4
    shift 4
    local pids=("$@") clients=4 args out before after
    args=(-D "$DURATION" -c "$clients" -t 1 --warm-up-time=1
        -d "$OUT/grpc-request.bin" -H 'content-type: application/grpc' -H 'te: trailers')
    if ((rate > 0)); then
        args+=(-m 16 --rps=$((rate / clients)))
    else
        args+=(-m 16)
    fi
    before=$(cpu_ticks "${pids[@]}")
    out=$(h2load "${args[@]}" --log-file="$OUT/h2load.log" "$url" 2>&1) || { log "h2load failed for $subject"; echo "$out" >>"$OUT/h2load.err"; return 0; }
    after=$(cpu_ticks "${pids[@]}")
    python3 "$BENCH/report.py" record-h2load --log "$OUT/h2load.log" \
        --subject "$subject" --proto grpc --rate "$rate" --delay "$delay" \
        --cpu-ticks $((after - before)) --hz "$(getconf CLK_TCK)" \
        --rss-kib "$(peak_rss "${pids[@]}")" <<<"$out" >>"$RESULTS"
    sleep "$PAUSE"
}

relay_section() { # delay_ms
    local delay=$1 round rate
    log "upstream service time ${delay} ms: starting upstreams, smesher, HAProxy, nginx"
    start_upstream "$delay"
    start_smesher
    start_haproxy
    start_nginx
    local json_direct="http://127.0.0.1:${UP_PORTS[0]}$JSON_PATH"
    for round in $(seq 1 "$ROUNDS"); do
        for rate in "${RATES[@]}" 0; do
            log "JSON, delay ${delay} ms, rate ${rate:-sat} (0 = saturation), round $round"
            run_oha direct "$json_direct" "$rate" "$delay" "$UP_PID"
            run_oha smesher "http://127.0.0.1:$SMESHER_JSON$JSON_PATH" "$rate" "$delay" "$SMESHER_PID"
            run_oha haproxy "http://127.0.0.1:$HAPROXY_PORT$JSON_PATH" "$rate" "$delay" "$HAPROXY_PID"
            run_oha nginx "http://127.0.0.1:$NGINX_PORT$JSON_PATH" "$rate" "$delay" $(nginx_pids)
        done
    done
    # RSS of smesher right after load.
    echo "{\"kind\":\"rss_after_load\",\"delay\":$delay,\"rss_kib\":$(rss_now "$SMESHER_PID"),\"peak_kib\":$(peak_rss "$SMESHER_PID")}" >>"$RESULTS"
    printf '\x00\x00\x00\x00\x07\x0a\x05bench' >"$OUT/grpc-request.bin"
    local grpc_rates=(1000 0)
    [[ "$GRPC" == 0 ]] && grpc_rates=()
    for rate in "${grpc_rates[@]}"; do
        log "gRPC unary, delay ${delay} ms, rate $rate (0 = saturation)"
        run_h2load direct "http://127.0.0.1:${UP_PORTS[0]}$GRPC_PATH" "$rate" "$delay" "$UP_PID"
        run_h2load smesher "http://127.0.0.1:$SMESHER_GRPC$GRPC_PATH" "$rate" "$delay" "$SMESHER_PID"
        run_h2load haproxy "http://127.0.0.1:$HAPROXY_H2_PORT$GRPC_PATH" "$rate" "$delay" "$HAPROXY_PID"
        run_h2load nginx "http://127.0.0.1:$NGINX_H2_PORT$GRPC_PATH" "$rate" "$delay" $(nginx_pids)
    done
    cleanup
}

failover_section() {
    log "fail-over under open-loop load (node-service path)"
    "$ROOT/target/release/failover_load" | tee "$OUT/failover.txt" >&2
    python3 "$BENCH/report.py" record-failover <"$OUT/failover.txt" >>"$RESULTS"
}

footprint_section() {
    local n dir i pid
    for n in 1 10 100 1000; do
        dir="$OUT/footprint-$n"
        mkdir -p "$dir"
        smesher_config "$dir/data" >"$dir/smesher.json"
        for i in $(seq -f '%04g' 1 "$n"); do
            "$SMESHER" keys new --name "id$i" --config "$dir/smesher.json" >/dev/null \
                || die "smesher keys new failed"
        done
        start_upstream 0
        "$SMESHER" smeshing --config "$dir/smesher.json" >"$dir/smesher.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_port "$SMESHER_JSON"
        sleep 3
        echo "{\"kind\":\"idle_rss\",\"identities\":$n,\"rss_kib\":$(rss_now "$pid"),\"peak_kib\":$(peak_rss "$pid")}" >>"$RESULTS"
        log "idle RSS with $n identities: $(rss_now "$pid") KiB"
        cleanup
    done
    local size stripped
    size=$(stat -c %s "$SMESHER")
    stripped=$(objcopy --strip-all "$SMESHER" "$OUT/smesher.stripped" && stat -c %s "$OUT/smesher.stripped" || echo 0)
    rm -f "$OUT/smesher.stripped"
    echo "{\"kind\":\"binary\",\"bytes\":$size,\"stripped_bytes\":$stripped}" >>"$RESULTS"
}

# ---------------------------------------------------------------- main
install_tools
build
log "results in $OUT"
{
    echo "{\"kind\":\"machine\",\"cpus\":$(nproc),\"model\":\"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)\",\"mem_kib\":$(awk '/MemTotal/ {print $2}' /proc/meminfo),\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"date\":\"$(date -u +%Y-%m-%dT%H:%MZ)\",\"duration_s\":$DURATION,\"rounds\":$ROUNDS,\"haproxy\":\"$(haproxy -v | head -1 | cut -d' ' -f3)\",\"nginx\":\"$(nginx -v 2>&1 | cut -d/ -f2)\",\"oha\":\"$("$OHA" --version | cut -d' ' -f2)\"}"
} >>"$RESULTS"
has() { [[ " $SECTIONS " == *" $1 "* ]]; }
if has relay; then for delay in ${DELAYS:-0 1}; do relay_section "$delay"; done; fi
if has failover; then failover_section; fi
if has footprint; then footprint_section; fi
echo "{\"kind\":\"load_end\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$RESULTS"
partial=""
[[ "$SECTIONS" != "relay failover footprint" || -n "${DELAYS:-}" || -n "${RATES_SET:-}" || "$GRPC" == 0 || "$THREADS" != 2 ]] && partial=1
if [[ -n "${NO_README:-}" || -n "$partial" ]]; then
    python3 "$BENCH/report.py" table <"$RESULTS"
else
    python3 "$BENCH/report.py" table --readme "$BENCH/README.md" <"$RESULTS"
    log "bench/README.md updated"
fi
