/**
 * `node bench/smtp-session.bench.ts [--rounds=N] [--per-round=N] [--jit-warmup=N] [--cpu-profile=DIR]` (from
 * packages/starttls): the benchmark of issue 4.
 * The time of one SMTP session — connect, greeting, EHLO, STARTTLS, TLS handshake, EHLO, QUIT (221), close — against
 * one local server, netdial against Python `smtplib`, PHP streams and `swaks --tls`, side by side in one run.
 *
 * Server: netdial's `serveSmtp` on `tcp://127.0.0.1:0`, in a forked child (`smtp-server.ts`) so that it does not
 * share an event loop with the in-process client; certificate from `@netdial/testkit`'s `makeTestPki()`, written
 * with `writeTestPki` (clients get `ca.pem`). Every client verifies the chain against that CA; netdial, smtplib and
 * PHP also verify the name `localhost`. swaks 20201014 (`--tls-verify --tls-ca-path`) verifies the chain only: it
 * has no host-name check (that came in swaks 20240103), which the output notes.
 *
 * Two groups, each with its own ratios (only figures inside one group are comparable):
 * - in-process: the session alone, timed inside one long-lived runtime, after warm-up (for node, `--jit-warmup=N`
 *   sessions first, default 300, so that V8 has optimized the code as in a long-running service). netdial = the library call
 *   (`connect("tcp://localhost:PORT", "smtp", { tls: { ca } })`, then QUIT) in this process; smtplib = a loop in one
 *   python3; PHP = a loop in one php. swaks cannot be run this way (it is one session per process).
 * - per process: a fresh process per session, timed from spawn to exit, start-up included, as a user of each CLI
 *   sees it: `node bench/netdial-session.ts`, `python3 bench/smtplib_session.py`, `php bench/php-session.php`, swaks.
 *   Bare start-up of each interpreter (`node -e 0`, `python3 -c pass`, `php -r ''`, `perl -e 0`) and of node loading
 *   netdial without a session (`netdial-session.ts` with 0 sessions) is printed for reference.
 *
 * A reference group holds the floor of the in-process figure: the same session written directly on `node:net` and
 * `node:tls` in this process (`node-tls-session.ts`: no netdial, no Effect), to tell Node's and OpenSSL's own cost
 * from netdial's. It takes no part in the goal.
 *
 * Rounds interleave the competitors (rotated order each round) after a warm-up round; a figure is the median of all
 * its samples (default 4 rounds × 6 = 24 sessions per competitor). The server child is killed at the end, and the
 * whole run is bounded by a watchdog (3 minutes).
 *
 * `--cpu-profile=DIR`: CPU profiles of the measured rounds: this process (`client.cpuprofile`, where the in-process
 * netdial and node:tls sessions run) and the server child (`--cpu-prof`, written when it exits).
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { makeTestPki, writeTestPki } from "@netdial/testkit"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { session } from "./netdial-session.ts"
import { nodeTlsSession } from "./node-tls-session.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))
const argument = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const ROUNDS = Number(argument("rounds") ?? 4)
const PER_ROUND = Number(argument("per-round") ?? 6)
const WARMUP = 3
/** Sessions run once, unmeasured, by the in-process JavaScript clients before anything is timed (V8 tiering). */
const JIT_WARMUP = Number(argument("jit-warmup") ?? 300)
const profileDir = argument("cpu-profile")

let server: ChildProcess | undefined
const children = new Set<ChildProcess>()
let tmp: string | undefined
const cleanup = () => {
  for (const child of children) child.kill("SIGKILL")
  server?.kill("SIGKILL")
  if (tmp !== undefined) Fs.rmSync(tmp, { recursive: true, force: true })
}
const watchdog = setTimeout(() => {
  console.error("smtp-session.bench: watchdog (3 min) expired; aborting")
  cleanup()
  process.exit(2)
}, 180_000)
process.on("SIGINT", () => {
  cleanup()
  process.exit(130)
})

