/**
 * What the interop suite needs from the machine — php, socat, openssl, IPv6 loopback — found out once, at import
 * time, with a reason for each missing piece that goes into the names of the skipped tests. Plus small shared
 * pieces: a temporary directory removed at scope end, the test PKI as files, a free loopback port.
 */
import { spawnSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type TestPki, type TestPkiFiles, writeTestPki } from "@netdial/testkit"
import { Effect, type Scope } from "effect"

export interface Tool {
  readonly available: boolean
  /** "" when available; otherwise " [skipped: needs …]", to append to a test name. */
  readonly needs: string
}

const tool = (available: boolean, reason: string): Tool => ({
  available,
  needs: available ? "" : ` [skipped: needs ${reason}]`
})

// -- php ------------------------------------------------------------------------------------------------------------

export interface Php extends Tool {
  /** The arguments before the script: `-n -d display_errors=stderr` (+ `-d extension=openssl` when needed). */
  readonly args: ReadonlyArray<string>
  readonly version: string
  /** `php` with openssl usable (tls:// and ssl:// transports). */
  readonly tls: Tool
}

/**
 * `-n` (no php.ini) so that no local ini setting (default_socket_timeout, openssl.cafile, auto_prepend_file, …)
 * changes what we observe. `-n` also drops every extension built as a shared module. On Debian/Ubuntu's php8.2-cli
 * (this machine, PHP 8.2.36) openssl and json are compiled in: `php -n -m` lists openssl, and
 * `php -n -d extension=openssl` only warns "Unable to load dynamic library 'openssl'" (there is no openssl.so).
 * Builds that ship openssl as a shared module (the official Docker images, `--with-openssl=shared`) lose it under
 * `-n`; for those we add `-d extension=openssl`, which loads it from the default extension_dir. json is always
 * built in since PHP 8.0. If openssl cannot be had either way, only the TLS tests are skipped.
 */
const detectPhp = (): Php => {
  const probe = (args: ReadonlyArray<string>) => {
    const result = spawnSync(
      "php",
      [...args, "-r", 'echo json_encode(["version" => PHP_VERSION, "openssl" => extension_loaded("openssl")]);'],
      { encoding: "utf8", timeout: 10_000 }
    )
    if (result.error !== undefined || result.status !== 0) return undefined
    try {
      return JSON.parse(result.stdout) as { version: string; openssl: boolean }
    } catch {
      return undefined
    }
  }
  const base = ["-n", "-d", "display_errors=stderr"]
  const plain = probe(base)
  if (plain === undefined) {
    const missing = tool(false, "php (the `php` CLI is not installed or not on PATH)")
    return { ...missing, args: base, version: "", tls: missing }
  }
  const [major = 0] = plain.version.split(".").map(Number)
  if (major < 8) {
    return {
      ...tool(false, `php >= 8 (found ${plain.version})`),
      args: base,
      version: plain.version,
      tls: tool(false, `php >= 8 with openssl (found ${plain.version})`)
    }
  }
  if (plain.openssl) return { ...tool(true, ""), args: base, version: plain.version, tls: tool(true, "") }
  const withModule = [...base, "-d", "extension=openssl"]
  const loaded = probe(withModule)
  return loaded?.openssl === true
    ? { ...tool(true, ""), args: withModule, version: plain.version, tls: tool(true, "") }
    : {
        ...tool(true, ""),
        args: base,
        version: plain.version,
        tls: tool(false, "php with the openssl extension (not compiled in, and `-d extension=openssl` failed)")
      }
}

export const php: Php = detectPhp()

/** The PHP scripts, next to this file. */
export const phpScript = (name: "client.php" | "server.php"): string =>
  Path.join(Path.dirname(fileURLToPath(import.meta.url)), name)

// -- socat, openssl, IPv6 ---------------------------------------------------------------------------------------------

export const socat: Tool = tool(
  spawnSync("socat", ["-V"], { stdio: "ignore", timeout: 10_000 }).status === 0,
  "socat (not installed or not on PATH)"
)

export const openssl: Tool = tool(
  spawnSync("openssl", ["version"], { stdio: "ignore", timeout: 10_000 }).status === 0,
  "the openssl command (not installed or not on PATH)"
)

const hasIpv6Loopback = Object.values(Os.networkInterfaces()).some((list) =>
  (list ?? []).some((info) => info.family === "IPv6" && info.address === "::1")
)
export const ipv6: Tool = tool(hasIpv6Loopback, "an IPv6 loopback (::1)")

/** All of them available, or the first reason. */
export const all = (...tools: ReadonlyArray<Tool>): Tool => tools.find((t) => !t.available) ?? tool(true, "")

// -- shared pieces ----------------------------------------------------------------------------------------------------

/** A fresh directory under the OS temp dir, removed (with everything in it) when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(Path.join(Os.tmpdir(), "netdial-interop-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** The test PKI as files (`ca.pem`, `server-chain.pem`, `server.key`, `client.pem`, …) in a temp dir. */
export const pkiFiles = (pki: TestPki): Effect.Effect<TestPkiFiles, never, Scope.Scope> =>
  Effect.flatMap(tempDir, (dir) => Effect.promise(() => writeTestPki(pki, dir)))

/**
 * A loopback port that was free a moment ago: bind port 0, read it, close. For tools that cannot report an
 * ephemeral port they picked themselves (openssl s_server, socat). There is a small race with other processes.
 */
export const freePort = (host = "127.0.0.1"): Effect.Effect<number> =>
  Effect.callback<number>((resume) => {
    const probe = Net.createServer()
    probe.once("error", (error) => resume(Effect.die(error)))
    probe.listen(0, host, () => {
      const port = (probe.address() as Net.AddressInfo).port
      probe.close(() => resume(Effect.succeed(port)))
    })
  })
