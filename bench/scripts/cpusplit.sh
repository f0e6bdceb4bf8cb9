#!/bin/bash
# cpusplit.sh: the server CPU's time per message, split into user and kernel
# by perf samples, for one echo load.
#
#   bench/scripts/cpusplit.sh NAME CODEC CONNS INFLIGHT SIZE -- SERVER-COMMAND...
#
# PORT in SERVER-COMMAND is replaced by a free-ish port. The server runs on
# CPU 1 (GOMAXPROCS=1), the generator ($LOADGEN, default /tmp/ab/loadgen) on
# CPU 0 for a 1 s warm-up and a 5 s window; `perf record -C 1` samples CPU 1
# at 4,999 Hz for 4 s of the window. Samples of the server's process are
# split by DSO (kernel or not) and divided by the messages echoed in those 4
# s. Needs perf (Debian: linux-perf) and permission to record a CPU.
#
# Examples (S4, then S1 on gnet), from bench/ after building the tools as
# ab.sh says:
#   scripts/cpusplit.sh serve int32 100 16 64 -- /tmp/ab/weft serve echo --codec int32 --listen tcp:PORT:interface=127.0.0.1
#   scripts/cpusplit.sh gnet line 100 16 64 -- /tmp/ab/gnet -codec line -listen 127.0.0.1:PORT
set -u
name=$1 codec=$2 conns=$3 infl=$4 size=$5
shift 6
loadgen=${LOADGEN:-/tmp/ab/loadgen}
port=$((9600 + RANDOM % 300))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmd=("${@//PORT/$port}")
GOMAXPROCS=1 taskset -c 1 "${cmd[@]}" >/dev/null 2>&1 &
pid=$!
sleep 0.4
(sleep 1; perf record -C 1 -F 4999 -o "$tmp/perf.data" -- sleep 4 >/dev/null 2>&1) &
rec=$!
taskset -c 0 "$loadgen" -addr 127.0.0.1:$port -codec "$codec" -conns "$conns" -inflight "$infl" -size "$size" -d 5s -warmup 1s -pid $pid >"$tmp/gen.json" 2>/dev/null
wait $rec
kill $pid
wait $pid 2>/dev/null
comm=$(basename "${cmd[0]}" | cut -c1-15)
perf report -i "$tmp/perf.data" --no-children --sort comm,dso -n -q -g none 2>/dev/null >"$tmp/report.txt"
python3 - "$name" "$comm" "$tmp" <<'PY'
import json, sys
name, comm, tmp = sys.argv[1:4]
d = json.load(open(tmp + "/gen.json"))
msgs = d["msgs_per_s"] * 4
user = kern = 0
for line in open(tmp + "/report.txt"):
    f = line.split()
    if len(f) < 4 or f[2] != comm:
        continue
    if "kernel" in f[3]:
        kern += int(f[1])
    else:
        user += int(f[1])
print(f"{name:9s} {d['msgs_per_s']/1e3:7.0f}k msgs/s  user {user/4999/msgs*1e6:.3f}  kernel {kern/4999/msgs*1e6:.3f} µs/msg")
PY
