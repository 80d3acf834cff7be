// Every invariant of spec/ is cited by a test, and every invariant a test cites exists
// (spec/README.md, "Invariants"). An invariant is defined by exactly one heading line
// `### ID Name` (e.g. `### LEDGER-1 Integrity`); a test cites it as `[ID]` in its name.
// Strict on purpose: an uncited invariant is a claim nobody checks.
import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const SPEC = join(ROOT, 'spec')
const TEST = join(ROOT, 'test')

const ID = '[A-Z][A-Z0-9]*-[0-9]+'
/** THE way to define an invariant: a level-3 heading, the ID, one space, a name. */
const DEFINITION = new RegExp(`^### (${ID}) (\\S.*)$`)
/** Lines that look like an attempt to define an invariant some other way. */
const NEAR_MISSES = [
  new RegExp(`^#{1,6}\\s*\\**(${ID})\\b`), // any heading starting with an ID (checked after DEFINITION)
  new RegExp(`^\\s*\\|\\s*\\**(${ID})\\**\\s*\\|`), // a table row starting with an ID
  new RegExp(`^\\s*(?:[-*]\\s+)?\\*\\*(${ID})\\b`), // a bold ID starting a line or list item
]
const CITATION = new RegExp(`\\[(${ID})\\]`, 'g')
/** First string argument of it/test/describe and their modifiers (it.fails, test.each(...)...). */
const TEST_NAME = /\b(?:it|test|describe)(?:\.\w+)*\s*\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g

function files(dir: string, suffix: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...files(path, suffix))
    else if (entry.name.endsWith(suffix)) out.push(path)
  }
  return out.sort()
}

interface Definition {
  id: string
  where: string
}

function definitions(): { defined: Map<string, Definition[]>; malformed: string[] } {
  const defined = new Map<string, Definition[]>()
  const malformed: string[] = []
  for (const file of files(SPEC, '.md')) {
    let fenced = false
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (/^\s*(```|~~~)/.test(line)) fenced = !fenced
      if (fenced) return
      const where = `${relative(ROOT, file)}:${i + 1}`
      const def = DEFINITION.exec(line)
      if (def) {
        const list = defined.get(def[1]!) ?? []
        list.push({ id: def[1]!, where })
        defined.set(def[1]!, list)
        return
      }
      for (const pattern of NEAR_MISSES) {
        if (pattern.test(line)) {
          malformed.push(`${where}: '${line.trim()}' — define invariants as '### ID Name'`)
          return
        }
      }
    })
  }
  return { defined, malformed }
}

/** IDs cited in test names, and every bracketed ID anywhere in test files (names and comments). */
function citations(): { inNames: Map<string, string[]>; anywhere: Map<string, string[]> } {
  const inNames = new Map<string, string[]>()
  const anywhere = new Map<string, string[]>()
  const add = (map: Map<string, string[]>, id: string, where: string) => {
    const list = map.get(id) ?? []
    list.push(where)
    map.set(id, list)
  }
  for (const file of files(TEST, '.ts')) {
    const source = readFileSync(file, 'utf8')
    const where = relative(ROOT, file)
    for (const m of source.matchAll(TEST_NAME)) for (const c of m[2]!.matchAll(CITATION)) add(inNames, c[1]!, where)
    for (const c of source.matchAll(CITATION)) add(anywhere, c[1]!, where)
  }
  return { inNames, anywhere }
}

describe('spec citations', () => {
  const { defined, malformed } = definitions()
  const { inNames, anywhere } = citations()

  it('spec/ defines invariants', () => {
    expect(defined.size).toBeGreaterThan(0)
  })

  it('invariants are defined only as `### ID Name` headings, each ID once', () => {
    const duplicates = [...defined.values()]
      .filter((defs) => defs.length > 1)
      .map((defs) => `${defs[0]!.id} defined at ${defs.map((d) => d.where).join(', ')}`)
    expect([...malformed, ...duplicates]).toEqual([])
  })

  it('every invariant defined in spec/ is cited as [ID] in the name of a test', () => {
    const uncited = [...defined.values()]
      .filter((defs) => !inNames.has(defs[0]!.id))
      .map((defs) => `${defs[0]!.id} (${defs[0]!.where})`)
    expect(uncited, 'invariants without a test naming them').toEqual([])
  })

  it('every [ID] cited in test/ is defined in spec/', () => {
    const undefinedIds = [...anywhere.entries()]
      .filter(([id]) => !defined.has(id))
      .map(([id, where]) => `${id} (cited in ${[...new Set(where)].join(', ')})`)
    expect(undefinedIds, 'citations of invariants that spec/ does not define').toEqual([])
  })

  it('the patterns recognize the convention and its near misses (self-check)', () => {
    // IDs are assembled so that this file does not cite them itself.
    const id = ['LEDGER', '1'].join('-')
    expect(DEFINITION.exec(`### ${id} Integrity`)?.[1]).toBe(id)
    expect(DEFINITION.test(`### ${id}`)).toBe(false)
    expect(DEFINITION.test(`## ${id} Integrity`)).toBe(false)
    for (const line of [`## ${id} Integrity`, `### ${id}: Integrity`, `| ${id} | Integrity |`, `**${id}** Integrity`, `- **${id}**: Integrity`]) {
      expect(DEFINITION.test(line) ? 'definition' : NEAR_MISSES.some((p) => p.test(line)) ? 'near miss' : 'ignored', line).toBe('near miss')
    }
    expect(NEAR_MISSES.some((p) => p.test(`see ${id} above`))).toBe(false)
    const names = [...`it('[${id}] holds', f)\nit.fails("x [${id.replace('1', '2')}]", f)\n// [${id.replace('1', '3')}]`.matchAll(TEST_NAME)]
    expect(names.map((m) => [...m[2]!.matchAll(CITATION)].map((c) => c[1]))).toEqual([[id], [id.replace('1', '2')]])
  })
})
