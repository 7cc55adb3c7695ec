/**
 * The server side of the transport benchmark, one process per competitor: `node bench/server.ts raw|nodesocket|netdial`.
 * Every listener counts what it receives and sends nothing: a TCP/TLS connection is read to EOF (then the server
 * closes its side and, if asked, pushes a `conn-done` event with the byte count); a UDP endpoint counts datagrams
 * and remembers when the last one arrived.
 *
 * Each competitor serves with its own stack: raw `node:net`/`node:tls`/`node:dgram` servers; @effect/platform-node's
 * `NodeSocketServer.make`/`makeTls` and `NodeDatagramSocket.make`; netdial's `listen`/`serve` and `bind`.
 *
 * Requests (IPC): `listen {proto: "tcp"|"tls"|"udp", report, cert?, key?}` → `{listener, port}`;
 * `stats {listener}` → counters; `close {listener}`; `profile-start`, `profile-stop {path}` (CPU profile); `exit`.
 */
import * as Dgram from "node:dgram"
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as NodeDatagramSocket from "@effect/platform-node/NodeDatagramSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { Cause, Effect, Exit, Fiber, type Scope, Stream } from "effect"
import { Socket } from "effect/socket"
import { Transports } from "../src/index.ts"
import { emit, serveRequests, wallMs } from "./ipc.ts"

const stack = process.argv[2] as "raw" | "nodesocket" | "netdial"
if (!["raw", "nodesocket", "netdial"].includes(stack)) throw new Error(`unknown stack ${stack}`)

/** Kernel receive buffer for every UDP competitor (Linux caps it at net.core.rmem_max, 4 MiB here). */
const UDP_RCVBUF = 4 * 1024 * 1024

interface Counters {
  accepted: number
  done: number
  bytes: number
  errors: number
  datagrams: number
  lastAt: number
  dropped: () => number
}

interface Listening {
  readonly port: number
  readonly counters: Counters
  readonly close: () => Promise<void>
}

const listeners = new Map<number, Listening>()
let nextListener = 1

const newCounters = (): Counters => ({
  accepted: 0,
  done: 0,
  bytes: 0,
  errors: 0,
  datagrams: 0,
  lastAt: 0,
  dropped: () => 0
})

const finished = (id: number, counters: Counters, report: boolean, bytes: number) => {
  counters.done++
  counters.bytes += bytes
  if (report) emit({ event: "conn-done", listener: id, bytes })
}

const isEof = (error: unknown): boolean =>
  Socket.isSocketError(error) && error.reason._tag === "SocketCloseError" && error.reason.code === 1000

/** Reads an effect/socket reader to EOF, counting bytes. */
const countToEof = (reader: Socket.Reader, counters: Counters) =>
  Effect.gen(function* () {
    let bytes = 0
    while (true) {
      const pulled = yield* Effect.result(reader.pull)
      if (pulled._tag === "Failure") {
        if (isEof(pulled.failure)) return bytes
        counters.errors++
        return yield* Effect.fail(pulled.failure)
      }
      for (const chunk of pulled.success)
        bytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength
    }
  })

/** Runs a long-lived Effect server; `ready` is called from inside it with the bound port. */
const runEffectServer = (
  start: (ready: (port: number, dropped?: () => number) => void) => Effect.Effect<unknown, unknown, Scope.Scope>
): Promise<{ port: number; dropped: () => number; close: () => Promise<void> }> =>
  new Promise((resolve, reject) => {
    let started = false
    const fiber = Effect.runFork(
      start((port, dropped) => {
        started = true
        resolve({
          port,
          dropped: dropped ?? (() => 0),
          close: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined)
        })
      }).pipe(Effect.scoped)
    )
    fiber.addObserver((exit) => {
      if (!started) reject(new Error(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "server ended before listening"))
      else if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause))
        console.error(`${stack} server failed:`, Cause.pretty(exit.cause))
    })
  })

let transportsService: Transports["Service"] | undefined
const transports = async () => {
  transportsService ??= await Effect.runPromise(
    Effect.gen(function* () {
      return yield* Transports
    }).pipe(Effect.provide(Transports.layerNode))
  )
  return transportsService
}

