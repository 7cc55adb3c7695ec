/**
 * What the interop suite needs from the machine, found out once at import time: which server packages are installed
 * (by the files their tests run), whether we are root (the daemons run as their own accounts), and each missing
 * piece as a reason that goes into the names of the skipped tests. Plus shared pieces: a temp dir removed at scope
 * end, the test PKI as files, free loopback ports, system accounts.
 */

import * as Fs from "node:fs"
import { chmod, chown, mkdtemp, rm } from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { type TestPki, type TestPkiFiles, writeTestPki } from "@netdial/testkit"
import { Effect, type Scope } from "effect"

export interface Requirement {
  readonly available: boolean
  /** "" when available; otherwise " [skipped: needs …]", to append to a test name. */
  readonly needs: string
}

/** A system account, for `runAs` and for chown. */
export interface Account {
  readonly name: string
  readonly uid: number
  readonly gid: number
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const accounts: ReadonlyMap<string, Account> = (() => {
  const map = new Map<string, Account>()
  try {
    for (const line of Fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , uid, gid] = line.split(":")
      if (name && uid && gid) map.set(name, { name, uid: Number(uid), gid: Number(gid) })
    }
  } catch {
    // no /etc/passwd: every account is missing
  }
  return map
})()

/** A system account by name (present when `requires` listed it and said available). */
export const account = (name: string): Account => {
  const found = accounts.get(name)
  if (found === undefined) throw new Error(`no account ${name} in /etc/passwd`)
  return found
}

/**
 * The Debian package `pkg`, checked by the files its test runs and the accounts its daemon uses; root is needed for
 * all of them (daemons bind as root and drop to their accounts, files are chowned). `.ci/interop-servers.sh` installs
 * the packages.
 */
export const requires = (pkg: string, files: ReadonlyArray<string>, users: ReadonlyArray<string> = []): Requirement => {
  const missing = files.filter((file) => !Fs.existsSync(file))
  const why =
    missing.length > 0
      ? `${pkg} (${missing.join(", ")} not found; run .ci/interop-servers.sh)`
      : users.some((user) => !accounts.has(user))
        ? `${pkg} (account ${users.filter((user) => !accounts.has(user)).join(", ")} missing; reinstall ${pkg})`
        : !isRoot
          ? `${pkg} and root (the daemon runs as its own account)`
          : undefined
  return { available: why === undefined, needs: why === undefined ? "" : ` [skipped: needs ${why}]` }
}

/** A fresh directory under the OS temp dir (mode 0755: daemons running as their own accounts traverse it), removed when the scope closes. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await mkdtemp(Path.join(Os.tmpdir(), `netdial-${prefix}-`))
      await chmod(dir, 0o755)
      return dir
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

/**
 * The test PKI as files in `dir/pki` (`ca.pem`, `server.pem`, `server-chain.pem`, `server.key`, …). With `owner`, the
 * server key (0600) and the directory belong to that account, for daemons that read them after dropping root.
 */
export const pkiFiles = (pki: TestPki, dir: string, owner?: Account): Effect.Effect<TestPkiFiles> =>
  Effect.promise(async () => {
    const files = await writeTestPki(pki, Path.join(dir, "pki"))
    await chmod(files.dir, 0o755)
    if (owner !== undefined) {
      for (const file of [files.dir, files.server.key, files.server.cert, files.server.chain, files.ca.cert]) {
        await chown(file, owner.uid, owner.gid)
      }
    }
    return files
  })

/** The first port of the kernel's ephemeral range. */
const ephemeralLow = (() => {
  try {
    const low = Number(Fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 12000 ? low : 32768
  } catch {
    return 32768
  }
})()

/** Whether 127.0.0.1:port can be bound now. */
const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const probe = Net.createServer()
    probe.once("error", () => resolve(false))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)))
  })

/**
 * Free loopback ports, one per name. The brief's "bind port 0, close, reuse" has a race that bites on a busy machine:
 * a port that `bind(0)` handed out is in the ephemeral range, where any outgoing connection of the parallel test files
 * can take it before the daemon binds it. So: random ports between 10000 and the start of the kernel's ephemeral range
 * (from /proc), each checked free by binding 127.0.0.1 to it and closing. Those can only collide with another explicit
 * pick; `startServer` retries with new ports if one does.
 */
export const freePorts = <Port extends string>(names: ReadonlyArray<Port>): Effect.Effect<Record<Port, number>> =>
  Effect.promise(async () => {
    const taken = new Set<number>()
    const result = {} as Record<Port, number>
    for (const name of names) {
      for (;;) {
        const port = 10000 + Math.floor(Math.random() * (ephemeralLow - 10000))
        if (taken.has(port) || !(await isFree(port))) continue
        taken.add(port)
        result[name] = port
        break
      }
    }
    return result
  })

/** Writes a file (mode 0644 unless given). */
export const writeFile = (path: string, text: string, mode = 0o644): Effect.Effect<void> =>
  Effect.promise(async () => {
    await Fs.promises.writeFile(path, text, { mode })
    await chmod(path, mode)
  })

/** mkdir -p, with a mode and optionally an owner. */
export const makeDir = (path: string, mode = 0o755, owner?: Account): Effect.Effect<string> =>
  Effect.promise(async () => {
    await Fs.promises.mkdir(path, { recursive: true })
    await chmod(path, mode)
    if (owner !== undefined) await chown(path, owner.uid, owner.gid)
    return path
  })
