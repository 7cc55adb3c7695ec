/**
 * The server half of `test/load.test.ts`, run in its own process (10,000 connections per side do not fit one
 * process's 20,000 file descriptors). A netdial `tcp://127.0.0.1:0` listener whose `serve` handler echoes every
 * batch back until EOF, then half-closes. Talks to the parent over IPC:
 * - sends `{ type: "ready", port }` once listening;
 * - answers `{ type: "stats" }` with `{ type: "stats", active, peak, accepted, completed, failed, bytes, ... }`;
 * - exits on `{ type: "exit" }` or when the parent goes away.
 */
import { Cause, Effect, Exit } from "effect"
import { Socket } from "effect/socket"
import { type Connection, Transports } from "../../src/index.ts"

const stats = { active: 0, peak: 0, accepted: 0, completed: 0, failed: 0, bytes: 0, firstError: "" }

const send = (message: object) => process.send?.(message)

const isEof = (error: unknown): boolean =>
  Socket.isSocketError(error) && error.reason._tag === "SocketCloseError" && error.reason.code === 1000

const echo = (connection: Connection) =>
  Effect.gen(function* () {
    stats.accepted++
    stats.active++
    if (stats.active > stats.peak) stats.peak = stats.active
    const reader = yield* connection.reader
    const writer = yield* connection.writer
    while (true) {
      const pulled = yield* Effect.result(reader.pull)
      if (pulled._tag === "Failure") {
        if (isEof(pulled.failure)) break
        return yield* Effect.fail(pulled.failure)
      }
      for (const chunk of pulled.success)
        stats.bytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength
      yield* writer.writeAll(pulled.success)
    }
    yield* connection.shutdownWrite
    stats.completed++
  }).pipe(
    // serve() does not give the handler the connection's scope: without this, each reader's and writer's finalizer
    // would pile up in the server's scope until it closes.
    Effect.scoped,
    Effect.onError((cause) =>
      Effect.sync(() => {
        stats.failed++
        if (stats.firstError === "") stats.firstError = Cause.pretty(cause).slice(0, 2000)
      })
    ),
    Effect.ensuring(Effect.sync(() => stats.active--))
  )

const program = Effect.gen(function* () {
  const transports = yield* Transports
  const listener = yield* transports.listen("tcp://127.0.0.1:0", { backlog: 4096, acceptQueue: 1024 })
  send({ type: "ready", port: listener.url.kind === "inet" ? listener.url.port : 0 })
  return yield* listener.serve(echo)
}).pipe(Effect.scoped, Effect.provide(Transports.layerNode))

process.on("message", (message: { type?: string }) => {
  if (message.type === "stats") {
    send({
      type: "stats",
      ...stats,
      rssNow: process.memoryUsage.rss(),
      maxRssBytes: process.resourceUsage().maxRSS * 1024
    })
  } else if (message.type === "exit") {
    process.exit(0)
  }
})
process.on("disconnect", () => process.exit(0))

Effect.runFork(program).addObserver((exit) => {
  console.error("echo server stopped:", Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "without error")
  process.exit(1)
})
