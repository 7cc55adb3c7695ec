/**
 * Load test: 10,000 concurrent netdial TCP connections against a netdial echo server in another process, 1 GiB of
 * pseudo-random bytes sent in total (and the same 1 GiB echoed back), every connection's bytes checked by sha256.
 *
 * Shape of a run:
 * 1. fork `load/echo-server.ts` (a child process: both ends in one process would need 20,000 fds, the hard limit);
 * 2. open every connection (256 connects in flight at a time) and park it;
 * 3. wait until the server reports all of them accepted and active at once (asserted: peak ≥ connections);
 * 4. release them together: each connection sends its share from a PRNG seeded with its index, in 16 KiB writes,
 *    half-closes, and reads the echo to EOF concurrently; sha256 and length of sent vs received must match;
 * 5. the server's byte count and the client's totals must both equal the total sent.
 * It prints wall times and both processes' peak RSS; nothing is asserted on time. Every phase is bounded, and the
 * child is killed on any failure. `NETDIAL_LOAD_CONNECTIONS` / `NETDIAL_LOAD_BYTES` shrink it for a smoke run.
 */
import { type ChildProcess, fork } from "node:child_process"
import { createHash } from "node:crypto"
import { fileURLToPath } from "node:url"
import { Deferred, Duration, Effect, Fiber, type Scope, Semaphore } from "effect"
import { Socket } from "effect/socket"
import { describe, expect, it } from "vitest"
import { type Connection, type TransportError, Transports } from "../src/index.ts"
import { Sfc32 } from "./load/prng.ts"

const CONNECTIONS = Number(process.env.NETDIAL_LOAD_CONNECTIONS ?? 10_000)
const TOTAL_BYTES = Number(process.env.NETDIAL_LOAD_BYTES ?? 2 ** 30)
const CHUNK = 16 * 1024
const CONNECTS_IN_FLIGHT = 256

const serverScript = fileURLToPath(new URL("./load/echo-server.ts", import.meta.url))

interface ServerStats {
  readonly type: "stats"
  readonly active: number
  readonly peak: number
  readonly accepted: number
  readonly completed: number
  readonly failed: number
  readonly bytes: number
  readonly firstError: string
  readonly rssNow: number
  readonly maxRssBytes: number
}

interface Outcome {
  readonly index: number
  readonly size: number
  readonly sentHash: string
  readonly receivedHash: string
  readonly received: number
}

/** Connection `i` sends `base` bytes, the first `extra` connections one more: exactly TOTAL_BYTES in all. */
const sizeOf = (i: number): number => Math.floor(TOTAL_BYTES / CONNECTIONS) + (i < TOTAL_BYTES % CONNECTIONS ? 1 : 0)

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

const isEof = (error: unknown): boolean =>
  Socket.isSocketError(error) && error.reason._tag === "SocketCloseError" && error.reason.code === 1000

/** The next IPC message of `type` from the child, within `ms`. */
const nextMessage = <A>(child: ChildProcess, type: string, ms: number): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`no "${type}" message from the echo server within ${ms} ms`))
    }, ms)
    const onMessage = (message: { type?: string }) => {
      if (message.type !== type) return
      cleanup()
      resolve(message as A)
    }
    const onExit = (code: number | null, signal: string | null) => {
      cleanup()
      reject(new Error(`the echo server exited (code ${code}, signal ${signal}) while we waited for "${type}"`))
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.off("message", onMessage)
      child.off("exit", onExit)
    }
    child.on("message", onMessage)
    child.once("exit", onExit)
  })

const serverStats = (child: ChildProcess): Effect.Effect<ServerStats, Error> =>
  Effect.tryPromise({
    try: () => {
      const reply = nextMessage<ServerStats>(child, "stats", 10_000)
      child.send({ type: "stats" })
      return reply
    },
    catch: (error) => error as Error
  })

