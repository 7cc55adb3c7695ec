/**
 * Faults: peers that reset, vanish or never answer, and interruption at every step. Nothing may hang, nothing may
 * escape as an unhandled error, and the process's file descriptors must come back to where they started.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { expect, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber } from "effect"
import { Socket } from "effect/socket"
import { Transports } from "../src/index.ts"

const openFds = () => Fs.readdirSync("/proc/self/fd").length
const hasProcFs = Fs.existsSync("/proc/self/fd")

/** Polls until the fd count is back to `baseline` (closes finish asynchronously), bounded in time. */
const settleFds = (baseline: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) {
      if (openFds() <= baseline) return openFds()
      yield* Effect.sleep(Duration.millis(50))
    }
    return openFds()
  })

let unhandled: Array<unknown> = []
const onUnhandled = (error: unknown) => void unhandled.push(error)

/** A raw node:net server with a given behaviour per connection, closed with the scope. */
const rawServer = (onConnection: (socket: Net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.callback<{ server: Net.Server; port: number }>((resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        onConnection(socket)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            server: Object.assign(server, { sockets }),
            port: (server.address() as Net.AddressInfo).port
          })
        )
      )
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        for (const socket of (server as Net.Server & { sockets: Set<Net.Socket> }).sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

layer(Transports.layerNode, { timeout: Duration.minutes(5), excludeTestServices: true })("faults", (it) => {
  it.effect("a peer that resets mid-write: the write fails with a typed error, no hang, nothing unhandled", () =>
    Effect.gen(function* () {
      unhandled = []
      process.on("uncaughtException", onUnhandled)
      const transports = yield* Transports
      const { port } = yield* rawServer((socket) => {
        socket.once("data", () => socket.resetAndDestroy())
      })
      const connection = yield* transports.connect(`tcp://127.0.0.1:${port}`)
      const writer = yield* connection.writer
      const chunk = new Uint8Array(64 * 1024)
      const exit = yield* Effect.gen(function* () {
        for (let i = 0; i < 2000; i++) yield* writer.write(chunk)
      }).pipe(Effect.timeout(Duration.seconds(20)), Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).not.toContain("TimeoutError")
      const reader = yield* connection.reader
      const readExit = yield* reader.pull.pipe(Effect.timeout(Duration.seconds(5)), Effect.exit)
      expect(Exit.isFailure(readExit)).toBe(true)
      process.off("uncaughtException", onUnhandled)
      expect(unhandled).toEqual([])
    }).pipe(Effect.scoped)
  )

  it.effect("a peer that closes at once: reads end with a close error, not a hang", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const { port } = yield* rawServer((socket) => socket.end())
      const connection = yield* transports.connect(`tcp://127.0.0.1:${port}`)
      const reader = yield* connection.reader
      const error = yield* reader.pull.pipe(Effect.timeout(Duration.seconds(5)), Effect.flip)
      expect(Socket.isSocketError(error) && error.reason._tag).toBe("SocketCloseError")
    }).pipe(Effect.scoped)
  )

  it.effect("a peer that never answers: a pending read is interruptible and releases the socket", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const { port } = yield* rawServer(() => {})
      const baseline = openFds()
      yield* Effect.gen(function* () {
        const connection = yield* transports.connect(`tcp://127.0.0.1:${port}`)
        const reader = yield* connection.reader
        const fiber = yield* Effect.forkChild(reader.pull)
        yield* Effect.sleep(Duration.millis(50))
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        expect(Exit.hasInterrupts(exit)).toBe(true)
      }).pipe(Effect.scoped)
      if (hasProcFs) expect(yield* settleFds(baseline)).toBeLessThanOrEqual(baseline)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "10,000 connect/close and 10,000 interrupted connects: file descriptors return to their start",
    () =>
      Effect.gen(function* () {
        if (!hasProcFs) return
        const transports = yield* Transports
        const listener = yield* transports.listen("tcp://127.0.0.1:0")
        // the server closes every accepted connection at once
        yield* listener.serve(() => Effect.void).pipe(Effect.forkScoped)
        yield* Effect.scoped(transports.connect(listener.url)) // warm up
        const baseline = yield* settleFds(openFds())
        for (let i = 0; i < 10_000; i++) yield* Effect.scoped(transports.connect(listener.url))
        const afterCycles = yield* settleFds(baseline)
        expect(afterCycles).toBeLessThanOrEqual(baseline)
        let interrupted = 0
        for (let i = 0; i < 10_000; i++) {
          const fiber = yield* Effect.forkChild(Effect.scoped(transports.connect(listener.url)))
          yield* Fiber.interrupt(fiber)
          const exit = yield* Fiber.await(fiber)
          if (Exit.hasInterrupts(exit)) interrupted++
        }
        // most attempts are interrupted in flight; some win the race and connect first, then close with the scope
        expect(interrupted).toBeGreaterThan(0)
        expect(yield* settleFds(baseline)).toBeLessThanOrEqual(baseline)
        expect((yield* listener.stats).accepted).toBeGreaterThanOrEqual(10_000)
      }).pipe(Effect.scoped),
    { timeout: 240_000 }
  )
})
