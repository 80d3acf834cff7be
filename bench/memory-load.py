# The workload of bench/malloc-ab.sh and bench/memory-variant.sh, against a mount served by PID:
# N 1 KiB files in 100 directories (open, write, close), then GIB GiB in 1 MiB writes and an
# fsync; the mount's VmRSS and CPU seconds after each.
#   python3 bench/memory-load.py MNT PID N GIB
import os, sys, time
mnt, pid, n, gib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def rss():
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1]) * 1024
def cpu():  # the mount process's user + system CPU seconds: a cost that load moves less than time
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
for d in range(100): os.makedirs(f'{mnt}/d{d}', exist_ok=True)
t0 = time.time(); c0 = cpu()
for i in range(n):
    with open(f'{mnt}/d{i%100}/f{i}', 'wb') as f: f.write(i.to_bytes(8, 'little') * 128)
dt = time.time() - t0; c1 = cpu(); time.sleep(3); r0 = rss()
print(f'  {n} files: rss {r0/1e6:.0f} MB, {n/dt:.0f} files/s, mount CPU {(c1-c0)*1e6/n:.0f} us/file', flush=True)
buf = bytearray(1 << 20); t0 = time.time(); c0 = cpu()
with open(f'{mnt}/big.bin', 'wb') as f:
    for i in range(gib * 1024):
        for k in range(0, 1 << 20, 4096): buf[k:k+8] = (i * 256 + k // 4096).to_bytes(8, 'little')
        f.write(buf)
    os.fsync(f.fileno())
dt = time.time() - t0; c1 = cpu(); time.sleep(3); r1 = rss()
print(f'  {gib} GiB: rss {r0/1e6:.0f} -> {r1/1e6:.0f} MB ({(r1-r0)/gib/1e6:.1f} MB/GiB), {gib*1024/dt:.0f} MB/s, mount CPU {(c1-c0)/gib:.2f} s/GiB', flush=True)
