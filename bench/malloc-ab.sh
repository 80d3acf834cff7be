#!/bin/bash
# A/B of a mount's memory settings (issue 11, bench/README.md "Session 23" and "Session 24"): the
# same workload against a fresh mount as paciofs ran before session 24 (PACIOFS_MALLOC=glibc
# PACIOFS_HEAP=v8 PACIOFS_LEVELDB_MMAPS=1000: glibc's malloc defaults, V8's own heap growing,
# LevelDB mapping its tables), then with paciofs's own settings (runtime/memory.ts: V8's heap grows
# at most 2x, 2 arenas, mmap threshold fixed at 128 KiB, 1 MiB trim; tables read without mmap,
# runtime/native/README.md): FILES 1 KiB files (open, write, close), then GIB GiB of content in
# 1 MiB writes and an fsync; VmRSS and the mount's CPU seconds (user + system, less moved by the
# machine's load than wall time) after each, and VmRSS/RssAnon/VmHWM at the end. ROUNDS > 1
# alternates the two.
#   bash bench/malloc-ab.sh [files=10000] [gib=3] [work=/tmp/paciofs-malloc-ab] [rounds=1]
set -euo pipefail
FILES=${1:-10000}
GIB=${2:-3}
WORK=${3:-/tmp/paciofs-malloc-ab}
ROUNDS=${4:-1}
BIN="$(cd "$(dirname "$0")/.." && pwd)/bin/paciofs.js"
mkdir -p "$WORK"
echo "machine: $(nproc) cpus, $(node --version), load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
for variant in before after; do
  dir="$WORK/$variant"
  rm -rf "$dir" && mkdir -p "$dir/mnt"
  if [ "$variant" = before ]; then
    PACIOFS_MALLOC=glibc PACIOFS_HEAP=v8 PACIOFS_LEVELDB_MMAPS=1000 node "$BIN" mount "$dir/mnt" --data "$dir/data" > "$dir/mount.log" 2>&1 &
  else
    node "$BIN" mount "$dir/mnt" --data "$dir/data" > "$dir/mount.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 60); do grep -q "^mounted" "$dir/mount.log" 2>/dev/null && break; sleep 0.5; done
  echo "$variant (round $round, load $(cut -d' ' -f1 /proc/loadavg)):"
  python3 "$(dirname "$0")/memory-load.py" "$dir/mnt" "$pid" "$FILES" "$GIB"
  echo "  end: $(grep -E 'VmHWM|VmRSS|RssAnon' /proc/$pid/status | tr -s ' \t\n' ' ')"
  kill -TERM "$pid"; wait "$pid" || true
  fusermount -uz "$dir/mnt" 2>/dev/null || true
done
done
rm -rf "$WORK"
