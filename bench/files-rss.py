# A mount's RSS as small files are added (issue 11, bench/README.md "Session 25"): N 1 KiB files
# in 100 directories through the mount served by PID, VmRSS every STEP files (after 2 s), so that
# the cost per file at the margin shows apart from the chunk cache filling up (64 MiB: ~60,000
# files of 1 KiB).
#   python3 bench/files-rss.py MNT PID N STEP
import os, sys, time
mnt, pid, n, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def rss():
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1]) * 1024
for d in range(100): os.makedirs(f'{mnt}/d{d}', exist_ok=True)
t0 = time.time(); print(f'0 files: rss {rss()/1e6:.0f} MB', flush=True)
last = rss()
for i in range(n):
    with open(f'{mnt}/d{i%100}/f{i}', 'wb') as f: f.write(i.to_bytes(8, 'little') * 128)
    if (i + 1) % step == 0:
        time.sleep(2); r = rss()
        print(f'{i+1} files: rss {r/1e6:.0f} MB (+{(r-last)/step:.0f} B/file), {time.time()-t0:.0f} s, load {open("/proc/loadavg").read().split()[0]}', flush=True)
        last = r
