/**
 * Memory per idle connection, measured in a process of its own (run with --expose-gc):
 * `node --expose-gc bench/idle-clients.ts raw|nodesocket|netdial PORT COUNT`.
 *
 * "Idle" is a connected client waiting for data, as an application would hold it: raw `node:net` with a `data`
 * listener; NodeSocket (`makeNet`) and netdial (`connect`) with the reader acquired and a fiber parked in `pull`.
 * After a warm-up (the same code path, opened and closed), RSS is read after forced memory-reducing GCs before and
 * after opening COUNT connections; the reply carries both, and the heap figures for diagnosis.
 */
import * as Net from "node:net"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Effect, Fiber, Semaphore } from "effect"
import { Transports } from "../src/index.ts"
import { serveRequests } from "./ipc.ts"

const [stack, portText, countText] = process.argv.slice(2)
const port = Number(portText)
const count = Number(countText)
const CONNECTS_IN_FLIGHT = 200
const WARMUP = 200

type Gc = (options?: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void
const exposedGc = (globalThis as { gc?: Gc }).gc
if (exposedGc === undefined) throw new Error("run with --expose-gc")
const gc: Gc = exposedGc

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Memory-reducing full GCs ("last resort": V8 also shrinks the young generation and releases free pages), so that
 * RSS shows what the connections retain, not how far a burst of short-lived allocations grew the heap.
 */
const settle = async () => {
  for (let i = 0; i < 5; i++) {
    await sleep(100)
    gc({ type: "major", execution: "sync", flavor: "last-resort" })
  }
}

interface Held {
  readonly release: () => Promise<void>
}

const holdRaw = (n: number): Promise<Held> =>
  new Promise((resolve, reject) => {
    const sockets: Array<Net.Socket> = []
    let started = 0
    let connected = 0
    const onData = () => {}
    const startOne = () => {
      if (started >= n) return
      started++
      const socket = Net.connect({ host: "127.0.0.1", port })
      sockets.push(socket)
      socket.on("data", onData)
      socket.once("error", reject)
      socket.once("connect", () => {
        connected++
        if (connected === n)
          resolve({
            release: async () => {
              for (const s of sockets) s.destroy()
            }
          })
        else startOne()
      })
    }
    for (let i = 0; i < Math.min(CONNECTS_IN_FLIGHT, n); i++) startOne()
  })

let transports: Transports["Service"] | undefined

/** Opens n connections, each in its own fiber parked in `pull`; resolves once all are open. */
const holdEffect = async (n: number): Promise<Held> => {
  transports ??= await Effect.runPromise(
    Effect.gen(function* () {
      return yield* Transports
    }).pipe(Effect.provide(Transports.layerNode))
  )
  const service = transports
  const connects = Semaphore.makeUnsafe(CONNECTS_IN_FLIGHT)
  let connected = 0
  let allOpen!: () => void
  let failed!: (e: unknown) => void
  const open = new Promise<void>((resolve, reject) => {
    allOpen = resolve
    failed = reject
  })
  const one = (_: number) =>
    Effect.gen(function* () {
      const reader =
        stack === "nodesocket"
          ? yield* connects.withPermits(1)(
              Effect.flatMap(NodeSocket.makeNet({ host: "127.0.0.1", port }), (socket) => socket.reader)
            )
          : yield* Effect.flatMap(
              connects.withPermits(1)(service.connect(`tcp://127.0.0.1:${port}`)),
              (connection) => connection.reader
            )
      if (++connected === n) allOpen()
      yield* reader.pull
    }).pipe(Effect.scoped)
  const fiber = Effect.runFork(
    Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      one,
      { concurrency: "unbounded", discard: true }
    )
  )
  fiber.addObserver((exit) => failed(new Error(`connections ended: ${String(exit)}`)))
  await open
  return { release: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined) }
}

const hold = (n: number) => (stack === "raw" ? holdRaw(n) : holdEffect(n))

const main = async () => {
  // Warm-up: load and JIT the whole path, then let it go.
  const warm = await hold(WARMUP)
  await warm.release()
  await settle()
  const before = process.memoryUsage()
  const held = await hold(count)
  await settle()
  const after = process.memoryUsage()
  serveRequests(async (message) => {
    if (message.op === "exit") {
      setImmediate(() => process.exit(0))
      return {}
    }
    throw new Error(`unknown op ${message.op}`)
  })
  process.send?.({
    event: "measured",
    stack,
    count,
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    externalBefore: before.external + before.arrayBuffers,
    externalAfter: after.external + after.arrayBuffers
  })
  void held
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
