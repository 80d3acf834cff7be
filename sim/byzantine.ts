// Byzantine strategies. A Byzantine process runs the real core (so it looks normal) and its
// strategy rewrites, drops or adds to what the core sends. Every strategy action is recorded in
// the trace as a `byz` event. A twin (two processes with one key) and vote abuse are set up by
// sim/run.ts, since they are not about rewriting messages.
import { decode, encode, type Value } from '../core/codec.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import type { Crypto } from '../core/crypto.ts'
import { decodeEntry, decodeSeal, encodeEntry, encodeSeal, entryHash, headerOf, signSeal, type Entry } from '../core/ledger/index.ts'
import { encodePayload } from '../core/volume/index.ts'
import type { EntryHash, ObfHash, Pid, VolumeName } from '../core/types.ts'
import type { ByzStrategy } from './faults.ts'
import type { Cluster, SendHook, SimNode } from './cluster.ts'
import type { Prng } from './prng.ts'

function tagOf(msg: Value): string | undefined {
  return Array.isArray(msg) && typeof msg[0] === 'string' ? msg[0] : undefined
}

function tryDecodeMsg(bytes: Uint8Array): Value[] | undefined {
  try {
    const v = decode(bytes)
    return Array.isArray(v) ? (v as Value[]) : undefined
  } catch {
    return undefined
  }
}

interface BatchParts {
  volume: VolumeName
  entries: Entry[]
  sealSeq: number
}

function parseBatch(msg: Value[]): BatchParts | undefined {
  if (msg[0] !== 'fotb/batch' || !Array.isArray(msg[2]) || !(msg[3] instanceof Uint8Array)) return undefined
  const entries: Entry[] = []
  for (const b of msg[2] as Value[]) {
    if (!(b instanceof Uint8Array)) return undefined
    const r = decodeEntry(b)
    if (!r.ok) return undefined
    entries.push(r.value)
  }
  const s = decodeSeal(msg[3])
  if (!s.ok) return undefined
  return { volume: msg[1] as VolumeName, entries, sealSeq: s.value.seq }
}

