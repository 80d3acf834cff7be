#!/bin/bash
# Memory of a node that JOINS a volume already holding a lot of content (issue 11: bounded memory
# must hold for the joiner too). Node 1 mounts volume 'docs' with --listen; GIB GiB of content go
# through its mount as 1 GiB files in 1 MiB writes, every 4 KiB stamped with (file, MiB, block) so
# that no chunk deduplicates, each fsync'd, then FILES 1 KiB files in 100 directories; node 1's
# VmRSS after a 3 s pause. Node 2 then mounts the same volume with --join --peer node 1; from its
# spawn its VmRSS is sampled every 0.2 s (samples.tsv). Caught up = node 2's mount lists every
# small file and every content file at 1 GiB (polled once a second from this script's python).
# Then the bytes are read back through node 2's mount and compared: the first and last MiB of
# each content file and 100 small files, then (FULLREAD=1, the default) every content byte.
# `du -sb` of node 2's data directory right after the mount appears, after catch-up, after the
# sample reads and after the full read tells whether the join copies every chunk or fetches them
# on read; `paciofs status --json` of both nodes gives epoch, state root, chunk and plain-op
# counts and chunk-read counters at each point. Prints every figure and a one-line summary
# (also $WORK/result.json); node logs stay in $WORK, the data directories are removed (KEEP=1
# keeps them).
#   bash bench/join-memory.sh [gib=4] [files=5000] [work=/tmp/paciofs-join]
#   env: PORT1=7311 PORT2=7312 JOIN_TIMEOUT=600 (s, spawn to caught up) FULLREAD=1 KEEP=0
set -euo pipefail
GIB=${1:-4}
FILES=${2:-5000}
WORK=${3:-/tmp/paciofs-join}
PORT1=${PORT1:-7311}
PORT2=${PORT2:-7312}
JOIN_TIMEOUT=${JOIN_TIMEOUT:-600}
FULLREAD=${FULLREAD:-1}
KEEP=${KEEP:-0}
BIN="$(cd "$(dirname "$0")/.." && pwd)/bin/paciofs.js"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
M1=$WORK/m1 M2=$WORK/m2 D1=$WORK/d1 D2=$WORK/d2
for m in "$M1" "$M2"; do grep -q " $m " /proc/mounts && { echo "$m is mounted; unmount it first" >&2; exit 2; }; done
rm -rf "$D1" "$D2" "$M1" "$M2" "$WORK"/*.log "$WORK/samples.tsv" "$WORK/result.json"
mkdir -p "$M1" "$M2"
for p in "$PORT1" "$PORT2"; do
  python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$p" 2>/dev/null \
    || { echo "port $p is in use; set PORT1/PORT2" >&2; exit 2; }
done

cat > "$WORK/join_bench.py" <<'EOF'
import json, os, subprocess, sys, time
MiB, GiB = 1 << 20, 1 << 30

def status(pid, field):
    try:
        for l in open(f'/proc/{pid}/status'):
            if l.startswith(field + ':'): return int(l.split()[1]) * 1024
    except FileNotFoundError: return None
def rss(pid): return status(pid, 'VmRSS')
def mb(b): return None if b is None else round(b / 1e6, 1)
def stamped(f, i, buf):            # MiB i of content file f: every 4 KiB block starts with its stamp
    for k in range(0, MiB, 4096): buf[k:k+8] = ((f << 40) | (i << 8) | (k >> 12)).to_bytes(8, 'little')
    return buf
def small(i): return i.to_bytes(8, 'little') * 128   # 1 KiB

def fill(mnt, pid, gib, n):
    os.makedirs(f'{mnt}/content', exist_ok=True)
    buf = bytearray(MiB); t0 = time.time()
    for f in range(gib):
        with open(f'{mnt}/content/c{f}.bin', 'wb') as fh:
            for i in range(1024): fh.write(stamped(f, i, buf))
            os.fsync(fh.fileno())
        print(f'  content c{f}.bin written, node 1 rss {mb(rss(pid))} MB', flush=True)
    wdt = time.time() - t0
    for d in range(100): os.makedirs(f'{mnt}/d{d}', exist_ok=True)
    t0 = time.time()
    for i in range(n):
        with open(f'{mnt}/d{i%100}/f{i}', 'wb') as fh: fh.write(small(i))
    cdt = time.time() - t0
    print(json.dumps({'write_MBps': round(gib * GiB / 1e6 / wdt, 1), 'write_s': round(wdt, 1),
                      'creates_per_s': round(n / cdt, 1), 'creates_s': round(cdt, 1)}), flush=True)

def sample(pid, out, t0):
    t0 = float(t0)
    with open(out, 'w') as o:
        while True:
            r, h = rss(pid), status(pid, 'VmHWM')
            if r is None: return
            o.write(f'{time.time() - t0:.2f}\t{r // 1024}\t{h // 1024}\n'); o.flush()
            time.sleep(0.2)

def du(d): return int(subprocess.run(['du', '-sb', d], capture_output=True, text=True).stdout.split()[0])
def pstatus(bin_, data):
    p = subprocess.run(['node', bin_, 'status', '--data', data, '--json'], capture_output=True, text=True)
    try: j = json.loads(p.stdout)
    except Exception: return {'error': (p.stdout + p.stderr)[-300:]}
    v = j['volumes'][0] if j.get('volumes') else {}
    return {'epoch': v.get('epoch'), 'root': (v.get('stateRoot') or '')[:16], 'status': v.get('myStatus'),
            'members': v.get('members'), 'chunks': v.get('chunks'), 'plainOps': v.get('plainOps'),
            'logRecords': v.get('logRecords'), 'pendingGets': sum(p.get('waiting', 0) for p in v.get('pendingGets', [])),
            'chunkReads': j.get('chunkReads'), 'storeProblems': j.get('storeProblems')}

def join(mnt, log, pid2, pid1, t0, gib, n, d2, timeout, fullread, bin_, d1, out):
    t0, gib, n, timeout = float(t0), int(gib), int(n), float(timeout)
    now = lambda: time.time() - t0
    R = {'n1_rss_before_MB': mb(rss(pid1))}
    def note(k, v): R[k] = v; print(f'  {k}: {json.dumps(v)}', flush=True)
    def alive(): return os.path.exists(f'/proc/{pid2}')
    # 1. the mount appears
    while True:
        if not alive(): note('error', 'node 2 exited before mounting'); return finish(R, out, 3)
        if 'mounted' in open(log).read() and any(l.split()[1] == mnt for l in open('/proc/mounts')): break
        if now() > timeout: note('error', 'no mount within the timeout'); return finish(R, out, 3)
        time.sleep(0.05)
    note('mount_s', round(now(), 2)); note('n2_rss_at_mount_MB', mb(rss(pid2)))
    note('du_d2_at_mount_MB', mb(du(d2)))
    # 2. caught up: every small file listed, every content file at 1 GiB
    last = 0
    while True:
        if not alive(): note('error', 'node 2 exited during catch-up'); return finish(R, out, 3)
        seen = sum(len(os.listdir(f'{mnt}/d{d}')) if os.path.isdir(f'{mnt}/d{d}') else 0 for d in range(100))
        sizes = [os.stat(f'{mnt}/content/c{f}.bin').st_size if os.path.exists(f'{mnt}/content/c{f}.bin') else -1 for f in range(gib)]
        full = sum(s == GiB for s in sizes)
        if seen == n and full == gib: break
        if now() - last >= 10:
            last = now()
            print(f'  t={now():.0f}s: {seen}/{n} small files, content sizes {[round(s / MiB) for s in sizes]} MiB, node 2 rss {mb(rss(pid2))} MB, du d2 {mb(du(d2))} MB', flush=True)
        if now() > timeout:
            note('error', f'not caught up within {timeout:.0f} s: {seen}/{n} small files, sizes {sizes}')
            note('n2_status_timeout', pstatus(bin_, d2)); note('n1_status_timeout', pstatus(bin_, d1))
            return finish(R, out, 3)
        time.sleep(1)
    note('caughtup_s', round(now(), 2)); note('n2_rss_at_caughtup_MB', mb(rss(pid2)))
    note('n1_rss_at_caughtup_MB', mb(rss(pid1)))
    note('du_d2_caughtup_MB', mb(du(d2)))
    note('n2_status_caughtup', pstatus(bin_, d2)); note('n1_status_caughtup', pstatus(bin_, d1))
    # 3. the bytes, through node 2's mount: first and last MiB of each content file, 100 small files
    bad, buf, ts = [], bytearray(MiB), time.time()
    for f in range(gib):
        with open(f'{mnt}/content/c{f}.bin', 'rb') as fh:
            for i in (0, 1023):
                fh.seek(i * MiB); got = fh.read(MiB)
                if got != stamped(f, i, buf): bad.append(f'c{f}.bin MiB {i}')
    for i in range(0, n, max(1, n // 100)):
        with open(f'{mnt}/d{i%100}/f{i}', 'rb') as fh:
            if fh.read() != small(i): bad.append(f'f{i}')
    note('sample_read_s', round(time.time() - ts, 2)); note('sample_bad', bad[:10] + ([f'... {len(bad)} in all'] if len(bad) > 10 else []))
    note('n2_rss_after_sample_MB', mb(rss(pid2)))
    note('du_d2_after_sample_MB', mb(du(d2))); note('n2_status_after_sample', pstatus(bin_, d2))
    if fullread == '1':
        badf, ts = [], time.time()
        for f in range(gib):
            with open(f'{mnt}/content/c{f}.bin', 'rb', buffering=0) as fh:
                for i in range(1024):
                    if fh.read(MiB) != stamped(f, i, buf): badf.append(f'c{f}.bin MiB {i}')
        dt = time.time() - ts
        note('full_read_MBps', round(gib * GiB / 1e6 / dt, 1)); note('full_read_bad', badf[:10] + ([f'... {len(badf)} in all'] if len(badf) > 10 else []))
        note('n2_rss_after_full_MB', mb(rss(pid2)))
        note('du_d2_after_full_MB', mb(du(d2))); note('n2_status_after_full', pstatus(bin_, d2))
    time.sleep(3)
    note('n2_rss_end_MB', mb(rss(pid2))); note('n2_hwm_MB', mb(status(pid2, 'VmHWM')))
    note('n1_rss_end_MB', mb(rss(pid1))); note('n1_hwm_MB', mb(status(pid1, 'VmHWM')))
    note('du_d1_MB', mb(du(d1)))
    note('n1_status_end', pstatus(bin_, d1)); note('n2_status_end', pstatus(bin_, d2))
    return finish(R, out, 0 if not bad and not R.get('full_read_bad') else 1)

def finish(R, out, rc):
    json.dump(R, open(out, 'w'), indent=1); sys.exit(rc)

if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'fill': fill(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == 'sample': sample(int(args[0]), args[1], args[2])
    elif cmd == 'join': join(*args)
EOF

P1= P2= PS=
cleanup() {
  set +e
  [ -n "$PS" ] && kill -TERM "$PS" 2>/dev/null
  for p in $P2 $P1; do
    if kill -0 "$p" 2>/dev/null; then
      t=$(date +%s.%N); kill -TERM "$p"; wait "$p" 2>/dev/null
      echo "stopped node pid $p ($(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t") s after SIGTERM)"
    fi
  done
  fusermount -u -z "$M2" 2>/dev/null; fusermount -u -z "$M1" 2>/dev/null
  for n in 1 2; do
    [ -f "$WORK/node$n.log" ] || continue
    c=$(grep -c -i -E 'error|warn|fail|\blied\b|damag' "$WORK/node$n.log" || true)
    echo "node $n log: $(wc -l < "$WORK/node$n.log") lines, $c matching error|warn|fail|\blied\b|damag"
    [ "$c" != 0 ] && grep -i -E 'error|warn|fail|\blied\b|damag' "$WORK/node$n.log" | head -5 | sed 's/^/  /'
  done
  [ "$KEEP" = 1 ] || rm -rf "$D1" "$D2"
}
trap cleanup EXIT

echo "machine: $(nproc) cpus, node $(node --version), $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg); gib=$GIB files=$FILES work=$WORK"
echo "node 1: paciofs mount $M1 --data $D1 --volume docs --open --listen 127.0.0.1:$PORT1"
node "$BIN" mount "$M1" --data "$D1" --volume docs --open --listen "127.0.0.1:$PORT1" > "$WORK/node1.log" 2>&1 &
P1=$!
for _ in $(seq 120); do grep -q "^mounted" "$WORK/node1.log" 2>/dev/null && break; sleep 0.5; done
grep -q "^mounted" "$WORK/node1.log" || { echo "node 1 did not mount"; cat "$WORK/node1.log"; exit 1; }
python3 "$WORK/join_bench.py" fill "$M1" "$P1" "$GIB" "$FILES"
sleep 3
echo "node 1 after the content: VmRSS $(awk '/VmRSS/{printf "%.1f", $2*1024/1e6}' /proc/$P1/status) MB, du d1 $(du -sb "$D1" | awk '{printf "%.1f", $1/1e6}') MB, load $(cut -d' ' -f1 /proc/loadavg)"

echo "node 2: paciofs mount $M2 --data $D2 --volume docs --join --listen 127.0.0.1:$PORT2 --peer 127.0.0.1:$PORT1"
T0=$(date +%s.%N)
node "$BIN" mount "$M2" --data "$D2" --volume docs --join --listen "127.0.0.1:$PORT2" --peer "127.0.0.1:$PORT1" > "$WORK/node2.log" 2>&1 &
P2=$!
python3 "$WORK/join_bench.py" sample "$P2" "$WORK/samples.tsv" "$T0" &
PS=$!
rc=0
python3 "$WORK/join_bench.py" join "$M2" "$WORK/node2.log" "$P2" "$P1" "$T0" "$GIB" "$FILES" "$D2" "$JOIN_TIMEOUT" "$FULLREAD" "$BIN" "$D1" "$WORK/result.json" || rc=$?
if [ "$rc" = 3 ]; then
  echo "join did not complete; last lines of the logs:"; tail -n 20 "$WORK/node1.log" "$WORK/node2.log"
fi
python3 - "$WORK/result.json" "$WORK/samples.tsv" "$GIB" "$FILES" "$rc" <<'EOF'
import json, sys
R = json.load(open(sys.argv[1])); s = [l.split('\t') for l in open(sys.argv[2]) if l.strip()]
peak = max(s, key=lambda x: int(x[1])) if s else ['?', '0']
R['n2_sampled_peak_MB'] = round(int(peak[1]) * 1024 / 1e6, 1); R['n2_sampled_peak_at_s'] = float(peak[0]); R['samples'] = len(s)
cu = [int(x[1]) for x in s if 'caughtup_s' in R and float(x[0]) <= R['caughtup_s']]
R['n2_catchup_peak_MB'] = round(max(cu) * 1024 / 1e6, 1) if cu else '-'
json.dump(R, open(sys.argv[1], 'w'), indent=1)
g = lambda k: R.get(k, '-')
load = open('/proc/loadavg').read().split()[:3]
import os, subprocess
nodev = subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()
print(f"SUMMARY gib={sys.argv[3]} files={sys.argv[4]} rc={sys.argv[5]}: mount {g('mount_s')} s, caught up {g('caughtup_s')} s; "
      f"node 2 peak {g('n2_hwm_MB')} MB (VmHWM; sampled peak {g('n2_sampled_peak_MB')} at {g('n2_sampled_peak_at_s')} s, {g('n2_catchup_peak_MB')} until caught up), "
      f"rss at mount/caught up/end {g('n2_rss_at_mount_MB')}/{g('n2_rss_at_caughtup_MB')}/{g('n2_rss_end_MB')} MB; "
      f"du d2 at mount/caught up/after sample/after full read {g('du_d2_at_mount_MB')}/{g('du_d2_caughtup_MB')}/{g('du_d2_after_sample_MB')}/{g('du_d2_after_full_MB')} MB (d1 {g('du_d1_MB')}); "
      f"node 1 rss before/caught up/end {g('n1_rss_before_MB')}/{g('n1_rss_at_caughtup_MB')}/{g('n1_rss_end_MB')} MB (VmHWM {g('n1_hwm_MB')}); "
      f"bad bytes: sample {g('sample_bad')} full {g('full_read_bad')} (full read {g('full_read_MBps')} MB/s) | "
      f"{os.cpu_count()} cpus, node {nodev}, load {' '.join(load)}")
EOF
exit "$rc"
