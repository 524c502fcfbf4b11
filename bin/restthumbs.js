#!/usr/bin/env node
// The `restthumbs` command; the code lives in the compiled TypeScript.
import { main } from '../dist/cli/main.js'

await main(process.argv)