/** Builds the strategy's send hook for a Byzantine process, or undefined if it needs none. */
export function strategyHook(strategy: ByzStrategy, crypto: Crypto, secretKey: Uint8Array, prng: Prng, victims: () => Pid[]): SendHook | undefined {
  const me = toHex(crypto.publicKey(secretKey)) as Pid
  const note = (cluster: Cluster, node: SimNode, what: string) => cluster.record({ at: cluster.now, t: 'byz', node: node.id, what })
  switch (strategy) {
    case 'equivocate': {
      // Every second correct peer (in pid order) gets a second, validly sealed history of our chain:
      // the same seqs with other payloads, linked among themselves.
      const forkHash = new Map<string, EntryHash>() // `${volume}/${seq}` -> hash on the fork
      return (node, to, bytes, cluster) => {
        const msg = tryDecodeMsg(bytes)
        if (!msg || [...victims()].sort().indexOf(to) % 2 !== 1) return [{ to, bytes }]
        if (msg[0] === 'fotb/heads' && Array.isArray(msg[2])) {
          // Echo the fork to the peers that hold it, so they see support for it; and say we are
          // ready on it (our ready reports lie as our echoes do).
          const fork = (list: Value[][]): Value[][] =>
            list.map((h) => {
              const f = forkHash.get(`${msg[1] as string}/${h[1] as number}`)
              return h[0] instanceof Uint8Array && toHex(h[0]) === me && f ? [h[0], h[1]!, fromHex(f)!] : h
            })
          const readies = Array.isArray(msg[4]) ? fork(msg[4] as Value[][]) : []
          return [{ to, bytes: encode([msg[0], msg[1]!, fork(msg[2] as Value[][]), msg[3]!, readies]) }]
        }
        const batch = parseBatch(msg)
        if (!batch || batch.entries[0]?.author !== me) return [{ to, bytes }]
        const forked: Entry[] = []
        for (const e of batch.entries) {
          const prev = (forkHash.get(`${batch.volume}/${e.seq - 1}`) ?? e.prev) as EntryHash
          const payload = encodePayload({ type: 'op', obf: toHex(crypto.sha256(encode(['fork', e.seq, e.payload]))) as ObfHash })
          const h = headerOf(crypto, { volume: e.volume, author: e.author, seq: e.seq, prev, payload })
          forked.push({ ...h, payload })
          forkHash.set(`${batch.volume}/${e.seq}`, entryHash(crypto, h))
        }
        const last = forked[forked.length - 1]!
        const seal = signSeal(crypto, secretKey, batch.volume, me, last.seq, forkHash.get(`${batch.volume}/${last.seq}`)!)
        note(cluster, node, `equivocate seq ${forked[0]!.seq}..${last.seq} to ${to.slice(0, 8)}`)
        return [{ to, bytes: encode(['fotb/batch', batch.volume, forked.map(encodeEntry), encodeSeal(seal)]) }]
      }
    }
    case 'forge':
      // Now and then a batch in the name of a correct member, sealed with our own key.
      return (node, to, bytes, cluster) => {
        const out = [{ to, bytes }]
        const msg = tryDecodeMsg(bytes)
        const vs = victims()
        if (!msg || typeof msg[1] !== 'string' || vs.length === 0 || !prng.chance(0.05)) return out
        const victim = prng.pick(vs)
        const volume = msg[1] as VolumeName
        const payload = encodePayload({ type: 'vote-kick', target: victim, reason: 'operator', round: 1 })
        // A well-formed extension of the victim's real chain: only the signature is wrong.
        const view = node.state.volumes.get(volume)?.fotb.chains.get(victim)?.view
        const h = view
          ? headerOf(crypto, { volume, author: victim, seq: view.seq + 1, prev: view.head, payload })
          : headerOf(crypto, { volume, author: victim, seq: 1 + prng.int(5), prev: toHex(prng.bytes(32)) as EntryHash, payload })
        const seal = { ...signSeal(crypto, secretKey, volume, me, h.seq, entryHash(crypto, h)), author: victim }
        note(cluster, node, `forge a batch of ${victim.slice(0, 8)} to ${to.slice(0, 8)}`)
        out.push({ to, bytes: encode(['fotb/batch', volume, [encodeEntry({ ...h, payload })], encodeSeal(seal)]) })
        return out
      }
    case 'tamper':
      // Relayed entries of others get a changed payload (their headers still claim the old one).
      return (node, to, bytes, cluster) => {
        const msg = tryDecodeMsg(bytes)
        const batch = msg && parseBatch(msg)
        if (!batch || batch.entries[0]?.author === me) return [{ to, bytes }]
        const [first, ...rest] = batch.entries
        const payload = first!.payload.slice()
        payload[payload.length - 1]! ^= 0x01
        note(cluster, node, `tamper a relayed entry of ${first!.author.slice(0, 8)} to ${to.slice(0, 8)}`)
        return [{ to, bytes: encode(['fotb/batch', batch.volume, [encodeEntry({ ...first!, payload }), ...rest.map(encodeEntry)], msg![3]!]) }]
      }
    case 'replay': {
      const sent: { to: Pid; bytes: Uint8Array }[] = []
      return (node, to, bytes, cluster) => {
        const out = [{ to, bytes }]
        if (sent.length > 0 && prng.chance(0.2)) {
          const old = prng.pick(sent)
          note(cluster, node, `replay an old ${tagOf(decode(old.bytes)) ?? 'message'} to ${to.slice(0, 8)}`)
          out.push({ to, bytes: old.bytes })
        }
        if (sent.length < 200) sent.push({ to, bytes })
        else sent[prng.int(200)] = { to, bytes }
        return out
      }
    }
    case 'withhold':
      // No plain operations for anyone, no relays of others' entries.
      return (node, to, bytes, cluster) => {
        const msg = tryDecodeMsg(bytes)
        const tag = msg && tagOf(msg)
        if (tag === 'vol/put' || (tag === 'fotb/batch' && parseBatch(msg!)?.entries[0]?.author !== me)) {
          note(cluster, node, `withhold ${tag} to ${to.slice(0, 8)}`)
          return []
        }
        return [{ to, bytes }]
      }
    case 'lie':
      // Plain operations that do not hash to the ledger: the salt is changed.
      return (node, to, bytes, cluster) => {
        const msg = tryDecodeMsg(bytes)
        if (!msg || msg[0] !== 'vol/put') return [{ to, bytes }]
        const salt = (msg[3] as Uint8Array).slice()
        salt[0]! ^= 0xff
        note(cluster, node, `lie in a PUT to ${to.slice(0, 8)}`)
        return [{ to, bytes: encode([msg[0], msg[1]!, msg[2]!, salt, msg[4]!, msg[5]!]) }]
      }
    case 'twin':
    case 'vote-abuse':
      return undefined
  }
}

/** The strategies that must end with the Byzantine member removed under policy majority. */
export function mustBeRemoved(strategy: ByzStrategy, didWork: boolean): boolean {
  switch (strategy) {
    case 'twin':
    case 'equivocate':
      // Equivocation needs something to fork: entries the node authored during the fault phase.
      return didWork
    case 'withhold':
    case 'lie':
      // Only provable once the node authored an op that others had to fetch from it, or was
      // asked for one: `didWork` says whether it did.
      return didWork
    default:
      return false
  }
}

