#!/bin/bash
# Client/server mount throughput for several checkouts, alternating (issue 12: the encrypted
# channel against the clear-text one). Per checkout and round: a fresh server node
# (`paciofs serve --client <id>`) and a client mount (`paciofs mount --server`) on loopback, both
# from that checkout; fio sequential write then read of MIB MiB (1 MiB blocks), then FILES 4 KiB
# documents created and read back through the mount; MB/s, docs/s and the load after each, and
# the CPU seconds (user + system) the server and the client process spent in each of the three
# phases (write, read, documents): on a shared machine the CPU a phase costs varies far less with
# the other load than its throughput does.
#   bash bench/cs-ab.sh ROUNDS MIB FILES CHECKOUT...      e.g. bash bench/cs-ab.sh 3 256 1000 /work/wt-plain .
set -uo pipefail
ROUNDS=$1; MIB=$2; FILES=$3; shift 3
WORK=${WORK:-/tmp/paciofs-cs-ab}
PORT=${PORT:-7470}
cpu() {  # user + system ticks of the given processes, summed
  local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t
}
one() {  # checkout, label
  local co=$1 label=$2 bin="$1/bin/paciofs.js" d="$WORK/$2"
  rm -rf "$d" && mkdir -p "$d/mnt"
  local cid; cid=$(node "$bin" init --data "$d/client" 2>&1 | grep -o '[0-9a-f]\{66\}' | head -1)
  node "$bin" init --data "$d/server" > /dev/null 2>&1
  node "$bin" serve --data "$d/server" --listen 127.0.0.1:$PORT --volume shared --client "$cid" > "$d/server.log" 2>&1 &
  local spid=$!
  sleep 3
  node "$bin" mount "$d/mnt" --server 127.0.0.1:$PORT --volume shared --data "$d/client" > "$d/client.log" 2>&1 &
  local cpid=$!
  for _ in $(seq 120); do grep -q "^mounted" "$d/client.log" 2>/dev/null && break; sleep 0.5; done
  sleep 1
  if ! findmnt "$d/mnt" > /dev/null; then  # never measure the empty directory under a failed mount
    echo "$label round $round: the client did not mount:"; cat "$d/server.log" "$d/client.log"
    kill -TERM $cpid $spid 2>/dev/null; wait; return 1
  fi
  local w r c0 c1 c2 c3 hz; hz=$(getconf CLK_TCK)
  c0=$(cpu $spid $cpid)
  w=$(fio --name=w --filename="$d/mnt/big" --size=${MIB}M --bs=1M --rw=write --end_fsync=1 --ioengine=psync --numjobs=1 --fallocate=none --output-format=json | python3 -c 'import json,sys; t=sys.stdin.read(); print(round(json.loads(t[t.index("{"):])["jobs"][0]["write"]["bw_bytes"]/1e6,1))')
  c1=$(cpu $spid $cpid)
  r=$(fio --name=r --filename="$d/mnt/big" --size=${MIB}M --bs=1M --rw=read --ioengine=psync --numjobs=1 --output-format=json | python3 -c 'import json,sys; t=sys.stdin.read(); print(round(json.loads(t[t.index("{"):])["jobs"][0]["read"]["bw_bytes"]/1e6,1))')
  c2=$(cpu $spid $cpid)
  local docs
  docs=$(python3 - "$d/mnt" "$FILES" <<'PY'
import os, sys, time
mnt, n = sys.argv[1], int(sys.argv[2]); os.makedirs(f'{mnt}/docs', exist_ok=True)
t0 = time.time()
for i in range(n):
    with open(f'{mnt}/docs/d{i}', 'wb') as f: f.write(i.to_bytes(8, 'little') * 512)
t1 = time.time()
for i in range(n):
    with open(f'{mnt}/docs/d{i}', 'rb') as f: assert f.read() == i.to_bytes(8, 'little') * 512
t2 = time.time()
print(f'{n/(t1-t0):.0f} {n/(t2-t1):.0f}')
PY
)
  c3=$(cpu $spid $cpid)
  echo "$label round $round: seq write $w MB/s, seq read $r MB/s, docs create $(echo $docs | cut -d' ' -f1)/s, read back $(echo $docs | cut -d' ' -f2)/s, load $(cut -d' ' -f1 /proc/loadavg), cpu s write/read/docs $(awk -v a=$c0 -v b=$c1 -v c=$c2 -v d=$c3 -v hz=$hz 'BEGIN { printf "%.2f/%.2f/%.2f", (b - a) / hz, (c - b) / hz, (d - c) / hz }')"
  kill -TERM $cpid; wait $cpid 2>/dev/null; fusermount -uz "$d/mnt" 2>/dev/null
  kill -TERM $spid 2>/dev/null; wait $spid 2>/dev/null
  rm -rf "$d"
}
for round in $(seq "$ROUNDS"); do
  for co in "$@"; do
    one "$(cd "$co" && pwd)" "$(cd "$co" && git rev-parse --short HEAD)"
  done
done
