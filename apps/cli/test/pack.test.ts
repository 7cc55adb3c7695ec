/**
 * The published package: @netdial/cli packed as it would be published (`pnpm pack`), installed alone with npm into a
 * fresh folder outside the workspace, and run there through `npx` — help, parse, a bad URL, and one real TCP round
 * trip between two installed copies. The CLI bundles everything (effect, @effect/platform-node, @netdial/*), so the
 * tarball is the whole install: no registry is needed.
 *
 * `npx --no -- netdial …`: `--no` makes npx refuse to fetch anything from the registry, so a broken install fails
 * here instead of silently running some other package called `netdial`; `--` keeps `--help`/`--version` for netdial.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs"
import { delimiter, dirname, join } from "node:path"
import { type InstalledPackage, packAndInstall } from "@netdial/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const cliDir = join(import.meta.dirname, "..")
const commands = ["connect", "listen", "probe", "parse", "transports"]
let installed: InstalledPackage
let listener: ChildProcess | undefined

/**
 * The environment of a user's shell in the fresh project: `nodeDir` first on PATH (its `node` runs npx and the bin's
 * `#!/usr/bin/env node`), no workspace `node_modules/.bin` folders, and none of the npm_* / pnpm variables that the
 * test runner inherits from `pnpm run`.
 */
const userEnv = (nodeDir: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|pnpm_|PNPM_)|^NODE_PATH$|^NODE_OPTIONS$/i.test(key)) env[key] = value
  }
  const rest = (process.env.PATH ?? "").split(delimiter).filter((p) => p !== "" && !p.includes("node_modules"))
  return { ...env, PATH: [nodeDir, ...rest].join(delimiter), NO_COLOR: "1", npm_config_update_notifier: "false" }
}

const node24Dir = dirname(process.execPath)

/** `npx --no -- netdial <args>` in the fresh project, bounded in time; never throws. */
const npx = (args: ReadonlyArray<string>, options: { readonly nodeDir?: string; readonly input?: string } = {}) => {
  const result = spawnSync("npx", ["--no", "--", "netdial", ...args], {
    cwd: installed.project,
    env: userEnv(options.nodeDir ?? node24Dir),
    encoding: "utf8",
    input: options.input ?? "",
    timeout: 60_000
  })
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }
}

/** The machine's own Node 20 (the `engines` floor), found on PATH outside any node_modules; undefined if none. */
const findNode20 = (): { readonly path: string; readonly version: string } | undefined => {
  const seen = new Set<string>()
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "" || dir.includes("node_modules")) continue
    const candidate = join(dir, "node")
    if (!existsSync(candidate)) continue
    let real: string
    try {
      real = realpathSync(candidate)
    } catch {
      continue
    }
    if (seen.has(real)) continue
    seen.add(real)
    try {
      const version = execFileSync(candidate, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim()
      if (version.startsWith("v20.")) return { path: candidate, version }
    } catch {
      // Not a working node binary: keep looking.
    }
  }
  return undefined
}
const node20 = findNode20()

beforeAll(() => {
  // Under turbo (`pnpm test`) dist/ is fresh (test depends on build); a lone run builds it only when it is missing, so
  // this file never rewrites dist/ while other test files are running it.
  if (!existsSync(join(cliDir, "dist", "netdial.js"))) {
    execFileSync("pnpm", ["run", "build"], { cwd: cliDir, stdio: "ignore", timeout: 300_000 })
  }
  installed = packAndInstall(cliDir)
}, 900_000)

afterAll(() => {
  // The background listener runs in its own process group (npx + node): end the group, by its id.
  if (listener?.pid !== undefined && listener.exitCode === null && listener.signalCode === null) {
    try {
      process.kill(-listener.pid, "SIGTERM")
    } catch {
      // Already gone.
    }
  }
  installed?.cleanup()
})

