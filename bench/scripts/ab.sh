#!/bin/bash
# ab.sh: interleaved A/B of echo servers under one load, the way the runner
# measures, for comparing two builds of weft (and gnet) quickly.
#
#   bench/scripts/ab.sh CODEC CONNS INFLIGHT SIZE ROUNDS SERVER...
#
# SERVER is the path of a `weft` binary (run as `weft serve echo --codec
# CODEC`) or the word gnet (the bench peer, $GNET). Each run puts the server
# on CPU 1 (GOMAXPROCS=1) and the generator ($LOADGEN) on CPU 0, for a 1 s
# warm-up and a 5 s window; the order rotates each round. It prints one line
# per run: the server, msgs/s, and the server CPU's busy time per message
# (from /proc/stat, softirq included, over the window) next to the server
# process's own CPU per message.
#
# Build the tools first, from bench/:
#   go build -o /tmp/ab/loadgen ./cmd/loadgen && go build -o /tmp/ab/gnet ./peers/gnet
# and the weft builds to compare, from the repository root:
#   go build -o /tmp/ab/weft-new ./cmd/weft
# Example (S1): bench/scripts/ab.sh line 100 16 64 4 /tmp/ab/weft-old /tmp/ab/weft-new gnet
set -u
LOADGEN=${LOADGEN:-/tmp/ab/loadgen}
GNET=${GNET:-/tmp/ab/gnet}
codec=$1; conns=$2; infl=$3; size=$4; rounds=$5; shift 5
bins=("$@"); n=${#bins[@]}; port=9500
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cpu1() { awk '$1=="cpu1"{print $2+$3+$4+$7+$8}' /proc/stat; }
for r in $(seq 1 "$rounds"); do
  for i in $(seq 0 $((n-1))); do
    b=${bins[$(( (i + r - 1) % n ))]}; port=$((port+1))
    if [ "$b" = gnet ]; then
      GOMAXPROCS=1 taskset -c 1 "$GNET" -listen 127.0.0.1:$port -codec "$codec" -proto echo >/dev/null 2>&1 &
    else
      GOMAXPROCS=1 taskset -c 1 "$b" serve echo --codec "$codec" --listen tcp:$port:interface=127.0.0.1 >/dev/null 2>&1 &
    fi
    pid=$!; sleep 0.4
    ( sleep 1; cpu1 > "$tmp/c0"; sleep 5; cpu1 > "$tmp/c1" ) &
    sampler=$!
    taskset -c 0 "$LOADGEN" -addr 127.0.0.1:$port -codec "$codec" -conns "$conns" -inflight "$infl" \
      -size "$size" -d 5s -warmup 1s -pid $pid > "$tmp/out.json" 2>/dev/null
    wait $sampler
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
    python3 - "$b" "$tmp" <<'PY'
import json, sys
name, tmp = sys.argv[1].split("/")[-1], sys.argv[2]
d = json.load(open(tmp + "/out.json"))
busy = (float(open(tmp + "/c1").read()) - float(open(tmp + "/c0").read())) / 100.0  # USER_HZ
print(f"{name:12s} {d['msgs_per_s']/1e3:8.0f}k msgs/s  cpu1 {busy/(d['msgs_per_s']*5.0)*1e6:6.3f} µs/msg"
      f"  process {d['server_proc_cpu_s']/d['msgs']*1e6:6.3f} µs/msg  errors {d['errors']}")
PY
  done
done
