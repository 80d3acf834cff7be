#!/bin/bash
# Client/server round trips for several checkouts, alternating (issue 12): per checkout and round
# a fresh `paciofs serve --client` on loopback, then bench/cs-rtt.ts (this checkout's script,
# importing that checkout's client): µs per getattr round trip, fastest and median of 15 batches.
#   bash bench/cs-rtt.sh ROUNDS N CHECKOUT...      e.g. bash bench/cs-rtt.sh 3 400 /work/wt-plain .
set -uo pipefail
ROUNDS=$1; N=$2; shift 2
WORK=${WORK:-/tmp/paciofs-cs-rtt}
PORT=${PORT:-7480}
script="$(cd "$(dirname "$0")" && pwd)/cs-rtt.ts"
for round in $(seq "$ROUNDS"); do
  for c in "$@"; do
    co=$(cd "$c" && pwd); d=$WORK/x; rm -rf "$d"; mkdir -p "$d"
    cid=$(node "$co/bin/paciofs.js" init --data "$d/client" 2>&1 | grep -o '[0-9a-f]\{66\}' | head -1)
    node "$co/bin/paciofs.js" init --data "$d/server" > /dev/null 2>&1
    node "$co/bin/paciofs.js" serve --data "$d/server" --listen 127.0.0.1:$PORT --volume shared --client "$cid" > "$d/server.log" 2>&1 &
    spid=$!; sleep 3
    echo "$(cd "$co" && git rev-parse --short HEAD) round $round: $(cd "$co" && node --import tsx "$script" "$co" "$d/client" $PORT "$N"), load $(cut -d' ' -f1 /proc/loadavg)"
    kill -TERM $spid; wait $spid 2>/dev/null
  done
done
rm -rf "$WORK"