describe("published @netdial/cli, installed alone with npm", () => {
  const installedDir = () => join(installed.project, "node_modules", "@netdial", "cli")

  it("is a bin-only package with no runtime dependencies: the tarball is the whole install", () => {
    const manifest = JSON.parse(readFileSync(join(installedDir(), "package.json"), "utf8"))
    expect(manifest.bin).toEqual({ netdial: "./dist/netdial.js" })
    expect(manifest.dependencies ?? {}).toEqual({})
    expect(manifest.peerDependencies ?? {}).toEqual({})
    expect(manifest.engines).toEqual({ node: ">=20" })
    expect(readFileSync(join(installedDir(), "dist", "netdial.js"), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/)
    // Nothing but the CLI itself was installed (no effect, no @netdial/* libraries).
    const top = readdirSync(join(installed.project, "node_modules")).filter((n) => !n.startsWith("."))
    expect(top).toEqual(["@netdial"])
    expect(readdirSync(join(installed.project, "node_modules", "@netdial"))).toEqual(["cli"])
    expect(existsSync(join(installed.project, "node_modules", ".bin", "netdial"))).toBe(true)
  })

  it("npx netdial --help lists the five commands", () => {
    const r = npx(["--help"])
    expect(r.stderr).not.toMatch(/error|netdial/i)
    expect(r.status).toBe(0)
    for (const command of commands) expect(r.stdout).toMatch(new RegExp(`^\\s+${command}\\s`, "m"))
  })

  it("npx netdial --version is the version in the published package.json", () => {
    const manifest = JSON.parse(readFileSync(join(installedDir(), "package.json"), "utf8"))
    const r = npx(["--version"])
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe(`netdial v${manifest.version}`)
  })

  it("npx netdial parse 'tls://[::1]:443' --json gives the canonical form", () => {
    const r = npx(["parse", "tls://[::1]:443", "--json"])
    expect(r.status).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc).toMatchObject({
      command: "parse",
      ok: true,
      results: [{ input: "tls://[::1]:443", ok: true, scheme: "tls", host: "::1", port: 443 }]
    })
    expect(doc.results[0].canonical).toBe("tls://[::1]:443")
  })

  it("npx netdial parse '::1:80' exits 2 and suggests the bracketed form", () => {
    const r = npx(["parse", "::1:80"])
    expect(r.status).toBe(2)
    // parse's explanation (of a refusal too) is its result, on stdout.
    expect(r.stdout).toContain("UnbracketedIpv6")
    expect(r.stdout).toContain("tcp://[::1]:80")
  })

  it("round trip: an installed `listen --echo --once` echoes what an installed `connect --quiet` sends", async () => {
    const child = spawn("npx", ["--no", "--", "netdial", "listen", "tcp://127.0.0.1:0", "--echo", "--once"], {
      cwd: installed.project,
      env: userEnv(node24Dir),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true // its own process group, so afterAll can end npx and the node it started together
    })
    listener = child
    let stderr = ""
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))

    // Bounded wait for `listening on tcp://127.0.0.1:PORT`.
    const port = await new Promise<number>((resolve, reject) => {
      const deadline = setTimeout(() => {
        clearInterval(poll)
        reject(new Error(`no "listening on" line within 30 s; stderr so far:\n${stderr}`))
      }, 30_000)
      const poll = setInterval(() => {
        const m = /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)
        if (m !== null) {
          clearInterval(poll)
          clearTimeout(deadline)
          resolve(Number(m[1]))
        } else if (child.exitCode !== null) {
          clearInterval(poll)
          clearTimeout(deadline)
          reject(new Error(`listener exited ${child.exitCode} before listening:\n${stderr}`))
        }
      }, 50)
    })
    expect(port).toBeGreaterThan(0)

    const connect = spawnSync(
      "sh",
      ["-c", `printf 'hello\\n' | npx --no -- netdial connect tcp://127.0.0.1:${port} --quiet`],
      { cwd: installed.project, env: userEnv(node24Dir), encoding: "utf8", timeout: 60_000 }
    )
    expect(connect.stderr).not.toMatch(/error|netdial/i) // --quiet: nothing from netdial
    expect(connect.stdout).toBe("hello\n")
    expect(connect.status).toBe(0)

    // --once: the listener ends by itself after that one connection (bounded wait).
    const code = await Promise.race([
      exited,
      new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 30_000))
    ])
    expect(code).toBe(0)
    expect(stderr).toMatch(/closed: received 6 bytes, sent 6/)
  }, 180_000)

  it.skipIf(node20 === undefined)(
    `runs on the machine's own Node 20, the engines floor (${node20 === undefined ? "skipped: no Node 20 on PATH outside node_modules" : `${node20.path} ${node20.version}`})`,
    () => {
      const nodeDir = dirname(node20?.path ?? "")
      // The `node` that `#!/usr/bin/env node` finds in this environment is that Node 20.
      const which = spawnSync("node", ["--version"], { env: userEnv(nodeDir), encoding: "utf8", timeout: 10_000 })
      expect(which.stdout.trim()).toBe(node20?.version)
      const help = npx(["--help"], { nodeDir })
      expect(help.stderr).not.toMatch(/error|netdial/i)
      expect(help.status).toBe(0)
      for (const command of commands) expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\s`, "m"))
      const parse = npx(["parse", "tls://[::1]:443", "--json"], { nodeDir })
      expect(parse.status).toBe(0)
      expect(JSON.parse(parse.stdout).results[0].canonical).toBe("tls://[::1]:443")
    },
    180_000
  )

  it("passes publint (strict)", () => {
    // Only publint applies: Are The Types Wrong checks how `exports`/`types` resolve, and a bin-only package has
    // neither (attw says "This package does not contain types").
    const publint = spawnSync(join(cliDir, "node_modules", ".bin", "publint"), ["--strict", installedDir()], {
      encoding: "utf8",
      timeout: 60_000
    })
    expect(publint.status, publint.stderr).toBe(0)
    expect(publint.stdout).toMatch(/All good|no issues/i)
  }, 180_000)
})
