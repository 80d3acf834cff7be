#!/bin/bash
# bash bench/randread.sh <checkout>: a mount of <checkout>, 256 MiB written with fio (1 MiB writes),
# then two fio runs of random 4 KiB reads for 5 s each in that mount: IOPS and read count of each,
# the mount process's CPU ms over both, and the load average. For A/B of the read path (issue 11
# note in bench/README): run it for two checkouts one after the other, several times.
co=$1; d=$(mktemp -d /tmp/paciofs-rr.XXXX); m=$d/mnt; mkdir -p $m
cd $co; node bin/paciofs.js mount $m --data $d/data > $d/log 2>&1 & pid=$!; for i in $(seq 100); do mountpoint -q $m && break; sleep 0.2; done
fio --name=w --filename=$m/f --size=256M --ioengine=psync --direct=0 --numjobs=1 --fallocate=none --rw=write --bs=1M --end_fsync=1 --output-format=terse >/dev/null 2>&1
c0=$(awk '{print $14+$15}' /proc/$pid/stat)
for r in 1 2; do fio --name=r --filename=$m/f --size=256M --ioengine=psync --direct=0 --numjobs=1 --fallocate=none --rw=randread --bs=4k --runtime=5 --time_based --output-format=json 2>/dev/null | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);process.stdout.write('randread IOPS '+Math.round(j.jobs[0].read.iops)+' ops '+j.jobs[0].read.total_ios+'  ')})"; done
c1=$(awk '{print $14+$15}' /proc/$pid/stat); echo -n "cpu $(( (c1-c0)*10 )) ms  "
echo "load $(cut -d' ' -f1 /proc/loadavg)"
# Stopped by its own pid (SIGTERM unmounts), never by a name pattern.
kill -TERM $pid; for i in $(seq 100); do mountpoint -q $m || break; sleep 0.2; done; wait $pid 2>/dev/null; rm -rf $d
