#!/usr/bin/env bash
# Builds PacioFS's native bindings (runtime/native/README.md), offline, with npm's own node-gyp
# against this machine's Node headers:
#  - fuse-native with runtime/native/fuse-native.patch into build/fuse-native (needs Debian's
#    libfuse-dev): without it `paciofs mount` refuses to start;
#  - classic-level (LevelDB) with runtime/native/classic-level.patch (every read verifies block
#    checksums, open is paranoid), installed where classic-level loads it first
#    (node_modules/classic-level/build/Release): without it every store refuses to open, because
#    the stock prebuilt aborts the process on some damaged files instead of reporting them;
#  - the channel's ChaCha20-Poly1305 (runtime/native/aead) into build/aead: without it the
#    channels seal through node:crypto, the same bytes at a higher cost per frame.
# Run by `npm ci` (postinstall, with --soft: a failed build only warns) and by
# `npm run build:native` (fails loudly). A binding already built from the same patch is kept.
set -uo pipefail
soft=0
[ "${1:-}" = "--soft" ] && soft=1
root=$(cd "$(dirname "$0")/.." && pwd)
failed=0

fail() { # $1 = which binding, $2 = why, $3 = what stays broken until it is built
  {
    echo "paciofs: cannot build the patched $1 binding: $2"
    echo "paciofs:   needs g++, make, python3${4:-} (npm run setup installs them),"
    echo "paciofs:   the Node headers (/usr/include/node) and npm's node-gyp; then run: npm run build:native"
    echo "paciofs:   until then $3."
  } >&2
  failed=1
}

toolchain() { # $1 = which binding; prints nothing, returns 1 after fail() when a tool is missing
  command -v g++ >/dev/null && command -v make >/dev/null || { fail "$1" "no C/C++ compiler or make (apt-get install g++ make)" "$2" "$3"; return 1; }
  command -v python3 >/dev/null || { fail "$1" "node-gyp needs python3" "$2" "$3"; return 1; }
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  [ -f "$nodedir/include/node/node_api.h" ] && [ -f "$nodedir/include/node/common.gypi" ] \
    || { fail "$1" "no Node headers under $nodedir/include/node" "$2" "$3"; return 1; }
  # npm tells its lifecycle scripts where its node-gyp is; run by hand, find it beside npm-cli.js.
  gyp=${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}
  [ -f "$gyp" ] || { fail "$1" "npm's node-gyp not found (looked for $gyp)" "$2" "$3"; return 1; }
}

