#!/usr/bin/env bash
# Debian packages PacioFS-TS needs, installed only when missing (needs root or sudo):
#   fuse, libfuse2   the FUSE 2 library the prebuilt fuse-native addon loads, and fusermount
#   libfuse-dev, g++, make, pkg-config, python3
#                    to build the patched FUSE binding (runtime/native/) that tells the file
#                    system who the caller is; python3 also runs the POSIX test workers
#   chromium         only for the test that renders the simulator's diagram in a browser
#   fio              only for the mount benchmarks (bench/)
set -euo pipefail
missing=()
[ -e /usr/lib/x86_64-linux-gnu/libfuse.so.2 ] || [ -e /lib/x86_64-linux-gnu/libfuse.so.2 ] || ldconfig -p 2>/dev/null | grep -q 'libfuse.so.2 ' || missing+=(libfuse2)
command -v fusermount >/dev/null || missing+=(fuse)
[ -e /usr/include/fuse/fuse.h ] || missing+=(libfuse-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -x /usr/bin/python3 ] || missing+=(python3)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v fio >/dev/null || missing+=(fio)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
