#!/bin/bash
# bash bench/read-profile.sh <checkout>: 256 MiB written through a mount of <checkout>, remounted under
# node --cpu-prof, read back twice with dd (MB/s), then the 12 functions with the most self time.
# For A/B of the content read path (issue 11 note): run it for two checkouts one after the other.
# Also prints the CPU seconds (user+system, all threads) the mount process spent on the two reads
# and the load average: on a shared machine MB/s follows the load, CPU seconds less so.
# PROFILE=0: no --cpu-prof (figures without the profiler's cost). KEEP=DIR: keep the profiles.
# MIB=N: the file's size (default 256). PASSES=N: reads of it (default 2). REMOUNT=0: read in the
# mount that wrote the file (as bench:mount's fio does: the chunk cache holds its last 64 MiB; no
# profile then).
co=$1; d=$(mktemp -d /tmp/paciofs-readprof.XXXX); m=$d/mnt; mkdir -p $m; mib=${MIB:-256}; passes=${PASSES:-2}
prof="--cpu-prof --cpu-prof-dir=$d/prof"; [ "${PROFILE:-1}" = 0 ] && prof=
# Each mount process is stopped by its own pid (SIGTERM unmounts), never by a name pattern.
stop() { kill -TERM $1; for i in $(seq 100); do mountpoint -q $m || break; sleep 0.2; done; wait $1 2>/dev/null; }
cpu() { awk '{print $14 + $15}' /proc/$1/stat; }
# THREADS=1: CPU per thread (name: ticks of 10 ms) during the reads, to see main vs worker vs FUSE.
threads() { for t in /proc/$1/task/*; do echo "$(basename $t) $(cat $t/comm | tr ' ' _) $(awk '{print $14 + $15}' $t/stat)"; done | sort; }
cd $co; node bin/paciofs.js mount $m --data $d/data > $d/log 2>&1 & pid=$!; for i in $(seq 100); do mountpoint -q $m && break; sleep 0.2; done
dd if=/dev/urandom of=$m/big bs=1M count=$mib conv=fsync status=none
if [ "${REMOUNT:-1}" = 1 ]; then
  stop $pid
  node $prof bin/paciofs.js mount $m --data $d/data > $d/log2 2>&1 & pid=$!; for i in $(seq 300); do [ -e $m/big ] && break; sleep 0.2; done
else prof=; fi
sleep 1; c0=$(cpu $pid); [ -n "$THREADS" ] && threads $pid > $d/t0
for i in $(seq $passes); do dd if=$m/big of=/dev/null bs=1M 2>&1 | tail -1; done
c1=$(cpu $pid); [ -n "$THREADS" ] && threads $pid > $d/t1 && join -a2 $d/t0 $d/t1 | awk 'NF==5{d=$5-$3} NF==3{d=$3} d>0{print "  thread " $2 ": " d*10 " ms"}'
echo "mount process CPU for the $passes reads: $(( (c1 - c0) * 10 )) ms ($(awk "BEGIN{printf \"%.2f\", ($c1 - $c0) * 10 / ($passes * $mib)}") ms/MiB); load $(cut -d' ' -f1-3 /proc/loadavg)"
stop $pid; sleep 1
[ -n "$prof" ] && node -e "
const fs=require('fs');const f=fs.readdirSync('$d/prof').map(x=>'$d/prof/'+x).sort((a,b)=>fs.statSync(b).size-fs.statSync(a).size)[0];const p=JSON.parse(fs.readFileSync(f));
const byId=new Map(p.nodes.map(n=>[n.id,n]));const self=new Map();
p.samples.forEach((id,i)=>{const n=byId.get(id);const k=n.callFrame.functionName+' '+n.callFrame.url.split('/').slice(-2).join('/');self.set(k,(self.get(k)||0)+(p.timeDeltas[i]||0))});
const tot=[...self.values()].reduce((a,b)=>a+b,0);[...self].sort((a,b)=>b[1]-a[1]).slice(0,12).forEach(([k,t])=>console.log((t/1000).toFixed(0).padStart(6),'ms',(100*t/tot).toFixed(1).padStart(5)+'%',k))"
[ -n "$KEEP" ] && cp $d/prof/*.cpuprofile $KEEP
rm -rf $d
