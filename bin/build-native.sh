#!/usr/bin/env bash
# Builds the PacioFS-patched fuse-native binding (runtime/native/README.md) into build/fuse-native:
# a copy of node_modules/fuse-native with runtime/native/fuse-native.patch applied, compiled by
# node-gyp against this machine's Node headers and Debian's libfuse-dev. Offline: nothing is
# downloaded. Run by `npm ci` (postinstall, with --soft: a failed build only warns, and
# `paciofs mount` then says how to fix it) and by `npm run build:native` (fails loudly).
set -uo pipefail
soft=0
[ "${1:-}" = "--soft" ] && soft=1
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/node_modules/fuse-native
out=$root/build/fuse-native
patchfile=$root/runtime/native/fuse-native.patch

fail() {
  {
    echo "paciofs: cannot build the patched FUSE binding: $1"
    echo "paciofs:   needs Debian's libfuse-dev, g++, make, pkg-config and python3 (npm run setup installs them),"
    echo "paciofs:   the Node headers (/usr/include/node) and npm's node-gyp; then run: npm run build:native"
    echo "paciofs:   until then \`paciofs mount\` refuses to start (it cannot tell who the caller is)."
  } >&2
  [ $soft -eq 1 ] && exit 0
  exit 1
}

[ -d "$src" ] || fail "node_modules/fuse-native is missing (run npm ci first)"
pkg-config --exists fuse 2>/dev/null || fail "pkg-config does not know libfuse (apt-get install libfuse-dev pkg-config)"
command -v g++ >/dev/null && command -v make >/dev/null || fail "no C/C++ compiler or make (apt-get install g++ make)"
command -v python3 >/dev/null || fail "node-gyp needs python3"
nodedir=$(dirname "$(dirname "$(command -v node)")")
[ -f "$nodedir/include/node/node_api.h" ] && [ -f "$nodedir/include/node/common.gypi" ] \
  || fail "no Node headers under $nodedir/include/node"
# npm tells its lifecycle scripts where its node-gyp is; run by hand, find it beside npm-cli.js.
gyp=${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}
[ -f "$gyp" ] || fail "npm's node-gyp not found (looked for $gyp)"

work=$root/build/fuse-native.tmp
rm -rf "$work" && mkdir -p "$work" || fail "cannot write $root/build"
cp "$src/index.js" "$src/fuse-native.c" "$src/binding.gyp" "$src/package.json" "$work/"
(cd "$work" && patch -s -p1 --no-backup-if-mismatch < "$patchfile") \
  || fail "runtime/native/fuse-native.patch does not apply to fuse-native $(node -p "require('$src/package.json').version")"
(cd "$work" && node "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn >build.log 2>&1) \
  || { tail -n 30 "$work/build.log" >&2; fail "node-gyp failed (log above, full log in $work/build.log)"; }
rm -rf "$out" && mv "$work" "$out"
echo "paciofs: built the patched FUSE binding in build/fuse-native"
