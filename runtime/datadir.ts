// A node's data directory: its identity and its store, in one place the operator can back up.
//
//   <dir>/key            the node's 32-byte secp256k1 secret key, hex, mode 0600 (`paciofs init`)
//   <dir>/store/         the RecordStore (level): every record the core persisted
//   <dir>/control.sock   the control socket of the node running on this directory, if any
//
// Only `init` creates a key; every other command refuses a directory without one, so that a typo
// in --data never silently starts a second identity.
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { fromHex, toHex } from '../core/bytes.ts'
import { pidOf } from '../core/node.ts'
import type { Pid } from '../core/types.ts'
import { nodeCrypto } from './node-crypto.ts'
import { CodedError } from './errors.ts'

export type DataDirErrorCode = 'DATA_NO_KEY' | 'DATA_BAD_KEY' | 'DATA_EXISTS'
export class DataDirError extends CodedError<DataDirErrorCode> {}

/** The data directory used when no --data is given: $PACIOFS_HOME, else ~/.paciofs. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.PACIOFS_HOME ?? join(homedir(), '.paciofs'))
}

export const keyPath = (dir: string): string => join(dir, 'key')
export const storePath = (dir: string): string => join(dir, 'store')
export const controlSocketPath = (dir: string): string => join(dir, 'control.sock')

export function hasKey(dir: string): boolean {
  return existsSync(keyPath(dir))
}

/** Creates `dir` and a fresh key in it. Refuses to replace an existing key (DATA_EXISTS). */
export function initDataDir(dir: string): { pid: Pid } {
  if (hasKey(dir)) throw new DataDirError('DATA_EXISTS', `${dir} already holds a node key (${keyPath(dir)}); a data directory keeps its identity for life. Use another --data directory for another node.`)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  let sk: Uint8Array
  // Rejection sampling: a key must be a valid secp256k1 scalar (publicKey throws otherwise).
  for (;;) {
    sk = randomBytes(32)
    try {
      nodeCrypto.publicKey(sk)
      break
    } catch {
      continue
    }
  }
  writeFileSync(keyPath(dir), toHex(sk) + '\n', { mode: 0o600, flag: 'wx' })
  chmodSync(keyPath(dir), 0o600)
  return { pid: pidOf(nodeCrypto, sk) }
}

/** The node's secret key. Throws DATA_NO_KEY (run init) or DATA_BAD_KEY. */
export function loadKey(dir: string): Uint8Array {
  let text: string
  try {
    text = readFileSync(keyPath(dir), 'utf8').trim()
  } catch {
    throw new DataDirError('DATA_NO_KEY', `${dir} has no node key; run \`paciofs init --data ${dir}\` first.`)
  }
  const sk = /^[0-9a-f]{64}$/.test(text) ? fromHex(text) : undefined
  if (sk === undefined) throw new DataDirError('DATA_BAD_KEY', `${keyPath(dir)} is not a 64-digit hex secret key; restore it from your backup.`)
  try {
    nodeCrypto.publicKey(sk)
  } catch {
    throw new DataDirError('DATA_BAD_KEY', `${keyPath(dir)} is not a valid secp256k1 secret key; restore it from your backup.`)
  }
  return sk
}
