// The node's side of recovering a lost tail (spec/fotb.md "Recovering the own chain"): the host
// found that its store ends before batches it had made durable (runtime/store.ts RT-9) and was
// told to start anyway; every volume's fotb then learns its own chain head from the members
// before it appends anything (core/fotb/recover.ts, FOTB-8). A pure function of the state, like
// a step: its effects (a 'recovering' record per volume) are performed by the host.
import { Out } from './effects.ts'
import * as fotb from './fotb/index.ts'
import type { NodeConfig, NodeEffect, NodeReply, NodeState } from './node.ts'
import type { VolumeUp } from './volume/index.ts'
import type { VolumeName } from './types.ts'

export function recoverNode(_config: NodeConfig, state: NodeState): { state: NodeState; effects: NodeEffect[] } {
  const out = new Out<NodeReply, VolumeUp>()
  for (const name of [...state.volumes.keys()].sort()) fotb.startRecovery(state.volumes.get(name)!.fotb, out)
  return { state, effects: out.effects() }
}


/** Recovery in one volume again, right after it ended, so that the host can hand back own sealed
 *  entries that it kept from intact batches behind a damaged one (spec/storage.md "A damaged
 *  batch"): they continue the chain the members taught us, and a BATCH of own entries is taken
 *  only while recovering (core/fotb/broadcast.ts). Nothing was appended since it ended (the host
 *  checks), so the recovery that follows ends as the first did. */
export function recoverVolume(_config: NodeConfig, state: NodeState, volume: VolumeName): { state: NodeState; effects: NodeEffect[] } {
  const out = new Out<NodeReply, VolumeUp>()
  const v = state.volumes.get(volume)
  if (v !== undefined) fotb.startRecovery(v.fotb, out)
  return { state, effects: out.effects() }
}
