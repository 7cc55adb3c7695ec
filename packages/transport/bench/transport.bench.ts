/**
 * `node bench/transport.bench.ts [--quick]`: netdial against raw Node (`node:net`, `node:tls`, `node:dgram`) and
 * against @effect/platform-node (`NodeSocket.makeNet`/`makeTls`, `NodeSocketServer`, `NodeDatagramSocket`), side by
 * side in one run, on loopback. Not a test: it prints a table and marks each figure against netdial's goals.
 *
 * (a) TCP bulk: 256 MiB in 64 KiB writes client → server, each write waiting for `drain` when the socket asks for
 *     it; the server reads to EOF and reports its byte count, which must equal what was sent. MiB/s.
 * (b) TLS bulk, the same over TLS 1.3.
 * (c) 2000 sequential TCP connect + close. The close is each stack's own graceful close: raw Node `end()` (destroy
 *     on `finish`, not awaited), NodeSocket's scope release (`destroySoon`), netdial's scope release (which waits
 *     for `finish`). The server must count every connection.
 * (d) 500 sequential TLS connect + handshake (chain and name verified against the test CA) + close.
 * (e) 200,000 datagrams of 512 bytes from a connected client, each send awaited, to a bound endpoint that counts
 *     them (every receiver with SO_RCVBUF 4 MiB); received per second (first send → last arrival), and loss.
 * (f) RSS per idle connection with 10,000 connected clients held in a child process (the fd limit: the server ends
 *     are in another process). "Idle" = waiting for data: raw with a `data` listener, the Effect stacks with the
 *     reader acquired and a fiber parked in `pull`. RSS is read after memory-reducing GCs, before and after.
 *
 * Each competitor uses its own stack on both ends; the servers run in child processes (one per competitor), the
 * clients in this process. Every scenario is warmed up first; then 5 rounds interleave the competitors (in a rotated
 * order each round) so a slow moment of the machine hits all of them alike. Figures are medians of the rounds;
 * ratios are medians of the per-round ratios. A second table gives the CPU time each process spent per unit of
 * work (less sensitive to a noisy machine than wall time).
 *
 * Options: `--quick` (small sizes, one round: a smoke run, not a measurement); `--only=tcp-bulk,tls-bulk,
 * tcp-connect,tls-handshake,udp,memory` and `--stacks=raw,nodesocket,netdial` (a subset); `--rounds=N`;
 * `--cpu-profile=DIR` (CPU profiles of the measured rounds, client and servers, for `node --cpu-prof`-style analysis).
 */
import * as Dgram from "node:dgram"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { fileURLToPath } from "node:url"
import * as NodeDatagramSocket from "@effect/platform-node/NodeDatagramSocket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { makeTestPki } from "@netdial/testkit"
import { Effect } from "effect"
import { Transports } from "../src/index.ts"
import { Child, type Event, type Reply, wallMs } from "./ipc.ts"

const argument = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const QUICK = process.argv.includes("--quick")
/** `--only=tcp-bulk,udp,memory`: run some scenarios (for profiling); `--stacks=netdial`: some competitors. */
const only = argument("only")?.split(",")
const selected = (key: string) => only === undefined || only.includes(key)
/**
 * `--cpu-profile=DIR`: CPU-profile the measured rounds (not the warm-up) of this process and of every server child,
 * into DIR/client.cpuprofile and DIR/server-<stack>.cpuprofile (open them in Chrome DevTools or speedscope).
 */
const profileDir = argument("cpu-profile")
const MiB = 2 ** 20
const sizes = QUICK
  ? { bulk: 32 * MiB, cycles: 200, handshakes: 50, datagrams: 20_000, idle: 1_000, rounds: 1, memoryRounds: 1 }
  : { bulk: 256 * MiB, cycles: 2_000, handshakes: 500, datagrams: 200_000, idle: 10_000, rounds: 5, memoryRounds: 3 }
if (argument("rounds") !== undefined) sizes.rounds = Number(argument("rounds"))
const warmup = QUICK
  ? { bulk: 16 * MiB, cycles: 200, handshakes: 20, datagrams: 10_000 }
  : { bulk: 64 * MiB, cycles: 1_000, handshakes: 100, datagrams: 50_000 }
const WRITE_SIZE = 64 * 1024
const DATAGRAM_SIZE = 512

