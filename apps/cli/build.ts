/**
 * Bundles the CLI into dist/ with rolldown: one tree-shaken ES module per entry plus chunks that are loaded only by
 * the commands that need them (`import()`), so `netdial parse` never loads the socket and TLS code. Everything is
 * bundled (effect, @effect/platform-node, the netdial packages): the published package has no runtime dependencies
 * and start-up reads a few files instead of hundreds (see bench/startup.bench.ts).
 */
import * as Fs from "node:fs"
import { builtinModules } from "node:module"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "rolldown"

const here = Path.dirname(fileURLToPath(import.meta.url))
const dist = Path.join(here, "dist")
Fs.rmSync(dist, { recursive: true, force: true })

await build({
  input: { netdial: Path.join(here, "src/bin.ts") },
  platform: "node",
  external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
  treeshake: true,
  output: {
    dir: dist,
    format: "esm",
    entryFileNames: "[name].js",
    chunkFileNames: "chunks/[name]-[hash].js",
    minify: true,
    sourcemap: false
  }
})

const entry = Path.join(dist, "netdial.js")
Fs.chmodSync(entry, 0o755)
const size = Fs.readdirSync(dist, { recursive: true })
  .map((f) => Path.join(dist, String(f)))
  .filter((f) => Fs.statSync(f).isFile())
  .reduce((n, f) => n + Fs.statSync(f).size, 0)
console.log(`built ${Path.relative(process.cwd(), entry)} (${(size / 1024).toFixed(0)} KiB in dist/)`)
