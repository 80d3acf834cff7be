// Which valid vertices are in the history of one of this member's own vertices ("covered"): those
// need no weak reference of ours again. Marked when an own vertex is made (its refs) and when one
// is judged valid (also again after a restart).
import type { TotbState, Vertex } from './state.ts'

/** Mark `roots` and everything in their history covered (stops at vertices covered already). */
export function coverFrom(state: TotbState, roots: readonly Vertex[]): void {
  const stack = roots.filter((v) => !v.covered)
  for (const v of stack) v.covered = true
  while (stack.length > 0) {
    const v = stack.pop()!
    state.uncovered.delete(v)
    for (const u of v.strong) visit(u, stack)
    for (const u of v.weak) visit(u, stack)
    if (v.prev !== undefined) visit(v.prev, stack)
  }
}

function visit(u: Vertex, stack: Vertex[]): void {
  if (!u.covered) {
    u.covered = true
    stack.push(u)
  }
}

/** An own vertex was judged valid: its history is covered. */
export function coverHistory(state: TotbState, own: Vertex): void {
  coverFrom(state, [...own.strong, ...own.weak, ...(own.prev !== undefined ? [own.prev] : [])])
}
