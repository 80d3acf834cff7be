// Path and name rules (spec/fs.md FS-6) and the one name order used everywhere (UTF-8 bytes).
import type { Errno } from './types.ts'
import { NAME_MAX_BYTES, PATH_MAX_BYTES } from './types.ts'

/** The longest path from a volume's root that the file system takes (ENAMETOOLONG beyond):
 *  16 x PATH_MAX, not PATH_MAX. The kernel applies PATH_MAX to the string a process passes
 *  (relative to its cwd or a dirfd) and hands a mount the path from the mount's root, which is
 *  longer than that string when the process starts from a deep cwd; ext4 limits names only. The
 *  bound keeps every op (two paths at most) and the cost of resolving it small: spec/fs.md "Paths". */
export const FS_PATH_MAX_BYTES = 16 * PATH_MAX_BYTES

/** UTF-8 length of a well-formed string without allocating. */
export function utf8Length(text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++ } // a surrogate pair is one 4-byte code point
    else n += 3
  }
  return n
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Strings with lone surrogates have no UTF-8 form: two of them could encode the same. */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text)
}

/** Orders strings by their UTF-8 bytes (= code point order), not by UTF-16 code units, so that
 *  an implementation in any language sorts names the same way. */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (0xd800..0xdfff) encode code points above 0xffff: move them above 0xe000..0xffff.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000
    }
    return x - y
  }
  return a.length - b.length
}

export function checkName(name: string): Errno | null {
  if (name === '' || name === '.' || name === '..' || name.includes('\0') || name.includes('/')) return 'EINVAL'
  if (!isWellFormed(name)) return 'EINVAL'
  if (utf8Length(name) > NAME_MAX_BYTES) return 'ENAMETOOLONG'
  return null
}

/** Splits a normalized absolute path into names. '/' -> []. Rejects anything not normalized. */
export function parsePath(path: string): { ok: true; names: string[] } | { ok: false; errno: Errno } {
  if (utf8Length(path) > FS_PATH_MAX_BYTES) return { ok: false, errno: 'ENAMETOOLONG' }
  if (!path.startsWith('/')) return { ok: false, errno: 'EINVAL' }
  if (path === '/') return { ok: true, names: [] }
  const names = path.slice(1).split('/')
  for (const name of names) {
    const errno = checkName(name)
    if (errno !== null) return { ok: false, errno }
  }
  return { ok: true, names }
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}
