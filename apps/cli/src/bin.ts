#!/usr/bin/env node
/**
 * The `netdial` executable. V8's compile cache (Node ≥ 22.1; kept in the OS temp dir) saves a third of the start-up
 * on every run after the first; it must be on before the CLI's code is loaded, hence this two-step entry.
 */
import module from "node:module"

module.enableCompileCache?.()
await import("./main.ts")
