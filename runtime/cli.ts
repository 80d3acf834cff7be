// The `paciofs` binary: one subcommand per concern. Only `sim` exists yet; the runtime's
// subcommands (mount, serve, ...) come with their issues. Exit codes: 0 success, 1 the command
// ran and found a failure, 2 bad usage.
import { pathToFileURL } from 'node:url'
import { simCommand, SIM_USAGE, type CommandIo } from './sim-command.ts'

export const USAGE = `usage: paciofs <command> [options]

commands:
  sim     run the deterministic simulator: a whole cluster of the real core under a seeded
          fault plan, every invariant checked (paciofs sim --help)

options:
  -h, --help   show this help
`

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

export function main(argv: readonly string[], io: CommandIo = processIo()): number {
  const [command, ...rest] = argv
  if (command === undefined) {
    io.stderr(`paciofs: no command given\n\n${USAGE}`)
    return EXIT_USAGE
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    if (command === 'help' && rest[0] === 'sim') io.stdout(SIM_USAGE)
    else io.stdout(USAGE)
    return EXIT_OK
  }
  switch (command) {
    case 'sim':
      return simCommand(rest, io)
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
  process.exitCode = main(process.argv.slice(2))
}
