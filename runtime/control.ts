// The control socket of a running node (<data>/control.sock, mode 0600): how `paciofs status`,
// `members`, `log`, `history`, `cat`, `verify`, `join`, `leave` reach a node that is serving, whose
// store is locked by that process. One JSON request per connection, one JSON answer:
//   -> {"command": "history", "argv": ["/a.txt"]}
//   <- {"exitCode": 0, "stdout": "<base64>", "stderr": "..."}
// Only processes that can open the socket file (its owner, and root) can talk to the node.
import { chmodSync, existsSync, unlinkSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { CommandOutput } from './inspect.ts'

export interface ControlRequest {
  readonly command: string
  readonly argv: readonly string[]
}

export type ControlHandler = (req: ControlRequest) => Promise<CommandOutput>

const REQUEST_BYTES_MAX = 1024 * 1024

/** Listens on `path` (replacing a socket file left by a crashed node). */
export async function serveControl(path: string, handler: ControlHandler): Promise<Server> {
  if (existsSync(path)) {
    // A live node answers; a stale file from a crash does not.
    if (await probe(path)) throw new Error(`another paciofs node is running on this data directory (${path} answers); stop it first.`)
    unlinkSync(path)
  }
  const server = createServer((sock) => void handle(sock, handler))
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(path, () => ok())
  })
  chmodSync(path, 0o600)
  return server
}

async function handle(sock: Socket, handler: ControlHandler): Promise<void> {
  sock.on('error', () => undefined)
  const line = await new Promise<Buffer | undefined>((ok) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (c: Buffer): void => {
      chunks.push(c)
      size += c.length
      if (size > REQUEST_BYTES_MAX) {
        sock.off('data', onData)
        return ok(undefined)
      }
      if (c.includes(10)) {
        sock.off('data', onData)
        ok(Buffer.concat(chunks))
      }
    }
    sock.on('data', onData)
    sock.once('end', () => ok(undefined))
    sock.once('close', () => ok(undefined))
  })
  if (line === undefined) return void sock.destroy()
  let out: CommandOutput
  try {
    const req = JSON.parse(line.toString('utf8')) as ControlRequest
    if (typeof req.command !== 'string' || !Array.isArray(req.argv) || !req.argv.every((a) => typeof a === 'string')) throw new Error('malformed request')
    out = await handler(req)
  } catch (err) {
    out = { exitCode: 1, stdout: '', stderr: `paciofs: control request failed: ${(err as Error).message}\n` }
  }
  const stdout = typeof out.stdout === 'string' ? Buffer.from(out.stdout, 'utf8') : Buffer.from(out.stdout)
  sock.end(JSON.stringify({ exitCode: out.exitCode, stdout: stdout.toString('base64'), stderr: out.stderr }) + '\n')
}

function probe(path: string): Promise<boolean> {
  return new Promise((ok) => {
    const s = createConnection(path)
    s.once('connect', () => {
      s.destroy()
      ok(true)
    })
    s.once('error', () => ok(false))
  })
}

/** Sends one request to the node running on `path`; undefined when no node listens there. */
export async function callControl(path: string, req: ControlRequest): Promise<CommandOutput | undefined> {
  if (!existsSync(path)) return undefined
  return new Promise((ok, fail) => {
    const s = createConnection(path)
    const chunks: Buffer[] = []
    let connected = false
    s.once('connect', () => {
      connected = true
      s.write(JSON.stringify(req) + '\n')
    })
    s.on('data', (c: Buffer) => chunks.push(c))
    s.once('error', (err) => (connected ? fail(err) : ok(undefined)))
    s.once('end', () => {
      try {
        const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { exitCode: 0 | 1 | 2; stdout: string; stderr: string }
        ok({ exitCode: r.exitCode, stdout: Buffer.from(r.stdout, 'base64'), stderr: r.stderr })
      } catch (err) {
        fail(new Error(`the node on ${path} sent a malformed answer: ${(err as Error).message}`))
      }
    })
  })
}
