// Small helpers shared by the whole-cluster tests.
import { step, type NodeConfig, type NodeEffect, type NodeInput, type NodeReply, type NodeState } from '../../core/node.ts'
import { MemoryStorage } from '../../core/storage.ts'
import type { Genesis } from '../../core/volume/index.ts'

/** A valid secp256k1 secret key that differs by `i` (1..255). */
export function key(i: number): Uint8Array {
  const k = new Uint8Array(32)
  k[31] = i
  return k
}

/** The genesis of a create-volume or join-volume reply; throws with the reply otherwise. */
export function genesisOf(r: NodeReply): Genesis {
  if (!r.ok || !('genesis' in r)) throw new Error(`expected a genesis, got ${JSON.stringify(r)}`)
  return r.genesis
}

/** One step as a host performs it: the step's persist goes into the node's storage port
 *  (a MemoryStorage, spec/storage.md) before the next step can read it. */
export function performStep(config: NodeConfig, state: NodeState, input: NodeInput): { state: NodeState; effects: NodeEffect[] } {
  const r = step(config, state, input)
  if (!(config.storage instanceof MemoryStorage)) throw new Error('performStep: the node config has no MemoryStorage')
  for (const e of r.effects) if (e.type === 'persist') config.storage.absorb(e.records)
  return r
}
