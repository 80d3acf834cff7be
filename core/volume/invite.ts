// Invites (spec/paciofs.md "Admission"): a one-time token a member signs with its node key, that
// an applicant carries in its join. The token id and the expiry come from the host (random
// bytes, a clock): the core only encodes, signs, parses and checks.
import type { Crypto } from '../crypto.ts'
import { encode, tryDecode, type Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import { isPid, type Pid, type TimeMs, type VolumeName } from '../types.ts'

export const INVITE_TAG = 'paciofs/invite/v1'
export const INVITE_ID_BYTES = 16
/** A token is ~190 bytes; the bound keeps a join entry small whatever an applicant puts in it. */
export const INVITE_BYTES_MAX = 512

export interface Invite {
  readonly volume: VolumeName
  readonly issuer: Pid
  /** 16 random bytes, hex; unique per issuer: (issuer, id) is what one-time means. */
  readonly id: string
  /** Unix seconds; the invite is void once the voter's clock is past it. */
  readonly expiresS: number
  /** The only applicant the invite admits, or null: whoever carries it first. */
  readonly invitee: Pid | null
}

/** The signed part: ["paciofs/invite/v1", volume, issuer(33B), id(16B), expires, invitee(33B)|null]. */
function bodyValue(i: Invite): Value {
  return [INVITE_TAG, i.volume, fromHex(i.issuer)!, fromHex(i.id)!, i.expiresS, i.invitee === null ? null : fromHex(i.invitee)!]
}

/** token = encode([...body, signature(64B)]), the signature over SHA-256(encode(body)). */
export function makeInvite(crypto: Crypto, secretKey: Uint8Array, invite: Invite): Uint8Array {
  const body = bodyValue(invite)
  const sig = crypto.sign(crypto.sha256(encode(body)), secretKey)
  return encode([...(body as Value[]), sig])
}

export type InviteProblem = 'invite-malformed' | 'invite-bad-signature'

/** Parses a token and checks its signature (peer input: never throws). */
export function parseInvite(crypto: Crypto, token: Uint8Array): { ok: true; invite: Invite } | { ok: false; why: InviteProblem } {
  if (token.length > INVITE_BYTES_MAX) return { ok: false, why: 'invite-malformed' }
  const d = tryDecode(token)
  if (!d.ok || !Array.isArray(d.value) || d.value.length !== 7) return { ok: false, why: 'invite-malformed' }
  const [tag, volume, issuerB, idB, expiresS, inviteeB, sig] = d.value as Value[]
  const issuer = issuerB instanceof Uint8Array && issuerB.length === 33 ? toHex(issuerB) : ''
  const invitee = inviteeB instanceof Uint8Array && inviteeB.length === 33 ? toHex(inviteeB) : inviteeB === null ? null : ''
  if (tag !== INVITE_TAG || typeof volume !== 'string' || !isPid(issuer)) return { ok: false, why: 'invite-malformed' }
  if (!(idB instanceof Uint8Array) || idB.length !== INVITE_ID_BYTES || typeof expiresS !== 'number' || !Number.isSafeInteger(expiresS) || expiresS < 0) return { ok: false, why: 'invite-malformed' }
  if (invitee !== null && !isPid(invitee)) return { ok: false, why: 'invite-malformed' }
  if (!(sig instanceof Uint8Array) || sig.length !== 64) return { ok: false, why: 'invite-malformed' }
  const invite: Invite = { volume: volume as VolumeName, issuer, id: toHex(idB), expiresS, invitee }
  if (!crypto.verify(sig, crypto.sha256(encode(bodyValue(invite))), issuerB as Uint8Array)) return { ok: false, why: 'invite-bad-signature' }
  return { ok: true, invite }
}

/** What makes an invite one-time: at most one applicant per (issuer, id). */
export function inviteKey(i: Invite): string {
  return `${i.issuer}/${i.id}`
}

/** Expired at `now` (ms, the voter's clock): strictly past the expiry second. */
export function inviteExpired(i: Invite, now: TimeMs): boolean {
  return now > i.expiresS * 1000
}

/** Printable form (base64url, no padding) and back; undefined for text that is no token. */
export function inviteText(token: Uint8Array): string {
  let s = ''
  for (const b of token) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function inviteFromText(text: string): Uint8Array | undefined {
  const t = text.trim()
  if (!/^[A-Za-z0-9_-]+$/.test(t) || t.length > Math.ceil((INVITE_BYTES_MAX * 4) / 3)) return undefined
  let bin: string
  try {
    bin = atob(t.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (t.length % 4)) % 4))
  } catch {
    return undefined
  }
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}
