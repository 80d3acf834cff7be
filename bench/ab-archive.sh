#!/usr/bin/env bash
# Side by side: the archive workload of bench/mount-bench.ts (create+write+close, stat, read
# back, rename of N small documents) against a mount made by each of two checkouts, alternating,
# in one run. For before/after figures of a change:
#   git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/node_modules
#   bash bench/ab-archive.sh /tmp/before . [docs=1000] [rounds=3]
# (a checkout after issue 6 also needs its build/: run `npm run build:native` in it). Needs root
# and FUSE. Prints one JSON line per mount and round, then the medians.
set -euo pipefail
a=$(cd "$1" && pwd); b=$(cd "$2" && pwd); docs=${3:-1000}; rounds=${4:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/paciofs-ab-XXXXXX)
out=$work/results
trap 'for v in A B; do fusermount -uz "$work/$v/mnt" 2>/dev/null || true; done' EXIT
for round in $(seq 1 "$rounds"); do
  for v in A B; do
    src=$([ $v = A ] && echo "$a" || echo "$b")
    root=$work/$v; rm -rf "$root"; mkdir -p "$root"
    (cd "$src" && exec node bin/paciofs.js mount "$root/mnt" --data "$root/data" >"$root/log" 2>&1) &
    pid=$!
    for _ in $(seq 1 300); do grep -q '^mounted' "$root/log" 2>/dev/null && break; sleep 0.1; done
    grep -q '^mounted' "$root/log" || { cat "$root/log"; exit 1; }
    mkdir "$root/mnt/w"
    line=$(cd "$here" && node --import tsx bench/mount-bench.ts --archive-worker "$root/mnt/w" --docs "$docs" --seed "$round" | tail -1)
    echo "$v $line" | tee -a "$out"
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")
const by = { A: [], B: [] }
for (const l of lines) { const i = l.indexOf(" "); by[l.slice(0, i)].push(JSON.parse(l.slice(i + 1))) }
const med = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] }
console.log("figure | A | B | B/A")
for (const k of Object.keys(by.A[0])) {
  const ma = med(by.A.map((r) => r[k])), mb = med(by.B.map((r) => r[k]))
  console.log(`${k} | ${ma.toFixed(0)} | ${mb.toFixed(0)} | ${(100 * mb / ma).toFixed(0)} %`)
}' "$out"
rm -rf "$work"
