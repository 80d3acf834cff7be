#!/usr/bin/env node
// Launcher of the `paciofs` binary: the sources are TypeScript, run through tsx's loader (no
// build step). `npx paciofs ...` from the repository, or `node bin/paciofs.js ...`.
import { register } from 'tsx/esm/api'

register()
const { main } = await import(new URL('../runtime/cli.ts', import.meta.url).href)
process.exitCode = main(process.argv.slice(2))
