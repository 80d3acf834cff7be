# verify's memory over its run (issue 11): runs `node [NODE_ARGS] bin/paciofs.js verify --data DIR`
# under /usr/bin/time, samples /proc/PID/status and /proc/PID/smaps_rollup every --every seconds,
# and prints one JSON line: wall s and peak RSS as /usr/bin/time reports them (%e %M), the peak of
# each of VmRSS, RssAnon, RssFile (file-mapped pages: LevelDB's tables when mapped, the node
# binary) and the largest [heap] (glibc's main arena) seen, the load average before and after, and
# verify's summary line. With --trace the samples go to stderr as they are taken, and verify's
# stdout (with --trace-gc among NODE_ARGS: V8's lines) after them.
#   python3 bench/verify-rss.py --data DIR [--checkout DIR] [--label L] [--env K=V]... [-- NODE_ARGS...]
# (--checkout: whose bin/paciofs.js; default this one)
import argparse, json, os, re, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('--data', required=True)
ap.add_argument('--label', default='')
ap.add_argument('--checkout', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
ap.add_argument('--every', type=float, default=0.2)
ap.add_argument('--env', action='append', default=[])
ap.add_argument('--trace', action='store_true')
ap.add_argument('node_args', nargs='*')
a = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ)
for kv in a.env:
    k, v = kv.split('=', 1)
    env[k] = v
tf = f'/tmp/verify-rss-{os.getpid()}.time'
cmd = ['/usr/bin/time', '-o', tf, '-f', '%e %M', 'node', *a.node_args, os.path.join(a.checkout, 'bin', 'paciofs.js'), 'verify', '--data', a.data]
load0 = os.getloadavg()[0]
# to files, not pipes: a pipe nobody reads until the end would stop verify once full
fo, fe = open(f'{tf}.out', 'w+'), open(f'{tf}.err', 'w+')
p = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, text=True)

def child_of(pid):
    try:
        kids = open(f'/proc/{pid}/task/{pid}/children').read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None

def kb(text, key):
    m = re.search(rf'^{key}:\s+(\d+) kB', text, re.M)
    return int(m.group(1)) if m else 0

peak = {'VmRSS': 0, 'RssAnon': 0, 'RssFile': 0, 'heap_arena': 0}
node = None
t0 = time.time()
while p.poll() is None:
    node = node or child_of(p.pid)
    if node is not None:
        try:
            st = open(f'/proc/{node}/status').read()
            s = {'VmRSS': kb(st, 'VmRSS'), 'RssAnon': kb(st, 'RssAnon'), 'RssFile': kb(st, 'RssFile')}
            arena = 0
            # the [heap] mapping: glibc's main arena (smaps, only its Rss line)
            with open(f'/proc/{node}/smaps') as f:
                inheap = False
                for line in f:
                    if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                        inheap = line.rstrip().endswith('[heap]')
                    elif inheap and line.startswith('Rss:'):
                        arena = int(line.split()[1])
                        inheap = False
            s['heap_arena'] = arena
            for k in peak:
                peak[k] = max(peak[k], s[k])
            if a.trace:
                print(json.dumps({'t': round(time.time() - t0, 1), **{k: round(v / 1024) for k, v in s.items()}}), file=sys.stderr, flush=True)
        except OSError:
            pass
    time.sleep(a.every)
p.wait()
fo.seek(0); fe.seek(0)
out, err = fo.read(), fe.read()
fo.close(); fe.close()
os.unlink(f'{tf}.out'); os.unlink(f'{tf}.err')
wall, maxrss = open(tf).read().split()[-2:]
os.unlink(tf)
last = ([l for l in out.splitlines() if l.startswith('verify: ')] or [''])[-1]
if a.trace:
    sys.stderr.write(out + err)
print(json.dumps({'label': a.label, 'checkout': os.path.abspath(a.checkout), 'node_args': a.node_args, 'env': a.env, 'exit': p.returncode, 'wall_s': float(wall), 'peak_rss_MB': round(int(maxrss) * 1024 / 1e6),
                  **{f'peak_{k}_MB': round(v * 1024 / 1e6) for k, v in peak.items()}, 'load_before': load0, 'load_after': os.getloadavg()[0], 'verify': last[:200],
                  **({'stderr': err[-2000:]} if p.returncode != 0 else {})}), flush=True)
