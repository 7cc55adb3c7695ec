/**
 * "Selective install per layer": @netdial/url packed as it is published, installed with npm into a fresh folder
 * outside the workspace, imported on Node, and checked by publint and Are The Types Wrong.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type InstalledPackage, packAndInstall } from "@netdial/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const packageDir = join(import.meta.dirname, "..")
const bin = (name: string) => join(packageDir, "node_modules", ".bin", name)
let installed: InstalledPackage

beforeAll(() => {
  execFileSync("pnpm", ["run", "build"], { cwd: packageDir, stdio: "ignore", timeout: 120_000 })
  installed = packAndInstall(packageDir)
}, 300_000)

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

  it("passes publint (strict)", () => {
    const out = execFileSync(bin("publint"), ["--strict", installedDir()], { encoding: "utf8" })
    expect(out).toMatch(/All good|no issues/i)
  })

  it("passes Are The Types Wrong (ESM-only profile: node16 from ESM and bundlers)", () => {
    // attw exits non-zero on any problem in the profile; CommonJS and node10 resolution are out of scope for ESM-only.
    const out = execFileSync(bin("attw"), [installed.tarball, "--profile", "esm-only", "--no-color", "--no-emoji"], {
      encoding: "utf8"
    })
    const problems = out.split("\n").filter((line) => line.includes("/docs/problems/"))
    expect(problems.filter((line) => !line.startsWith("(ignored per resolution)"))).toEqual([])
    expect(out).toMatch(/node16 \(from ESM\)\s*│\s*\S* ?\(ESM\)/)
  })
})