type Stack = "raw" | "nodesocket" | "netdial"
const allStacks: ReadonlyArray<Stack> = ["raw", "nodesocket", "netdial"]
const stacks: ReadonlyArray<Stack> = allStacks.filter((s) => argument("stacks")?.split(",").includes(s) ?? true)
const stackNames: Record<Stack, string> = { raw: "raw Node", nodesocket: "NodeSocket", netdial: "netdial" }

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

// ---------------------------------------------------------------------------------------------------------------
// setup

const pki = await makeTestPki()
const tlsServer = { cert: pki.server.chainPem, key: pki.server.keyPem }
const ca = pki.ca.certPem

const transports = await Effect.runPromise(
  Effect.gen(function* () {
    return yield* Transports
  }).pipe(Effect.provide(Transports.layerNode))
)

const servers = {} as Record<Stack, Child>
const children: Array<Child> = []
const killAll = () => {
  for (const child of children) child.kill()
}
process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}

const serverStacks: ReadonlyArray<Stack> = selected("memory") && !stacks.includes("raw") ? ["raw", ...stacks] : stacks
for (const stack of serverStacks) {
  const child = new Child(here("./server.ts"), [stack])
  children.push(child)
  await child.event((e) => e.event === "ready", 30_000)
  servers[stack] = child
}

interface Listening {
  readonly listener: number
  readonly port: number
}

const listen = (stack: Stack, proto: "tcp" | "tls" | "udp", report: boolean): Promise<Listening & Reply> =>
  servers[stack].request<Listening & Reply>({ op: "listen", proto, report, ...(proto === "tls" ? tlsServer : {}) })

interface Stats extends Reply {
  readonly accepted: number
  readonly done: number
  readonly bytes: number
  readonly errors: number
  readonly datagrams: number
  readonly lastAt: number
  readonly dropped: number
}

const stats = (stack: Stack, listener: number) => servers[stack].request<Stats>({ op: "stats", listener })
const closeListener = (stack: Stack, listener: number) => servers[stack].request({ op: "close", listener })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls the server until `done` holds (or fails after `ms`). */
const serverReaches = async (stack: Stack, listener: number, done: (s: Stats) => boolean, ms = 20_000) => {
  const deadline = performance.now() + ms
  for (;;) {
    const s = await stats(stack, listener)
    if (done(s)) return s
    if (performance.now() > deadline)
      throw new Error(`${stack} server did not reach the expected state: ${JSON.stringify(s)}`)
    await sleep(10)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (a), (b) bulk: one connection, `total` bytes in WRITE_SIZE writes, then half-close; done when the server has them

const chunk = new Uint8Array(WRITE_SIZE).fill(0x5a)

const rawBulk = (proto: "tcp" | "tls", port: number, total: number, started: () => void): Promise<void> =>
  new Promise((resolve, reject) => {
    const socket =
      proto === "tls"
        ? Tls.connect({ host: "127.0.0.1", port, ca }, () => pump())
        : Net.connect({ host: "127.0.0.1", port }, () => pump())
    socket.on("error", reject)
    socket.on("data", () => {})
    let sent = 0
    let first = true
    const pump = () => {
      if (first) {
        first = false
        started()
      }
      while (sent < total) {
        sent += WRITE_SIZE
        if (!socket.write(chunk)) {
          socket.once("drain", pump)
          return
        }
      }
      socket.end(() => resolve())
    }
  })

const nodeSocketBulk = (proto: "tcp" | "tls", port: number, total: number, started: () => void) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const socket =
        proto === "tls"
          ? yield* NodeSocket.makeTls({ host: "127.0.0.1", port, ca })
          : yield* NodeSocket.makeNet({ host: "127.0.0.1", port })
      yield* socket.reader // dials (and handshakes)
      started()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* socket.writer
          for (let sent = 0; sent < total; sent += WRITE_SIZE) yield* writer.write(chunk)
        })
      ) // releasing the writer half-closes
    }).pipe(Effect.scoped)
  )

const netdialBulk = (proto: "tcp" | "tls", port: number, total: number, started: () => void) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const connection = yield* transports.connect(`${proto}://127.0.0.1:${port}`, proto === "tls" ? { ca } : {})
      started()
      const writer = yield* connection.writer
      for (let sent = 0; sent < total; sent += WRITE_SIZE) yield* writer.write(chunk)
      yield* connection.shutdownWrite
    }).pipe(Effect.scoped)
  )