const version = (cmd: string, args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .trim()
      .split("\n")[0]!
  } catch (error) {
    return `unavailable (${(error as Error).message.split("\n")[0]})`
  }
}

/** Runs a command to completion; resolves with its wall time (spawn → exit) and stdout; rejects on a non-zero exit. */
const run = (cmd: string, args: ReadonlyArray<string>): Promise<{ ms: number; stdout: string }> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(cmd, [...args], { cwd: Path.dirname(here), stdio: ["ignore", "pipe", "pipe"] })
    children.add(child)
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", reject)
    child.on("exit", (code) => {
      const ms = performance.now() - start
      children.delete(child)
      if (code === 0) resolve({ ms, stdout })
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.trim() || stdout.trim()}`))
    })
  })

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

interface Competitor {
  readonly name: string
  readonly group: "in-process" | "per process" | "reference" | "start-up only"
  readonly note?: string
  /** A netdial client: held against the fastest other client of its group. */
  readonly netdial?: boolean
  /** `count` sessions (after `warmup` unmeasured ones where the process is long-lived); returns their durations. */
  readonly measure: (count: number, warmup: number) => Promise<ReadonlyArray<number>>
}

const main = async () => {
  tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-smtp-bench-"))
  const pki = await makeTestPki()
  const files = await writeTestPki(pki, tmp)
  const caFile = files.ca.cert
  const ca = pki.ca.certPem

  if (profileDir !== undefined) Fs.mkdirSync(profileDir, { recursive: true })
  server = fork(Path.join(here, "smtp-server.ts"), [tmp], {
    execPath: process.execPath,
    execArgv: profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${Path.resolve(profileDir)}`],
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server child did not report a port within 20 s")), 20_000)
    server!.once("message", (m: { port: number }) => {
      clearTimeout(timer)
      resolve(Number(m.port))
    })
    server!.once("exit", (code) => reject(new Error(`server child exited (${code})`)))
  })

  const netdialInProcess = (groups?: ReadonlyArray<string>) => (count: number, warmup: number) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const times: Array<number> = []
        for (let i = 0; i < warmup + count; i++) {
          const start = performance.now()
          yield* session(port, ca, groups)
          if (i >= warmup) times.push(performance.now() - start)
        }
        return times
      }).pipe(Effect.provide(Transports.layerNode))
    )
  const nodeTlsInProcess = (ecdhCurve?: string) => async (count: number, warmup: number) => {
    const times: Array<number> = []
    for (let i = 0; i < warmup + count; i++) {
      const start = performance.now()
      await nodeTlsSession(port, ca, ecdhCurve)
      if (i >= warmup) times.push(performance.now() - start)
    }
    return times
  }
  /** A loop of `warmup + count` sessions inside one interpreter; the first `warmup` are dropped. */
  const loop = (cmd: string, script: string) => async (count: number, warmup: number) => {
    const { stdout } = await run(cmd, [Path.join("bench", script), String(port), caFile, String(warmup + count)])
    return (JSON.parse(stdout) as Array<number>).slice(warmup)
  }
  /** `count` fresh processes, each timed spawn → exit. */
  const perProcess = (cmd: string, args: ReadonlyArray<string>) => async (count: number) => {
    const times: Array<number> = []
    for (let i = 0; i < count; i++) times.push((await run(cmd, args)).ms)
    return times
  }
  const node = process.execPath
  const swaksArgs = [
    "--server",
    "127.0.0.1",
    "--port",
    String(port),
    "--tls",
    "--tls-verify",
    "--tls-ca-path",
    caFile,
    "--tls-sni",
    "localhost",
    "--ehlo",
    "localhost",
    "--quit-after",
    "EHLO",
    "--hide-all"
  ]

  const competitors: ReadonlyArray<Competitor> = [
    { name: "netdial (library call)", group: "in-process", netdial: true, measure: netdialInProcess() },
    {
      name: "netdial, groups [X25519]",
      group: "in-process",
      netdial: true,
      note: "the key exchange PHP's and Python's OpenSSL 3.0 use",
      measure: netdialInProcess(["X25519"])
    },
    { name: "python smtplib (loop)", group: "in-process", measure: loop("python3", "smtplib_session.py") },
    { name: "php streams (loop)", group: "in-process", measure: loop("php", "php-session.php") },
    {
      name: "netdial (node per session)",
      group: "per process",
      netdial: true,
      measure: perProcess(node, ["bench/netdial-session.ts", String(port), caFile, "1"])
    },
    {
      name: "python smtplib",
      group: "per process",
      measure: perProcess("python3", ["bench/smtplib_session.py", String(port), caFile, "1"])
    },
    {
      name: "php streams",
      group: "per process",
      measure: perProcess("php", ["bench/php-session.php", String(port), caFile, "1"])
    },
    {
      name: "swaks --tls",
      group: "per process",
      note: "chain verified, host name NOT (swaks 20201014 has no host check)",
      measure: perProcess("swaks", swaksArgs)
    },
    {
      name: "node:net + node:tls only",
      group: "reference",
      note: "in-process floor: no netdial, no Effect",
      measure: nodeTlsInProcess()
    },
    {
      name: "node:tls only, X25519",
      group: "reference",
      note: "the same floor with OpenSSL 3.0's key exchange",
      measure: nodeTlsInProcess("X25519")
    },
    { name: "node -e 0", group: "start-up only", measure: perProcess(node, ["-e", "0"]) },
    {
      name: "node + netdial load, 0 sess.",
      group: "start-up only",
      measure: perProcess(node, ["bench/netdial-session.ts", String(port), caFile, "0"])
    },
    { name: "python3 -c pass", group: "start-up only", measure: perProcess("python3", ["-c", "pass"]) },
    { name: "php -r ''", group: "start-up only", measure: perProcess("php", ["-r", ""]) },
    { name: "perl -e 0 (swaks)", group: "start-up only", measure: perProcess("perl", ["-e", "0"]) }
  ]

  // Sanity: swaks must really complete the TLS session (second EHLO over TLS, then QUIT's 221).
  const transcript = await run(
    "swaks",
    swaksArgs.filter((a) => a !== "--hide-all")
  )
  if (!/TLS started/.test(transcript.stdout) || !/<~ {1,2}221/.test(transcript.stdout)) {
    throw new Error(`swaks did not complete a TLS session:\n${transcript.stdout}`)
  }

  const samples = new Map<string, Array<number>>(competitors.map((c) => [c.name, []]))
  // A long-lived runtime has run its code often enough for V8 to optimize it; a few sessions are not enough (the
  // first hundred or so run in V8's interpreter and baseline tiers, markedly slower). PHP's and Python's loops have
  // no such tiering (PHP's CLI runs without the JIT).
  await netdialInProcess()(0, JIT_WARMUP)
  await nodeTlsInProcess()(0, JIT_WARMUP)
  // Warm-up round (discarded): JIT, page cache, the server's first connections.
  for (const c of competitors) await c.measure(2, WARMUP)
  const profiler = profileDir === undefined ? undefined : new Inspector.Session()
  if (profiler !== undefined) {
    profiler.connect()
    await profiler.post("Profiler.enable")
    await profiler.post("Profiler.start")
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < competitors.length; k++) {
      const c = competitors[(k + round) % competitors.length]!
      samples.get(c.name)!.push(...(await c.measure(PER_ROUND, WARMUP)))
    }
  }

  if (profiler !== undefined) {
    const { profile } = await profiler.post("Profiler.stop")
    Fs.writeFileSync(Path.join(profileDir!, "client.cpuprofile"), JSON.stringify(profile))
    profiler.disconnect()
    // The server writes its profile when it exits on its own (it does when the IPC channel closes).
    const exited = new Promise((resolve) => server!.once("exit", resolve))
    server!.disconnect()
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
  }

  const versions = [
    `Node ${process.version} (OpenSSL ${process.versions.openssl})`,
    `${version("python3", ["--version"])} (${version("python3", ["-c", "import ssl; print(ssl.OPENSSL_VERSION)"])})`,
    `PHP ${version("php", ["-r", 'echo PHP_VERSION, " (", OPENSSL_VERSION_TEXT, ")";'])}`,
    `swaks ${version("swaks", ["--version"]).replace(/^swaks version /, "")} (${version("perl", ["-MNet::SSLeay", "-e", 'print "Net::SSLeay $Net::SSLeay::VERSION, ", Net::SSLeay::SSLeay_version(0)'])})`
  ]
  console.log(`SMTP session benchmark (issue 4): connect, greeting, EHLO, STARTTLS, TLS handshake, EHLO, QUIT`)
  console.log(`server: netdial serveSmtp, child process, tcp://127.0.0.1:${port}; test PKI (makeTestPki)`)
  for (const v of versions) console.log(`  ${v}`)
  console.log(
    `${Os.cpus().length} CPU(s), load ${Os.loadavg()
      .map((l) => l.toFixed(2))
      .join(
        " "
      )}; ${ROUNDS} rounds × ${PER_ROUND} sessions per competitor, interleaved; in-process node clients warmed up with ${JIT_WARMUP} sessions`
  )
  console.log("")
  const header = `${"group".padEnd(14)} ${"client".padEnd(30)} ${"n".padStart(3)} ${"median ms".padStart(10)} ${"p10".padStart(8)} ${"p90".padStart(8)} ${"× fastest".padStart(10)}  note`
  console.log(header)
  console.log("-".repeat(header.length + 20))
  const goals: Array<string> = []
  for (const group of ["in-process", "per process", "reference", "start-up only"] as const) {
    const rows = competitors.filter((c) => c.group === group)
    const medians = rows.map((c) => median(samples.get(c.name)!))
    const fastest = Math.min(...medians)
    rows.forEach((c, i) => {
      const xs = samples.get(c.name)!
      console.log(
        `${group.padEnd(14)} ${c.name.padEnd(30)} ${String(xs.length).padStart(3)} ${medians[i]!.toFixed(2).padStart(10)} ${quantile(xs, 0.1).toFixed(2).padStart(8)} ${quantile(xs, 0.9).toFixed(2).padStart(8)} ${(medians[i]! / fastest).toFixed(2).padStart(10)}  ${c.note ?? ""}`
      )
    })
    if (group === "in-process" || group === "per process") {
      const others = rows.flatMap((c, i) => (c.netdial === true ? [] : [{ name: c.name, ms: medians[i]! }]))
      const best = others.reduce((a, b) => (b.ms < a.ms ? b : a))
      rows.forEach((c, i) => {
        if (c.netdial !== true) return
        const netdial = medians[i]!
        goals.push(
          `${group}: ${c.name} ${netdial.toFixed(2)} ms vs fastest other (${best.name}) ${best.ms.toFixed(2)} ms → ${netdial <= best.ms ? "HOLDS" : `MISSED (${(netdial / best.ms).toFixed(2)}×)`}`
        )
      })
    }
    console.log("")
  }
  console.log("Goal (issue 4): netdial no slower than the fastest, compared within a group only")
  for (const g of goals) console.log(`  ${g}`)
  console.log("")
  console.log("Comparable: rows inside one group. in-process = session time in a warm runtime (swaks has none);")
  console.log("per process = what a CLI user pays, start-up included (see the start-up-only rows for that share).")
}

main()
  .then(
    () => 0,
    (error) => {
      console.error("smtp-session.bench:", error)
      return 1
    }
  )
  .then((code) => {
    clearTimeout(watchdog)
    cleanup()
    process.exit(code)
  })
