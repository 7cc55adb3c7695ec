/**
 * "Selective install per layer": @netdial/starttls packed as published, with the @netdial/transport and @netdial/url
 * tarballs it depends on, installed with npm into a fresh folder, and used there for a real STARTTLS dialogue
 * against its own SMTP server helper.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type InstalledPackage, lintPublished, makeTestPki, packAndInstall } from "@netdial/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const packageDir = join(import.meta.dirname, "..")
const urlDir = join(packageDir, "..", "url")
const transportDir = join(packageDir, "..", "transport")
let installed: InstalledPackage

beforeAll(() => {
  for (const dir of [urlDir, transportDir, packageDir]) {
    execFileSync("pnpm", ["run", "build"], { cwd: dir, stdio: "ignore", timeout: 120_000 })
  }
  installed = packAndInstall(packageDir, [urlDir, transportDir])
}, 900_000)

afterAll(() => installed?.cleanup())

describe("published @netdial/starttls", () => {
  const installedDir = () => join(installed.project, "node_modules", "@netdial", "starttls")

  it("depends on the published transport and url, and ships dist", () => {
    const manifest = JSON.parse(readFileSync(join(installedDir(), "package.json"), "utf8"))
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", default: "./dist/index.js" })
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["@netdial/transport", "@netdial/url"])
    expect(existsSync(join(installedDir(), "dist", "index.js"))).toBe(true)
  })

  it("runs SMTP STARTTLS against serveSmtp from the fresh install", async () => {
    const pki = await makeTestPki()
    const out = installed.run(`
      import { Effect } from "effect"
      import { Transports } from "@netdial/transport"
      import { connect, serveSmtp } from "@netdial/starttls"
      const cert = ${JSON.stringify(pki.server.chainPem)}, key = ${JSON.stringify(pki.server.keyPem)}, ca = ${JSON.stringify(pki.ca.certPem)}
      const program = Effect.gen(function* () {
        const transports = yield* Transports
        const listener = yield* transports.listen("tcp://127.0.0.1:0")
        yield* serveSmtp(listener, { tls: { cert, key } }).pipe(Effect.forkScoped)
        const result = yield* connect("tcp://localhost:" + listener.url.port, "smtp", { tls: { ca } })
        return { encrypted: result.encrypted, starttlsAfter: result.capabilities.includes("STARTTLS"), before: result.capabilitiesBeforeTls.includes("STARTTLS") }
      }).pipe(Effect.scoped, Effect.provide(Transports.layerNode))
      Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)))
    `)
    expect(JSON.parse(out)).toEqual({ encrypted: true, starttlsAfter: false, before: true })
  })

  it("passes publint (strict) and Are The Types Wrong (ESM-only profile)", () => {
    expect(lintPublished(join(packageDir, "node_modules", ".bin"), installedDir(), installed.tarball)).toEqual({
      publint: [],
      attw: []
    })
  })
})