const bulk = async (stack: Stack, proto: "tcp" | "tls", total: number): Promise<number> => {
  const { listener, port } = await listen(stack, proto, true)
  try {
    const done = servers[stack].event<Event & { bytes: number }>(
      (e) => e.event === "conn-done" && e.listener === listener
    )
    let t0 = 0
    const started = () => {
      t0 = performance.now()
    }
    const run = stack === "raw" ? rawBulk : stack === "nodesocket" ? nodeSocketBulk : netdialBulk
    await run(proto, port, total, started)
    const { bytes } = await done
    const ms = performance.now() - t0
    if (bytes !== total) throw new Error(`${stack} ${proto} bulk: the server received ${bytes} bytes, not ${total}`)
    return total / MiB / (ms / 1000)
  } finally {
    await closeListener(stack, listener)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (c), (d) sequential connect (+ handshake) + close

/** Raw Node: connect, then end() and destroy once the FIN is out (what a scope's graceful close does). */
const rawCycle = (proto: "tcp" | "tls", port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const onOpen = () => {
      socket.off("error", reject)
      socket.on("error", () => {})
      socket.end()
      socket.once("finish", () => socket.destroy())
      resolve()
    }
    const socket =
      proto === "tls"
        ? Tls.connect({ host: "127.0.0.1", port, ca }, onOpen)
        : Net.connect({ host: "127.0.0.1", port }, onOpen)
    socket.once("error", reject)
  })

const nodeSocketCycle = (proto: "tcp" | "tls", port: number) =>
  Effect.gen(function* () {
    const socket =
      proto === "tls"
        ? yield* NodeSocket.makeTls({ host: "127.0.0.1", port, ca })
        : yield* NodeSocket.makeNet({ host: "127.0.0.1", port })
    yield* socket.reader
  }).pipe(Effect.scoped)

const netdialCycle = (proto: "tcp" | "tls", port: number) =>
  transports.connect(`${proto}://127.0.0.1:${port}`, proto === "tls" ? { ca } : {}).pipe(Effect.scoped)

const cycles = async (stack: Stack, proto: "tcp" | "tls", n: number): Promise<number> => {
  const { listener, port } = await listen(stack, proto, false)
  try {
    const t0 = performance.now()
    if (stack === "raw") {
      for (let i = 0; i < n; i++) await rawCycle(proto, port)
    } else {
      const one: Effect.Effect<unknown, unknown> =
        stack === "nodesocket" ? nodeSocketCycle(proto, port) : netdialCycle(proto, port)
      await Effect.runPromise(
        Effect.gen(function* () {
          for (let i = 0; i < n; i++) yield* one
        })
      )
    }
    const ms = performance.now() - t0
    await serverReaches(stack, listener, (s) => s.accepted === n && s.done === n)
    return n / (ms / 1000)
  } finally {
    await closeListener(stack, listener)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (e) UDP: n datagrams, each send awaited, from a connected client; the receiver counts

const datagram = new Uint8Array(DATAGRAM_SIZE).fill(0x42)

const rawUdp = (port: number, n: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const socket = Dgram.createSocket("udp4")
    socket.on("error", reject)
    socket.connect(port, "127.0.0.1", () => {
      let sent = 0
      const next = (error: Error | null) => {
        if (error) return reject(error)
        if (++sent === n) socket.close(() => resolve())
        else socket.send(datagram, next)
      }
      socket.send(datagram, next)
    })
  })

const nodeSocketUdp = (port: number, n: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const socket = yield* NodeDatagramSocket.make({ connect: { address: "127.0.0.1", port } })
      yield* socket.reader // opens the socket (required even to send)
      const writer = yield* socket.writer
      const outgoing = { payload: datagram }
      for (let i = 0; i < n; i++) yield* writer.write(outgoing)
    }).pipe(Effect.scoped)
  )

const netdialUdp = (port: number, n: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const connection = yield* transports.connect(`udp://127.0.0.1:${port}`)
      const writer = yield* connection.writer
      for (let i = 0; i < n; i++) yield* writer.write(datagram)
    }).pipe(Effect.scoped)
  )

interface UdpResult {
  readonly rate: number
  readonly loss: number
}

