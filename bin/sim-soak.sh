#!/usr/bin/env bash
# `npm run sim:soak`: long swarms of every simulated shape (not in CI). Each shape runs even when
# an earlier one failed; the exit status is 1 if any shape had a failing seed. Seeds start where
# CI's swarms (test/sim-seeds-*.test.ts, test/sim-shapes.test.ts) end, so the soak adds new ones.
# Extra arguments are passed to every swarm (e.g. -- --no-shrink).
set -u
cd "$(dirname "$0")/.."
status=0
run() {
  echo "== paciofs sim $*"
  node bin/paciofs.js sim "$@" || status=1
}
run --seeds 1001..11000 --ops 200 "$@"                              # default: 5 nodes, f = 1
run --seeds 1001..3000 --nodes 4 --byzantine 1 --ops 100 "$@"       # f = 1, n = 3f+1
run --seeds 1001..3000 --nodes 7 --byzantine 2 --ops 100 "$@"       # f = 2
run --seeds 1001..2000 --nodes 10 --byzantine 3 --ops 100 "$@"      # f = 3
run --seeds 1001..3000 --policy any --ops 100 "$@"                  # policy any (vote abuse included)
exit $status
