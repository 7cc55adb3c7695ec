/**
 * `netdial listen`: a server on a transport URL. Each client's data goes to stdout (or back to it with --echo), and
 * stdin goes to the most recent client; udp: each datagram is a line, and stdin lines go to the latest sender.
 */
import {
  type Connection,
  type Datagram,
  type DatagramEndpoint,
  type Listener,
  Transports,
  type TransportsService
} from "@netdial/transport"
import { format } from "@netdial/url"
import { Deferred, Effect, Fiber } from "effect"
import { connectionReport, summaryRows } from "../internal/describe.ts"
import type { Failure } from "../internal/failure.ts"
import { isDirectory } from "../internal/files.ts"
import { err, printError, printJson, table } from "../internal/output.ts"
import { type Context, fail, usage } from "../internal/report.ts"
import { collector, lineSplitter, stdinChunks, writeStdout } from "../internal/stdio.ts"
import { targetOf, tlsSchemes } from "../internal/target.ts"
import { type TlsServerValues, tlsServerOptionsOf } from "../internal/tlsFlags.ts"

export interface ListenInput {
  readonly url: string
  readonly port: number | undefined
  readonly tls: TlsServerValues
  readonly echo: boolean
  /** Stop after this many connections (udp: datagrams) have been handled; undefined = until interrupted. */
  readonly maxConnections: number | undefined
  readonly json: boolean
  readonly quiet: boolean
}

export const runListen = (input: ListenInput): Effect.Effect<void, Failure> =>
  Effect.scoped(
    Effect.gen(function* () {
      const ctx: Context = { command: "listen", json: input.json }
      const url = yield* targetOf(ctx, input.url, input.port, { allowPortZero: true })
      const tls = tlsServerOptionsOf(input.tls, isDirectory)
      if (typeof tls === "string") return yield* usage(ctx, tls)
      const secure = tlsSchemes.has(url.scheme)
      if (secure && tls.cert === undefined) {
        return yield* usage(
          ctx,
          `a ${url.scheme}:// listener needs --cert and --key (the server's certificate chain and key)`
        )
      }
      if (!secure && Object.keys(tls).length > 0) {
        return yield* usage(ctx, `--cert/--key/--ca/--alpn are for tls:// listeners, not ${url.scheme}://`)
      }
      const transports: TransportsService = yield* Transports
      const say = (text: string) => (input.quiet || input.json ? Effect.void : printError(text))
      return url.scheme === "udp"
        ? yield* listenUdp(ctx, transports, input, format(url), say)
        : yield* listenStream(ctx, transports, input, format(url), tls, say)
    }).pipe(Effect.provide(Transports.layerNode))
  )

const listenStream = (
  ctx: Context,
  transports: TransportsService,
  input: ListenInput,
  url: string,
  tls: object,
  say: (text: string) => Effect.Effect<void>
) =>
  Effect.gen(function* () {
    const listener: Listener = yield* transports
      .listen(url, tls)
      .pipe(Effect.catch((e) => fail(ctx, e.reason === "BadOption" || e.reason === "BadUrl" ? 2 : 1, e)))
    yield* printError(`${err.green("listening on")} ${format(listener.url)}`)
    const done = yield* Deferred.make<void>()
    const reports: Array<Record<string, unknown>> = []
    let finished = 0
    // The most recent client, for stdin; the stdin pump waits while there is none.
    let current: { connection: Connection; write: (b: Uint8Array) => Effect.Effect<void, unknown> } | undefined
    let clientArrived = yield* Deferred.make<void>()

    const handle = (connection: Connection) =>
      Effect.gen(function* () {
        const info = connectionReport(connection)
        yield* say(
          `${err.cyan("connection from")} ${info.remoteAddress}\n${table(summaryRows(info, err).slice(1))}`.trimEnd()
        )
        const reader = yield* connection.reader
        const writer = yield* connection.writer
        const received = collector()
        let bytes = 0
        let sent = 0
        const me = {
          connection,
          write: (b: Uint8Array) =>
            Effect.andThen(
              writer.write(b),
              Effect.sync(() => {
                sent += b.length
              })
            )
        }
        current = me
        yield* Deferred.succeed(clientArrived, undefined)
        const ended = yield* Effect.gen(function* () {
          while (true) {
            const batch = yield* reader.pull
            for (const chunk of batch) {
              const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk
              bytes += data.length
              if (input.echo) yield* me.write(data)
              else if (input.json) received.add(data)
              else yield* writeStdout(data)
            }
          }
        }).pipe(
          Effect.as("closed"),
          Effect.catch((e) => Effect.succeed(e.reason._tag === "SocketCloseError" ? "closed" : `error: ${e.message}`))
        )
        if (current === me) {
          current = undefined
          clientArrived = yield* Deferred.make<void>()
        }
        reports.push({ ...info, ended, sent, received: input.json ? received.report() : { bytes } })
        yield* say(err.dim(`${info.remoteAddress} ${ended}: received ${bytes} bytes, sent ${sent}`))
        finished++
        if (input.maxConnections !== undefined && finished >= input.maxConnections)
          yield* Deferred.succeed(done, undefined)
      })

    const server = yield* Effect.forkChild(listener.serve(handle))
    const stdin = input.echo
      ? undefined
      : yield* Effect.forkChild(
          stdinToClient(
            () => current,
            () => clientArrived
          )
        )
    const summary = Effect.gen(function* () {
      const stats = yield* listener.stats
      if (input.json) {
        yield* printJson({ command: "listen", ok: true, url: format(listener.url), connections: reports, stats })
      }
    })
    yield* Effect.raceFirst(Deferred.await(done), Fiber.join(server)).pipe(
      Effect.catch((e) => fail(ctx, 1, e)),
      Effect.ensuring(Effect.andThen(summary, stdin === undefined ? Effect.void : Fiber.interrupt(stdin)))
    )
  })