const udp = async (stack: Stack, n: number): Promise<UdpResult> => {
  const { listener, port } = await listen(stack, "udp", false)
  try {
    const t0 = wallMs()
    await (stack === "raw" ? rawUdp : stack === "nodesocket" ? nodeSocketUdp : netdialUdp)(port, n)
    const sentAt = wallMs()
    // Wait until everything arrived, or nothing more arrives for 300 ms.
    let last = await stats(stack, listener)
    let quietSince = performance.now()
    while (last.datagrams < n && performance.now() - quietSince < 300) {
      await sleep(10)
      const s = await stats(stack, listener)
      if (s.datagrams !== last.datagrams) quietSince = performance.now()
      last = s
    }
    const end = Math.max(sentAt, last.lastAt)
    return { rate: last.datagrams / ((end - t0) / 1000), loss: 1 - last.datagrams / n }
  } finally {
    await closeListener(stack, listener)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (f) memory per idle connection, in a child process holding the client ends (the raw server holds the others)

interface Measured extends Event {
  readonly rssBefore: number
  readonly rssAfter: number
  readonly heapBefore: number
  readonly heapAfter: number
}

const idleMemory = async (stack: Stack, n: number): Promise<{ rss: number; heap: number }> => {
  const { listener, port } = await listen("raw", "tcp", false)
  const child = new Child(here("./idle-clients.ts"), [stack, String(port), String(n)], ["--expose-gc"])
  children.push(child)
  try {
    const measured = await child.event<Measured>((e) => e.event === "measured", 180_000)
    await serverReaches("raw", listener, (s) => s.accepted >= n + 200)
    return {
      rss: (measured.rssAfter - measured.rssBefore) / n,
      heap: (measured.heapAfter - measured.heapBefore) / n
    }
  } finally {
    await child.request({ op: "exit" }).catch(() => undefined)
    child.kill()
    await child.exited()
    children.splice(children.indexOf(child), 1)
    await closeListener("raw", listener)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the run

interface Scenario {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly higherIsBetter: boolean
  /** The goal against raw Node, as netdial/raw. */
  readonly goal: number
  readonly goalText: string
  readonly run: (stack: Stack, warm: boolean) => Promise<number>
  /** How much work one measured run does, and its name: CPU time is reported per unit of it. */
  readonly work: number
  readonly workUnit: string
}

const udpLoss: Record<Stack, Array<number>> = { raw: [], nodesocket: [], netdial: [] }

const allScenarios: ReadonlyArray<Scenario> = [
  {
    key: "tcp-bulk",
    label: `(a) TCP bulk, ${sizes.bulk / MiB} MiB in 64 KiB writes`,
    unit: "MiB/s",
    higherIsBetter: true,
    goal: 0.95,
    goalText: "≥ 0.95× raw",
    run: (stack, warm) => bulk(stack, "tcp", warm ? warmup.bulk : sizes.bulk),
    work: sizes.bulk / MiB,
    workUnit: "MiB"
  },
  {
    key: "tls-bulk",
    label: `(b) TLS bulk, ${sizes.bulk / MiB} MiB in 64 KiB writes`,
    unit: "MiB/s",
    higherIsBetter: true,
    goal: 0.95,
    goalText: "≥ 0.95× raw",
    run: (stack, warm) => bulk(stack, "tls", warm ? warmup.bulk : sizes.bulk),
    work: sizes.bulk / MiB,
    workUnit: "MiB"
  },
  {
    key: "tcp-connect",
    label: `(c) TCP connect+close, ${sizes.cycles} sequential`,
    unit: "conn/s",
    higherIsBetter: true,
    goal: 1 / 1.1,
    goalText: "time ≤ 1.1× raw",
    run: (stack, warm) => cycles(stack, "tcp", warm ? warmup.cycles : sizes.cycles),
    work: sizes.cycles,
    workUnit: "connection"
  },
  {
    key: "tls-handshake",
    label: `(d) TLS connect+handshake+close, ${sizes.handshakes} sequential`,
    unit: "hs/s",
    higherIsBetter: true,
    goal: 1 / 1.1,
    goalText: "time ≤ 1.1× raw",
    run: (stack, warm) => cycles(stack, "tls", warm ? warmup.handshakes : sizes.handshakes),
    work: sizes.handshakes,
    workUnit: "handshake"
  },
  {
    key: "udp",
    label: `(e) UDP ${DATAGRAM_SIZE} B datagrams, ${sizes.datagrams / 1000}k sent`,
    unit: "recv/s",
    higherIsBetter: true,
    goal: 0.9,
    goalText: "≥ 0.9× raw",
    run: async (stack, warm) => {
      const result = await udp(stack, warm ? warmup.datagrams : sizes.datagrams)
      if (!warm) udpLoss[stack].push(result.loss)
      return result.rate
    },
    work: sizes.datagrams,
    workUnit: "datagram"
  }
]

const scenarios = allScenarios.filter((s) => selected(s.key))

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const rotate = <A>(xs: ReadonlyArray<A>, by: number): ReadonlyArray<A> => xs.map((_, i) => xs[(i + by) % xs.length])

const samples = new Map<string, Record<Stack, Array<number>>>()
for (const s of [...scenarios.map((s) => s.key), "memory", "memory-heap"])
  samples.set(s, { raw: [], nodesocket: [], netdial: [] })
/** CPU microseconds per unit of work, client (this process) and server (its child), per round. */
const cpuSamples = new Map<string, Record<Stack, Array<{ client: number; server: number }>>>()
for (const s of scenarios) cpuSamples.set(s.key, { raw: [], nodesocket: [], netdial: [] })

const serverCpu = async (stack: Stack) =>
  (await servers[stack].request<Reply & { cpuMicros: number }>({ op: "cpu" })).cpuMicros

/** A measured run, with the CPU time both processes spent on it. */
const measure = async (scenario: Scenario, stack: Stack): Promise<number> => {
  const client0 = process.cpuUsage()
  const server0 = await serverCpu(stack)
  const value = await scenario.run(stack, false)
  const client = process.cpuUsage(client0)
  const server = (await serverCpu(stack)) - server0
  cpuSamples.get(scenario.key)![stack].push({
    client: (client.user + client.system) / scenario.work,
    server: server / scenario.work
  })
  return value
}

const cpu = Os.cpus()[0]?.model ?? "unknown CPU"
console.log(`netdial transport benchmark${QUICK ? " (--quick: smoke run, not a measurement)" : ""}`)
console.log(
  `Node ${process.version}, ${Os.platform()} ${Os.release()}, ${Os.cpus().length} × ${cpu}, ${new Date().toISOString()}`
)
console.log(
  `servers in child processes (one per competitor), clients in this process; ${sizes.rounds} interleaved round(s):\nfigures are medians of the rounds, ratios the medians of the per-round ratios\n`
)

const t0 = performance.now()
process.stdout.write("warm-up:")
for (const scenario of scenarios) {
  for (const stack of stacks) await scenario.run(stack, true)
  process.stdout.write(` ${scenario.key}`)
}
process.stdout.write("\n")

const profiler = profileDir === undefined ? undefined : new Inspector.Session()
if (profiler !== undefined) {
  profiler.connect()
  await profiler.post("Profiler.enable")
  await profiler.post("Profiler.start")
  for (const stack of serverStacks) await servers[stack].request({ op: "profile-start" })
}

for (let round = 0; round < sizes.rounds; round++) {
  process.stdout.write(`round ${round + 1}/${sizes.rounds}:`)
  for (const scenario of scenarios) {
    for (const stack of rotate(stacks, round)) samples.get(scenario.key)![stack].push(await measure(scenario, stack))
    process.stdout.write(` ${scenario.key}`)
  }
  if (selected("memory") && round < sizes.memoryRounds) {
    for (const stack of rotate(stacks, round)) {
      const { rss, heap } = await idleMemory(stack, sizes.idle)
      samples.get("memory")![stack].push(rss)
      samples.get("memory-heap")![stack].push(heap)
    }
    process.stdout.write(" memory")
  }
  process.stdout.write("\n")
}
console.log(`(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`)
if (profiler !== undefined && profileDir !== undefined) {
  Fs.mkdirSync(profileDir, { recursive: true })
  const { profile } = await profiler.post("Profiler.stop")
  Fs.writeFileSync(Path.join(profileDir, "client.cpuprofile"), JSON.stringify(profile))
  for (const stack of serverStacks) {
    await servers[stack].request({ op: "profile-stop", path: Path.join(profileDir, `server-${stack}.cpuprofile`) })
  }
  console.log(`CPU profiles of the measured rounds written to ${profileDir}\n`)
}

// ---------------------------------------------------------------------------------------------------------------
// the table

const fmt = (x: number, unit: string) =>
  unit === "B/conn"
    ? `${(x / 1024).toFixed(2)} KiB`
    : x >= 10_000
      ? `${(x / 1000).toFixed(1)}k`
      : x >= 100
        ? x.toFixed(0)
        : x.toFixed(1)

const rows: Array<Array<string>> = [
  ["scenario", "unit", "raw Node", "NodeSocket", "netdial", "netdial/raw", "netdial/NodeSocket", "goal", "result"]
]
const verdicts: Array<string> = []
const addRow = (
  label: string,
  unit: string,
  key: string,
  higherIsBetter: boolean,
  goal: number,
  goalText: string,
  note = ""
) => {
  const m = samples.get(key)!
  const raw = median(m.raw)
  const ns = median(m.nodesocket)
  const nd = median(m.netdial)
  // Ratios are taken within each round (the competitors ran back to back), then the median of those.
  const vsRaw = median(m.netdial.map((x, i) => x / m.raw[i]))
  const vsNs = median(m.netdial.map((x, i) => x / m.nodesocket[i]))
  const meetsRaw = higherIsBetter ? vsRaw >= goal : vsRaw <= goal
  const meetsNs = higherIsBetter ? vsNs >= 1 : vsNs <= 1
  const result = meetsRaw && meetsNs ? "PASS" : `MISS${meetsRaw ? "" : " raw"}${meetsNs ? "" : " NodeSocket"}`
  verdicts.push(`${label}: ${result}`)
  rows.push([
    label + note,
    unit,
    fmt(raw, unit),
    fmt(ns, unit),
    fmt(nd, unit),
    `${vsRaw.toFixed(2)}×`,
    `${vsNs.toFixed(2)}×`,
    `${goalText}, ${higherIsBetter ? "≥" : "≤"} NodeSocket`,
    result
  ])
}
for (const s of scenarios) addRow(s.label, s.unit, s.key, s.higherIsBetter, s.goal, s.goalText)
if (selected("memory")) {
  addRow(`(f) RSS per idle connection, ${sizes.idle / 1000}k open`, "B/conn", "memory", false, 1.25, "≤ 1.25× raw")
  addRow("    (V8 heap per idle connection, for diagnosis)", "B/conn", "memory-heap", false, Infinity, "none")
  rows[rows.length - 1][7] = "(information)"
  rows[rows.length - 1][8] = ""
  verdicts.pop()
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
const line = (r: ReadonlyArray<string>) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(" | ")} |`
console.log(line(rows[0]))
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`)
for (const r of rows.slice(1)) console.log(line(r))

console.log(
  `\ngoals met: ${verdicts.filter((v) => v.endsWith("PASS")).length} of ${verdicts.length} (PASS = the goal against raw Node and "not slower than NodeSocket")`
)
const lossText = (stack: Stack) => `${(median(udpLoss[stack]) * 100).toFixed(2)}%`
console.log(
  `\nUDP loss (median): raw ${lossText("raw")}, NodeSocket ${lossText("nodesocket")}, netdial ${lossText("netdial")}`
)
console.log(
  "\nCPU time per unit of work (median of rounds; client = this process, server = the competitor's server process).\n" +
    "Less noisy than wall time on a shared VM: a competitor that needs more CPU per byte/connection/datagram is slower\n" +
    "wherever the CPU is the limit."
)
const cpuRows: Array<Array<string>> = [
  [
    "scenario",
    "per",
    "raw client",
    "raw server",
    "NodeSocket client",
    "NodeSocket server",
    "netdial client",
    "netdial server"
  ]
]
const us = (x: number) => (x >= 100 ? `${x.toFixed(0)} µs` : `${x.toFixed(1)} µs`)
for (const scenario of scenarios) {
  const m = cpuSamples.get(scenario.key)!
  const cell = (stack: Stack, side: "client" | "server") => us(median(m[stack].map((x) => x[side])))
  cpuRows.push([
    scenario.key,
    scenario.workUnit,
    cell("raw", "client"),
    cell("raw", "server"),
    cell("nodesocket", "client"),
    cell("nodesocket", "server"),
    cell("netdial", "client"),
    cell("netdial", "server")
  ])
}
const cpuWidths = cpuRows[0].map((_, c) => Math.max(...cpuRows.map((r) => r[c].length)))
const cpuLine = (r: ReadonlyArray<string>) => `| ${r.map((cell, c) => cell.padEnd(cpuWidths[c])).join(" | ")} |`
console.log(cpuLine(cpuRows[0]))
console.log(`|${cpuWidths.map((w) => "-".repeat(w + 2)).join("|")}|`)
for (const r of cpuRows.slice(1)) console.log(cpuLine(r))

console.log("\nall samples (per round):")
for (const [key, m] of samples) {
  console.log(
    `  ${key.padEnd(14)} ${stacks.map((s) => `${stackNames[s]}: ${m[s].map((x) => fmt(x, key.startsWith("memory") ? "B/conn" : "")).join(", ")}`).join("; ")}`
  )
}
// A clean exit lets --cpu-prof write the servers' profiles.
await Promise.all(serverStacks.map((stack) => servers[stack].request({ op: "exit" }).catch(() => undefined)))
await Promise.all(serverStacks.map((stack) => servers[stack].exited()))
killAll()
process.exit(0)