/** One connection's exchange: send the PRNG stream and read the echo, concurrently; hashes of both. */
const exchange = (
  connection: Connection,
  index: number
): Effect.Effect<Outcome, Socket.SocketError | TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const size = sizeOf(index)
    const reader = yield* connection.reader
    const writer = yield* connection.writer
    const sending = Effect.gen(function* () {
      const prng = new Sfc32(index + 1)
      const hash = createHash("sha256")
      let left = size
      while (left > 0) {
        const chunk = prng.bytes(Math.min(CHUNK, left))
        hash.update(chunk)
        yield* writer.write(chunk)
        left -= chunk.byteLength
      }
      yield* connection.shutdownWrite
      return hash.digest("hex")
    })
    const receiving = Effect.gen(function* () {
      const hash = createHash("sha256")
      let received = 0
      while (true) {
        const pulled = yield* Effect.result(reader.pull)
        if (pulled._tag === "Failure") {
          if (isEof(pulled.failure)) break
          return yield* Effect.fail(pulled.failure)
        }
        for (const chunk of pulled.success) {
          const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
          hash.update(bytes)
          received += bytes.byteLength
        }
      }
      return { hash: hash.digest("hex"), received }
    })
    const [sentHash, echoed] = yield* Effect.all([sending, receiving], { concurrency: 2 })
    return { index, size, sentHash, receivedHash: echoed.hash, received: echoed.received }
  })

const withTimeout =
  (what: string, duration: Duration.Input) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Error, R> =>
    Effect.timeoutOrElse(effect, {
      duration,
      orElse: () =>
        Effect.fail(new Error(`${what} did not finish within ${Duration.format(Duration.fromInputUnsafe(duration))}`))
    })

