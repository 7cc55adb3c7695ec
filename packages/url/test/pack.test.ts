/**
 * "Selective install per layer": @netdial/url packed as it is published, installed with npm into a fresh folder
 * outside the workspace, imported on Node, and checked by publint and Are The Types Wrong.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type InstalledPackage, lintPublished, packAndInstall } from "@netdial/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const packageDir = join(import.meta.dirname, "..")
let installed: InstalledPackage

beforeAll(() => {
  execFileSync("pnpm", ["run", "build"], { cwd: packageDir, stdio: "ignore", timeout: 120_000 })
  installed = packAndInstall(packageDir)
}, 900_000)

afterAll(() => installed?.cleanup())

describe("published @netdial/url", () => {
  const installedDir = () => join(installed.project, "node_modules", "@netdial", "url")

  it("contains the built ESM and types, and points its exports at dist", () => {
    const manifest = JSON.parse(readFileSync(join(installedDir(), "package.json"), "utf8"))
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", default: "./dist/index.js" })
    expect(manifest.sideEffects).toEqual([])
    expect(manifest.peerDependencies.effect).toBeDefined()
    expect(existsSync(join(installedDir(), "dist", "index.js"))).toBe(true)
    expect(existsSync(join(installedDir(), "dist", "index.d.ts"))).toBe(true)
    expect(existsSync(join(installedDir(), "test"))).toBe(false)
    // effect came from the registry as the peer dependency, not from the workspace
    expect(existsSync(join(installed.project, "node_modules", "effect", "package.json"))).toBe(true)
  })

  it("imports and works on this Node", () => {
    const out = installed.run(`
      import { parse, format, fromHostPort } from "@netdial/url"
      const url = parse("TLS://[FE80::1%eth0]:443")
      const bad = parse("tcp://::1:80")
      console.log(JSON.stringify({ ok: format(url.success), fsock: format(fromHostPort("::1", 80).success), err: bad.failure.message }))
    `)
    expect(JSON.parse(out)).toEqual({
      ok: "tls://[fe80::1%25eth0]:443",
      fsock: "tcp://[::1]:80",
      err: "IPv6 addresses need brackets when a port follows: tcp://[::1]:80"
    })
  })

  it("imports on the machine's older Node too (engines >= 20)", (ctx) => {
    const system = "/usr/bin/node"
    if (!existsSync(system)) ctx.skip(`no system Node at ${system}`)
    const version = execFileSync(system, ["--version"], { encoding: "utf8" }).trim()
    const out = installed.run(
      `import { parse, format } from "@netdial/url"; console.log(format(parse("udp://127.0.0.1:53").success))`,
      system
    )
    expect(out.trim(), `on Node ${version}`).toBe("udp://127.0.0.1:53")
  })

  it("passes publint (strict) and Are The Types Wrong (ESM-only profile)", () => {
    expect(lintPublished(join(packageDir, "node_modules", ".bin"), installedDir(), installed.tarball)).toEqual({
      publint: [],
      attw: []
    })
  })
})
