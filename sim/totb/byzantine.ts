// Byzantine members of a totb DAG run (spec/totb.md "Simulator"): each runs the real reducer to
// know the DAG, and reshapes the vertices it makes. fotb already rules out two entries at one
// seq (FOTB-5), so what is left to a Byzantine member is what its own chain says and when.
import { decodeVertex, encodeVertex, leaderOf, type EntryId, type TotbState, type Vertex, type VertexPayload } from '../../core/totb/index.ts'
import type { Prng } from '../prng.ts'

export type ByzantineVertexStrategy =
  /** appends nothing anyone receives. */
  | 'silent'
  /** every entry reaches the others late (more than the leader timeout). */
  | 'slow'
  /** never refers to a leader if it can reach q without it. */
  | 'withhold-leader'
  /** invalid vertices of many kinds (wrong hash, round, too few refs, refs to operations or to
   *  its own future, unsorted, malformed), each followed by the real one. */
  | 'bad-refs'
  /** a second vertex of a round it already has a vertex of. */
  | 'equivocate-round'
  /** splits the members on the leader before its own turn, with the network on its side in the
   *  fault phase (sim/totb/dag.ts `splitHold`): it never votes, and as the leader it refers only
   *  to vertices that did not vote for the previous leader, with q - 1 refs if that avoids every
   *  vote (invalid: caught by the q rule; a core that accepts it orders differently, TOTB-1). */
  | 'avoid-leader'
  /** claims a time ten years ahead (to end retention periods early) or 0 in its vertices. */
  | 'lie-time'

export const BYZANTINE_VERTEX_STRATEGIES: readonly ByzantineVertexStrategy[] = ['silent', 'slow', 'withhold-leader', 'bad-refs', 'equivocate-round', 'avoid-leader', 'lie-time']

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000

const ref = (v: Vertex | EntryId): EntryId => ({ author: v.author, seq: v.seq, hash: v.hash })

/** The payloads a Byzantine member appends instead of the honest vertex `payload`. */
export function shapeVertex(strategy: ByzantineVertexStrategy, state: TotbState, payload: Uint8Array, rng: Prng): Uint8Array[] {
  return shape(strategy, state, payload, rng)
}

function shape(strategy: ByzantineVertexStrategy, state: TotbState, payload: Uint8Array, rng: Prng): Uint8Array[] {
  const v = decodeVertex(payload)
  if (v === undefined) return [payload]
  const round = v.round
  const below = round > 1 ? [...(state.rounds.get(round - 1)?.values() ?? [])] : []
  switch (strategy) {
    case 'silent':
    case 'slow':
      return [payload]
    case 'withhold-leader':
      return [withhold(state, v, payload)]
    case 'equivocate-round': {
      const strong = [...v.strong].reverse().slice(0, state.q).sort((a, b) => (a.author < b.author ? -1 : 1))
      return [payload, encodeVertex({ ...v, strong })]
    }
    case 'avoid-leader': {
      if (round < 3 || leaderOf(state, round) !== state.me) return [withhold(state, v, payload)]
      const previous = leaderOf(state, round - 2)
      const nonVoters = below.filter((u) => !u.strong.some((w) => w.author === previous))
      const voters = below.filter((u) => u.strong.some((w) => w.author === previous))
      const picked = [...nonVoters, ...voters].slice(0, Math.max(state.q - 1, nonVoters.length))
      if (picked.length < 1) return [payload]
      return [encodeVertex({ ...v, strong: picked.map(ref).sort((a, b) => (a.author < b.author ? -1 : 1)) })]
    }
    case 'lie-time':
      return [encodeVertex({ ...v, time: rng.chance(0.7) ? v.time + TEN_YEARS_MS : 0 })]
    case 'bad-refs': {
      if (!rng.chance(0.5)) return [payload]
      return [badVertex(state, payload, rng), payload]
    }
  }
}

/** The honest vertex without its reference to the previous round's leader, if q remain. */
function withhold(state: TotbState, v: VertexPayload, payload: Uint8Array): Uint8Array {
  if (v.round < 2) return payload
  const leader = leaderOf(state, v.round - 1)
  const strong = v.strong.filter((r) => r.author !== leader)
  return strong.length >= state.q ? encodeVertex({ ...v, strong }) : payload
}

function badVertex(state: TotbState, payload: Uint8Array, rng: Prng): Uint8Array {
  const v = decodeVertex(payload)!
  const kind = rng.int(8)
  const strong = [...v.strong]
  const own = state.authors.get(state.me)!
  switch (kind) {
    case 0: // a wrong hash
      if (strong.length > 0) strong[0] = { ...strong[0]!, hash: strong[0]!.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) as EntryId['hash'] }
      return encodeVertex({ ...v, strong })
    case 1: // a round its refs do not fit
      return encodeVertex({ ...v, round: v.round + 2 })
    case 2: // too few refs
      return encodeVertex({ ...v, strong: strong.slice(1) })
    case 3: // its own future
      return encodeVertex({ ...v, weak: [{ author: state.me, seq: own.judged + 1000, hash: strong[0]?.hash ?? v.strong[0]?.hash ?? ('0'.repeat(64) as EntryId['hash']) }] })
    case 4: { // an operation, not a vertex, as a weak ref
      for (const a of state.authors.values()) {
        const op = a.carry[0] ?? a.last?.batch[0]
        if (op !== undefined) return encodeVertex({ ...v, weak: [op] })
      }
      return encodeVertex({ ...v, round: 0 })
    }
    case 5: // unsorted, repeated refs
      return encodeVertex({ ...v, strong: strong.length > 0 ? [strong[0]!, ...strong] : strong, round: Math.max(v.round, 2) })
    case 6: // malformed
      return payload.subarray(0, payload.length - 1)
    default: // a strong ref to a vertex two rounds down
      return encodeVertex({ ...v, strong: [...strong.slice(1), ...(state.rounds.get(v.round - 3)?.values() ?? [])].slice(0, state.q).map(ref) })
  }
}