/** Copies stdin to the most recent client (waiting while there is none); at its end, half-closes that client. */
const stdinToClient = (
  client: () => { connection: Connection; write: (b: Uint8Array) => Effect.Effect<void, unknown> } | undefined,
  arrived: () => Deferred.Deferred<void>
) =>
  Effect.gen(function* () {
    const next = stdinChunks()
    while (true) {
      let target = client()
      while (target === undefined) {
        yield* Deferred.await(arrived())
        target = client()
      }
      const chunk = yield* next
      if (chunk === undefined) {
        yield* target.connection.shutdownWrite.pipe(Effect.ignore)
        return
      }
      yield* target.write(chunk).pipe(Effect.ignore)
    }
  })

const listenUdp = (
  ctx: Context,
  transports: TransportsService,
  input: ListenInput,
  url: string,
  say: (text: string) => Effect.Effect<void>
) =>
  Effect.gen(function* () {
    const endpoint: DatagramEndpoint = yield* transports
      .bind(url)
      .pipe(Effect.catch((e) => fail(ctx, e.reason === "BadOption" || e.reason === "BadUrl" ? 2 : 1, e)))
    yield* printError(`${err.green("listening on")} ${format(endpoint.url)}`)
    const reports: Array<Record<string, unknown>> = []
    let latest: Datagram["from"] | undefined
    const senderKnown = yield* Deferred.make<void>()
    let count = 0
    const receiving = Effect.gen(function* () {
      while (input.maxConnections === undefined || count < input.maxConnections) {
        const datagram = yield* endpoint.receive
        count++
        latest = datagram.from
        yield* Deferred.succeed(senderKnown, undefined)
        if (input.echo) yield* endpoint.send(datagram.data, datagram.from)
        if (input.json) {
          const one = collector()
          one.add(datagram.data)
          reports.push({ from: String(datagram.from), ...one.report() })
        } else if (!input.echo) {
          yield* writeStdout(Buffer.concat([datagram.data, Buffer.from("\n")]))
        } else {
          yield* say(err.dim(`${String(datagram.from)}: ${datagram.data.length} bytes echoed`))
        }
      }
    })
    const fromStdin = Effect.gen(function* () {
      const lines = lineSplitter()
      const next = stdinChunks()
      while (true) {
        while (latest === undefined) yield* Deferred.await(senderKnown)
        const chunk = yield* next
        const batch = chunk === undefined ? lines.end() : lines.push(chunk)
        for (const line of batch) yield* endpoint.send(line, latest).pipe(Effect.ignore)
        if (chunk === undefined) return
      }
    })
    const stdin = input.echo ? undefined : yield* Effect.forkChild(fromStdin)
    yield* receiving.pipe(
      Effect.catch((e) => fail(ctx, 1, e)),
      Effect.ensuring(
        Effect.andThen(
          input.json
            ? printJson({
                command: "listen",
                ok: true,
                url: format(endpoint.url),
                datagrams: reports,
                dropped: endpoint.dropped()
              })
            : Effect.void,
          stdin === undefined ? Effect.void : Fiber.interrupt(stdin)
        )
      )
    )
    void senderKnown
  })
