#!/bin/bash
# One memory-settings variant of a mount (issue 11, bench/README.md "Session 24"): a fresh mount
# started with the given environment, FILES 1 KiB files then GIB GiB of content
# (bench/memory-load.py), the mount's RSS and CPU seconds per file and per GiB. The variants of
# the table in bench/README.md, one after the other, e.g.
#   bash bench/memory-variant.sh before 2000 2 PACIOFS_MALLOC=glibc PACIOFS_HEAP=v8 PACIOFS_LEVELDB_MMAPS=1000
#   bash bench/memory-variant.sh heap20 2000 2 PACIOFS_HEAP=20
#   bash bench/memory-variant.sh chosen 2000 2
# (runtime/memory.ts: PACIOFS_MALLOC=glibc|PACIOFS_HEAP=v8|<percent>, and glibc's own MALLOC_*
# variables once PACIOFS_MALLOC=glibc leaves malloc alone). WORK=/tmp/paciofs-variant by default.
set -uo pipefail
NAME=$1; FILES=$2; GIB=$3; shift 3
HERE="$(cd "$(dirname "$0")" && pwd)"
dir=${WORK:-/tmp/paciofs-variant}/$NAME
rm -rf "$dir" && mkdir -p "$dir/mnt"
env "$@" node "$HERE/../bin/paciofs.js" mount "$dir/mnt" --data "$dir/data" > "$dir/mount.log" 2>&1 &
pid=$!
for _ in $(seq 60); do grep -q "^mounted" "$dir/mount.log" 2>/dev/null && break; sleep 0.5; done
echo "$NAME ($*), load $(cut -d' ' -f1 /proc/loadavg):"
python3 "$HERE/memory-load.py" "$dir/mnt" "$pid" "$FILES" "$GIB"
kill -TERM "$pid"; wait "$pid"; fusermount -uz "$dir/mnt" 2>/dev/null; rm -rf "$dir"
