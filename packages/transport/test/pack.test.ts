/**
 * "Selective install per layer": @netdial/transport packed as published (with the @netdial/url tarball it depends
 * on), installed with npm into a fresh folder outside the workspace, and used there for a real TCP echo.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type InstalledPackage, lintPublished, packAndInstall } from "@netdial/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const packageDir = join(import.meta.dirname, "..")
const urlDir = join(packageDir, "..", "url")
let installed: InstalledPackage

beforeAll(() => {
  for (const dir of [urlDir, packageDir]) {
    execFileSync("pnpm", ["run", "build"], { cwd: dir, stdio: "ignore", timeout: 120_000 })
  }
  installed = packAndInstall(packageDir, [urlDir])
}, 900_000)

afterAll(() => installed?.cleanup())

describe("published @netdial/transport", () => {
  const installedDir = () => join(installed.project, "node_modules", "@netdial", "transport")

  it("depends on the published @netdial/url and the effect peers, and ships dist", () => {
    const manifest = JSON.parse(readFileSync(join(installedDir(), "package.json"), "utf8"))
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", default: "./dist/index.js" })
    expect(manifest.dependencies["@netdial/url"]).toMatch(/^\^?\d/)
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual(["@effect/platform-node", "effect"])
    expect(existsSync(join(installedDir(), "dist", "index.js"))).toBe(true)
    expect(existsSync(join(installed.project, "node_modules", "@effect", "platform-node", "package.json"))).toBe(true)
  })

  it("dials and serves tcp from the fresh install", () => {
    const out = installed.run(`
      import { Effect } from "effect"
      import { Transports } from "@netdial/transport"
      const program = Effect.gen(function* () {
        const transports = yield* Transports
        const listener = yield* transports.listen("tcp://127.0.0.1:0")
        const client = yield* transports.connect(listener.url)
        const server = yield* listener.accept
        const writer = yield* client.writer
        yield* writer.write(new TextEncoder().encode("ping"))
        const reader = yield* server.reader
        const batch = yield* reader.pull
        return new TextDecoder().decode(batch[0])
      }).pipe(Effect.scoped, Effect.provide(Transports.layerNode))
      Effect.runPromise(program).then((text) => console.log(JSON.stringify({ text })))
    `)
    expect(JSON.parse(out)).toEqual({ text: "ping" })
  })

  it("passes publint (strict) and Are The Types Wrong (ESM-only profile)", () => {
    expect(lintPublished(join(packageDir, "node_modules", ".bin"), installedDir(), installed.tarball)).toEqual({
      publint: [],
      attw: []
    })
  })
})