const listen = async (
  id: number,
  proto: "tcp" | "tls" | "udp",
  report: boolean,
  tls: { cert: string; key: string } | undefined
): Promise<Listening> => {
  const counters = newCounters()
  if (stack === "raw") {
    if (proto === "udp") {
      const socket = Dgram.createSocket({ type: "udp4", recvBufferSize: UDP_RCVBUF })
      socket.on("message", () => {
        counters.datagrams++
        counters.lastAt = wallMs()
      })
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve))
      return { port: socket.address().port, counters, close: () => new Promise((r) => socket.close(() => r())) }
    }
    const onSocket = (socket: Net.Socket) => {
      counters.accepted++
      let bytes = 0
      socket.on("data", (chunk: Buffer) => {
        bytes += chunk.byteLength
      })
      socket.on("end", () => {
        finished(id, counters, report, bytes)
        socket.end()
      })
      socket.on("error", () => {
        counters.errors++
      })
    }
    const server =
      proto === "tls"
        ? Tls.createServer({ cert: tls!.cert, key: tls!.key }, onSocket).on("tlsClientError", () => {
            counters.errors++
          })
        : Net.createServer(onSocket)
    await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, resolve))
    const sockets = new Set<Net.Socket>()
    server.on(proto === "tls" ? "secureConnection" : "connection", (s: Net.Socket) => {
      sockets.add(s)
      s.once("close", () => sockets.delete(s))
    })
    return {
      port: (server.address() as Net.AddressInfo).port,
      counters,
      close: () =>
        new Promise((resolve) => {
          for (const s of sockets) s.destroy()
          server.close(() => resolve())
        })
    }
  }

  if (stack === "nodesocket") {
    if (proto === "udp") {
      const server = await runEffectServer((ready) =>
        Effect.gen(function* () {
          const socket = yield* NodeDatagramSocket.make({
            bind: { address: "127.0.0.1", port: 0 },
            kernelReceiveBufferSize: UDP_RCVBUF
          })
          const reader = yield* socket.reader
          ready(reader.address.port, reader.dropped)
          while (true) {
            const batch = yield* reader.pull
            counters.datagrams += batch.length
            counters.lastAt = wallMs()
          }
        })
      )
      counters.dropped = server.dropped
      return { port: server.port, counters, close: server.close }
    }
    const server = await runEffectServer((ready) =>
      Effect.gen(function* () {
        const options = { host: "127.0.0.1", port: 0, backlog: 4096 }
        const server =
          proto === "tls"
            ? yield* NodeSocketServer.makeTls({ ...options, cert: tls!.cert, key: tls!.key })
            : yield* NodeSocketServer.make(options)
        ready((server.address as { port: number }).port)
        return yield* server.run((socket) =>
          Effect.gen(function* () {
            counters.accepted++
            const reader = yield* socket.reader
            finished(id, counters, report, yield* countToEof(reader, counters))
          }).pipe(Effect.scoped)
        )
      })
    )
    return { port: server.port, counters, close: server.close }
  }

  const service = await transports()
  if (proto === "udp") {
    const server = await runEffectServer((ready) =>
      Effect.gen(function* () {
        const endpoint = yield* service.bind("udp://127.0.0.1:0", { receiveBufferSize: UDP_RCVBUF })
        ready(endpoint.localAddress.port, endpoint.dropped)
        yield* Stream.runForEachArray(endpoint.datagrams, (batch) =>
          Effect.sync(() => {
            counters.datagrams += batch.length
            counters.lastAt = wallMs()
          })
        )
      })
    )
    counters.dropped = server.dropped
    return { port: server.port, counters, close: server.close }
  }
  const server = await runEffectServer((ready) =>
    Effect.gen(function* () {
      const listener =
        proto === "tls"
          ? yield* service.listen("tls://127.0.0.1:0", { backlog: 4096, cert: tls!.cert, key: tls!.key })
          : yield* service.listen("tcp://127.0.0.1:0", { backlog: 4096 })
      ready(listener.url.port ?? 0)
      return yield* listener.serve((connection) =>
        Effect.gen(function* () {
          counters.accepted++
          const reader = yield* connection.reader
          finished(id, counters, report, yield* countToEof(reader, counters))
        }).pipe(Effect.scoped)
      )
    })
  )
  return { port: server.port, counters, close: server.close }
}

let profiler: Inspector.Session | undefined

serveRequests(async (message) => {
  switch (message.op) {
    case "listen": {
      const id = nextListener++
      const listening = await listen(
        id,
        message.proto as "tcp" | "tls" | "udp",
        message.report === true,
        message.cert === undefined ? undefined : { cert: message.cert as string, key: message.key as string }
      )
      listeners.set(id, listening)
      return { listener: id, port: listening.port }
    }
    case "stats": {
      const listening = listeners.get(message.listener as number)
      if (listening === undefined) throw new Error(`no listener ${message.listener}`)
      const { dropped, ...counters } = listening.counters
      return { ...counters, dropped: dropped() }
    }
    case "close": {
      const listening = listeners.get(message.listener as number)
      listeners.delete(message.listener as number)
      await listening?.close()
      return {}
    }
    case "profile-start":
      profiler ??= new Inspector.Session()
      profiler.connect()
      await profiler.post("Profiler.enable")
      await profiler.post("Profiler.start")
      return {}
    case "profile-stop": {
      if (profiler === undefined) throw new Error("no profile running")
      const { profile } = await profiler.post("Profiler.stop")
      Fs.writeFileSync(message.path as string, JSON.stringify(profile))
      profiler.disconnect()
      profiler = undefined
      return {}
    }
    case "cpu": {
      const { user, system } = process.cpuUsage()
      return { cpuMicros: user + system }
    }
    case "exit":
      setImmediate(() => process.exit(0))
      return {}
    case "memory":
      return { rss: process.memoryUsage.rss(), maxRss: process.resourceUsage().maxRSS * 1024 }
    default:
      throw new Error(`unknown op ${message.op}`)
  }
})
process.send?.({ event: "ready" })
