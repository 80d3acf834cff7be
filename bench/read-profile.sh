#!/bin/bash
# bash bench/read-profile.sh <checkout>: 256 MiB written through a mount of <checkout>, remounted under
# node --cpu-prof, read back twice with dd (MB/s), then the 12 functions with the most self time.
# For A/B of the content read path (issue 11 note): run it for two checkouts one after the other.
co=$1; d=$(mktemp -d /tmp/paciofs-readprof.XXXX); m=$d/mnt; mkdir -p $m
cd $co; (node bin/paciofs.js mount $m --data $d/data > $d/log 2>&1 &); for i in $(seq 100); do mountpoint -q $m && break; sleep 0.2; done
dd if=/dev/urandom of=$m/big bs=1M count=256 conv=fsync status=none; pkill -TERM -f "mount $m "; for i in $(seq 100); do mountpoint -q $m || break; sleep 0.2; done
(node --cpu-prof --cpu-prof-dir=$d/prof bin/paciofs.js mount $m --data $d/data > $d/log2 2>&1 &); for i in $(seq 300); do [ -e $m/big ] && break; sleep 0.2; done
dd if=$m/big of=/dev/null bs=1M 2>&1 | tail -1; dd if=$m/big of=/dev/null bs=1M 2>&1 | tail -1; pkill -TERM -f "mount $m "; sleep 3
node -e "
const fs=require('fs');const f=fs.readdirSync('$d/prof').map(x=>'$d/prof/'+x).sort((a,b)=>fs.statSync(b).size-fs.statSync(a).size)[0];const p=JSON.parse(fs.readFileSync(f));
const byId=new Map(p.nodes.map(n=>[n.id,n]));const self=new Map();
p.samples.forEach((id,i)=>{const n=byId.get(id);const k=n.callFrame.functionName+' '+n.callFrame.url.split('/').slice(-2).join('/');self.set(k,(self.get(k)||0)+(p.timeDeltas[i]||0))});
const tot=[...self.values()].reduce((a,b)=>a+b,0);[...self].sort((a,b)=>b[1]-a[1]).slice(0,12).forEach(([k,t])=>console.log((t/1000).toFixed(0).padStart(6),'ms',(100*t/tot).toFixed(1).padStart(5)+'%',k))"
rm -rf $d