build_fuse() {
  local what="FUSE" broken="\`paciofs mount\` refuses to start (it cannot tell who the caller is)" extra=", Debian's libfuse-dev, pkg-config"
  local src=$root/node_modules/fuse-native out=$root/build/fuse-native patchfile=$root/runtime/native/fuse-native.patch
  [ -d "$src" ] || { fail "$what" "node_modules/fuse-native is missing (run npm ci first)" "$broken" "$extra"; return; }
  pkg-config --exists fuse 2>/dev/null || { fail "$what" "pkg-config does not know libfuse (apt-get install libfuse-dev pkg-config)" "$broken" "$extra"; return; }
  toolchain "$what" "$broken" "$extra" || return
  local work=$root/build/fuse-native.tmp
  rm -rf "$work" && mkdir -p "$work" || { fail "$what" "cannot write $root/build" "$broken" "$extra"; return; }
  cp "$src/index.js" "$src/fuse-native.c" "$src/binding.gyp" "$src/package.json" "$work/"
  (cd "$work" && patch -s -p1 --no-backup-if-mismatch < "$patchfile") \
    || { fail "$what" "runtime/native/fuse-native.patch does not apply to fuse-native $(node -p "require('$src/package.json').version")" "$broken" "$extra"; return; }
  (cd "$work" && node "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn >build.log 2>&1) \
    || { tail -n 30 "$work/build.log" >&2; fail "$what" "node-gyp failed (log above, full log in $work/build.log)" "$broken" "$extra"; return; }
  rm -rf "$out" && mv "$work" "$out"
  echo "paciofs: built the patched FUSE binding in build/fuse-native"
}

build_level() {
  local what="LevelDB" broken="every paciofs store refuses to open (serve, mount and the inspect commands)"
  local src=$root/node_modules/classic-level patchfile=$root/runtime/native/classic-level.patch
  [ -d "$src" ] || { fail "$what" "node_modules/classic-level is missing (run npm ci first)" "$broken"; return; }
  local dest=$src/build/Release stamp
  stamp="$(sha256sum "$patchfile" | cut -c1-16) classic-level $(node -p "require('$src/package.json').version") node $(node --version)"
  if [ -f "$dest/classic_level.node" ] && [ "$(cat "$dest/paciofs-stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "paciofs: the patched LevelDB binding is already built ($stamp)"; return
  fi
  toolchain "$what" "$broken" || return
  local work=$root/build/classic-level.tmp
  rm -rf "$work" && mkdir -p "$work" || { fail "$what" "cannot write $root/build" "$broken"; return; }
  cp -r "$src/binding.cc" "$src/binding.gyp" "$src/package.json" "$src/deps" "$work/"
  (cd "$work" && patch -s -p1 --no-backup-if-mismatch < "$patchfile") \
    || { fail "$what" "runtime/native/classic-level.patch does not apply to classic-level $(node -p "require('$src/package.json').version")" "$broken"; return; }
  # binding.gyp asks node for napi-macros' include dir: resolve it from our node_modules.
  (cd "$work" && NODE_PATH=$root/node_modules node "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn -j 2 >build.log 2>&1) \
    || { tail -n 30 "$work/build.log" >&2; fail "$what" "node-gyp failed (log above, full log in $work/build.log)" "$broken"; return; }
  mkdir -p "$dest" && cp "$work/build/Release/classic_level.node" "$dest/classic_level.node.tmp" \
    && mv "$dest/classic_level.node.tmp" "$dest/classic_level.node" && echo "$stamp" > "$dest/paciofs-stamp" \
    || { fail "$what" "cannot write $dest" "$broken"; return; }
  rm -rf "$work"
  echo "paciofs: built the patched LevelDB binding into node_modules/classic-level/build/Release"
}

build_aead() {
  local what="ChaCha20-Poly1305" broken="the channels seal with node:crypto (the same bytes, slower: bench/README.md, issue 12)"
  local src=$root/runtime/native/aead out=$root/build/aead stamp
  stamp="$(cat "$src/aead.c" "$src/binding.gyp" | sha256sum | cut -c1-16) node $(node --version)"
  if [ -f "$out/paciofs_aead.node" ] && [ "$(cat "$out/paciofs-stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "paciofs: the ChaCha20-Poly1305 binding is already built ($stamp)"; return
  fi
  toolchain "$what" "$broken" || return
  local work=$root/build/aead.tmp
  rm -rf "$work" && mkdir -p "$work" || { fail "$what" "cannot write $root/build" "$broken"; return; }
  cp "$src/aead.c" "$src/binding.gyp" "$work/"
  (cd "$work" && node "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn >build.log 2>&1) \
    || { tail -n 30 "$work/build.log" >&2; fail "$what" "node-gyp failed (log above, full log in $work/build.log)" "$broken"; return; }
  mkdir -p "$out" && cp "$work/build/Release/paciofs_aead.node" "$out/paciofs_aead.node.tmp" \
    && mv "$out/paciofs_aead.node.tmp" "$out/paciofs_aead.node" && echo "$stamp" > "$out/paciofs-stamp" \
    || { fail "$what" "cannot write $out" "$broken"; return; }
  rm -rf "$work"
  echo "paciofs: built the ChaCha20-Poly1305 binding in build/aead"
}

build_fuse
build_level
build_aead
[ $failed -eq 1 ] && [ $soft -eq 0 ] && exit 1
exit 0
