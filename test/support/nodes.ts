// Small helpers shared by the whole-cluster tests.
import type { NodeReply } from '../../core/node.ts'
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
