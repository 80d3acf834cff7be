// The `paciofs` binary: one subcommand per concern. Exit codes: 0 success, 1 the command ran
// and found a failure (or could not run), 2 bad usage.
import { pathToFileURL } from 'node:url'
import { simCommand, SIM_USAGE, type CommandIo } from './sim-command.ts'
import { simTotbCommand } from './sim-totb-command.ts'
import { runtimeCommand, RUNTIME_USAGE } from './node-commands.ts'
import { tuneProcessMemory } from './memory.ts'
import { INSPECT_USAGE, type InspectCommand } from './inspect.ts'

export const USAGE = `usage: paciofs <command> [options]

commands:
  init      create a data directory with a fresh node key
  mount     mount a volume (local mode: the node runs in the same process)
  serve     run a node that replicates its volumes with peers over TCP
  create    create a volume on the running node
  join      apply to join a volume through the running node's peers
  invite    print a one-time invite to a volume, signed by the running node (a member)
  admit     admit a node to a volume by its id (the running node must be a member)
  leave     leave a volume
  retain    put a path under retention until a date (extend-only), or set the volume's default and mode
  hold      set or lift a legal hold on a path
  retention a path's retention state, and who set it
  status    the node and its volumes (epoch, state root, ledger)
  members   the processes of a volume and their membership
  log       the volume's operation log, or the part of it that touched a path
  history   every version of a path (epoch, author, size, content hash)
  cat       a file's content, now or at an epoch (--at)
  verify    audit a volume: ledger, plain operations, replay vs. the replica, chunk hashes
  sim       run the deterministic simulator: a whole cluster of the real core under a seeded
            fault plan, every invariant checked

'paciofs <command> --help' describes each. Commands that read a node (status ... verify) ask
the node running on --data (default $PACIOFS_HOME or ~/.paciofs), or read its store when it
is stopped.

options:
  -h, --help   show this help
`

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

export function main(argv: readonly string[], io: CommandIo = processIo()): number | Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) {
    io.stderr(`paciofs: no command given\n\n${USAGE}`)
    return EXIT_USAGE
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined
    if (topic === 'sim') io.stdout(SIM_USAGE)
    else if (topic !== undefined && RUNTIME_USAGE[topic]) io.stdout(RUNTIME_USAGE[topic])
    else if (topic !== undefined && topic in INSPECT_USAGE) io.stdout(INSPECT_USAGE[topic as InspectCommand])
    else io.stdout(USAGE)
    return EXIT_OK
  }
  switch (command) {
    case 'sim': {
      // --dag runs the total order alone (runtime/sim-totb-command.ts); otherwise the whole stack
      // (--order fotb|totb chooses the volumes' order there).
      const dag = rest.indexOf('--dag')
      if (dag >= 0) return simTotbCommand(rest.filter((_, i) => i !== dag), io)
      return simCommand(rest, io)
    }
    case 'init': case 'serve': case 'mount': case 'create': case 'join': case 'leave': case 'invite': case 'admit':
    case 'status': case 'members': case 'log': case 'history': case 'cat': case 'verify':
    case 'retain': case 'hold': case 'retention':
      tuneProcessMemory(process.env, command)
      return runtimeCommand(command, rest, io)
    default:
      io.stderr(`paciofs: unknown command '${command}'\n\n${USAGE}`)
      return EXIT_USAGE
  }
}

export function processIo(): CommandIo {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stderrStream: process.stderr,
    stderrIsTTY: process.stderr.isTTY === true,
  }
}

// Run when executed directly (`tsx runtime/cli.ts sim ...`); bin/paciofs.js calls main itself.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void Promise.resolve(main(process.argv.slice(2))).then((code) => process.exit(code))
}