describe("load", () => {
  it(
    `${CONNECTIONS} concurrent tcp connections echo ${mib(TOTAL_BYTES)} through a netdial server, every byte verified`,
    async () => {
      const child = fork(serverScript, [], {
        execPath: process.execPath,
        execArgv: [],
        stdio: ["ignore", "inherit", "inherit", "ipc"]
      })
      try {
        const { port } = await nextMessage<{ port: number }>(child, "ready", 30_000)
        const started = performance.now()
        const seconds = (from: number, to = performance.now()) => `${((to - from) / 1000).toFixed(2)} s`

        const program = Effect.gen(function* () {
          const transports = yield* Transports
          const connects = yield* Semaphore.make(CONNECTS_IN_FLIGHT)
          const allSettled = yield* Deferred.make<void>()
          const go = yield* Deferred.make<void>()
          let settled = 0
          let connectFailures = 0
          let firstConnectFailure = ""
          const settle = Effect.suspend(() =>
            ++settled === CONNECTIONS ? Deferred.succeed(allSettled, undefined) : Effect.void
          )

          const one = (index: number) =>
            Effect.gen(function* () {
              const connection = yield* connects
                .withPermits(1)(transports.connect(`tcp://127.0.0.1:${port}`, { connectTimeout: "60 seconds" }))
                .pipe(
                  Effect.tapError((error) =>
                    Effect.andThen(
                      Effect.sync(() => {
                        connectFailures++
                        if (firstConnectFailure === "") firstConnectFailure = error.message
                      }),
                      settle
                    )
                  )
                )
              yield* settle
              yield* Deferred.await(go)
              return yield* exchange(connection, index)
            }).pipe(Effect.scoped, Effect.result)

          const all = yield* Effect.forEach(
            Array.from({ length: CONNECTIONS }, (_, i) => i),
            one,
            {
              concurrency: "unbounded"
            }
          ).pipe(Effect.forkChild)

          // Phase 1: every connection open on our side.
          yield* Deferred.await(allSettled).pipe(withTimeout(`opening ${CONNECTIONS} connections`, "3 minutes"))
          if (connectFailures > 0) {
            return yield* Effect.fail(
              new Error(`${connectFailures} of ${CONNECTIONS} connects failed; the first: ${firstConnectFailure}`)
            )
          }
          const connectedAt = performance.now()
          // Phase 2: every connection accepted and active on the server at once, before any byte moves.
          const stats = yield* Effect.gen(function* () {
            let stats = yield* serverStats(child)
            while (stats.active < CONNECTIONS) {
              yield* Effect.sleep("50 millis")
              stats = yield* serverStats(child)
            }
            return stats
          }).pipe(withTimeout("the server accepting every connection", "2 minutes"))
          const acceptedAt = performance.now()
          // Phase 3: all at once.
          yield* Deferred.succeed(go, undefined)
          const results = yield* Fiber.join(all).pipe(withTimeout("the data phase", "6 minutes"))
          const doneAt = performance.now()
          return { results, connectedAt, acceptedAt, doneAt, peakBefore: stats.peak }
        }).pipe(withTimeout("the load test", "9 minutes"), Effect.provide(Transports.layerNode))

        const { results, connectedAt, acceptedAt, doneAt, peakBefore } = await Effect.runPromise(program)

        const failures = results.filter((r) => r._tag === "Failure")
        const outcomes = results.flatMap((r) => (r._tag === "Success" ? [r.success] : []))
        const mismatched = outcomes.filter((o) => o.received !== o.size || o.receivedHash !== o.sentHash)
        const sent = outcomes.reduce((n, o) => n + o.size, 0)
        const received = outcomes.reduce((n, o) => n + o.received, 0)
        const final = await Effect.runPromise(
          Effect.gen(function* () {
            // The server counts a connection complete after its half-close; give the last ones a moment.
            let stats = yield* serverStats(child)
            for (let i = 0; i < 100 && stats.completed + stats.failed < CONNECTIONS; i++) {
              yield* Effect.sleep("50 millis")
              stats = yield* serverStats(child)
            }
            return stats
          })
        )
        const clientMaxRss = process.resourceUsage().maxRSS * 1024

        console.log(
          [
            `netdial load test, Node ${process.version}, ${new Date().toISOString()}`,
            `  connections            ${CONNECTIONS} (peak active on the server: ${final.peak}; ${peakBefore} before any byte moved)`,
            `  bytes sent / echoed    ${sent} / ${received} (${mib(sent)} each way, ${mib(sent + received)} on the wire)`,
            `  verified by sha256     ${outcomes.length - mismatched.length} of ${CONNECTIONS} connections`,
            `  open all connections   ${seconds(started, connectedAt)}`,
            `  all accepted (server)  ${seconds(started, acceptedAt)}`,
            `  data phase             ${seconds(acceptedAt, doneAt)} (${((2 * sent) / 2 ** 20 / ((doneAt - acceptedAt) / 1000)).toFixed(0)} MiB/s both ways)`,
            `  wall time              ${seconds(started, doneAt)}`,
            `  peak RSS, clients      ${mib(clientMaxRss)} (this vitest worker)`,
            `  peak RSS, server       ${mib(final.maxRssBytes)} (echo server process)`,
            `  server                 accepted ${final.accepted}, completed ${final.completed}, failed ${final.failed}, echoed ${final.bytes} bytes`
          ].join("\n")
        )

        if (failures.length > 0) {
          console.log(
            `first failures:\n${failures
              .slice(0, 5)
              .map((f) => String(f._tag === "Failure" ? f.failure : ""))
              .join("\n")}`
          )
        }
        if (final.firstError !== "") console.log(`first server error:\n${final.firstError}`)
        expect(failures.length).toBe(0)
        expect(mismatched.map((o) => o.index)).toEqual([])
        expect(outcomes.length).toBe(CONNECTIONS)
        expect(sent).toBe(TOTAL_BYTES)
        expect(received).toBe(TOTAL_BYTES)
        expect(final.bytes).toBe(TOTAL_BYTES)
        expect(peakBefore).toBeGreaterThanOrEqual(CONNECTIONS)
        expect(final.peak).toBeGreaterThanOrEqual(CONNECTIONS)
        expect(final.accepted).toBe(CONNECTIONS)
        expect(final.failed).toBe(0)
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      }
    },
    10 * 60_000
  )
})
