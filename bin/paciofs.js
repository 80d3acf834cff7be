#!/usr/bin/env node
// Launcher of the `paciofs` binary: the sources are TypeScript, run through tsx's loader (no
// build step). `npx paciofs ...` from the repository, or `node bin/paciofs.js ...`.
import { register } from 'tsx/esm/api'

register()
const { main } = await import(new URL('../runtime/cli.ts', import.meta.url).href)
const argv = process.argv.slice(2)
const code = await main(argv)
// serve and mount end on a signal; the FUSE thread and sockets must not keep the process alive.
if (argv[0] === 'serve' || argv[0] === 'mount') process.exit(code)
process.exitCode = code
