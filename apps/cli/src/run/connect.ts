/**
 * `netdial connect`: stdin → socket and socket → stdout until either side is done, optionally after a STARTTLS
 * dialogue. Loaded only when the command runs (see commands/connect.ts).
 */
import { discover, type ProtocolName, type StartTlsResult, startTls } from "@netdial/starttls"
import { type Connection, Transports, type TransportsService } from "@netdial/transport"
import { format } from "@netdial/url"
import { Effect, Ref } from "effect"
import { connectionReport, summaryRows } from "../internal/describe.ts"
import type { Failure } from "../internal/failure.ts"
import { isDirectory } from "../internal/files.ts"
import { err, printError, printJson, table } from "../internal/output.ts"
import { makeProgress } from "../internal/progress.ts"
import { type Context, fail, usage } from "../internal/report.ts"
import { collector, crlfConverter, lineSplitter, stdinChunks, writeStdout } from "../internal/stdio.ts"
import { targetOf, tlsSchemes } from "../internal/target.ts"
import { type DialValues, dialOptionsOf, type TlsClientValues, tlsClientOptionsOf } from "../internal/tlsFlags.ts"
import { defaultPortFor } from "./starttlsPorts.ts"

export interface ConnectInput {
  readonly url: string
  readonly port: number | undefined
  readonly starttls: ProtocolName | undefined
  readonly dial: DialValues
  readonly tls: TlsClientValues
  /** Seconds of silence after stdin ended before closing; undefined = until the peer closes (udp: 2). */
  readonly wait: number | undefined
  /** Turn each LF from stdin (not already after a CR) into CRLF. */
  readonly crlf: boolean
  readonly json: boolean
  readonly quiet: boolean
}

export const runConnect = (input: ConnectInput): Effect.Effect<void, Failure> =>
  Effect.scoped(
    Effect.gen(function* () {
      const ctx: Context = { command: "connect", json: input.json }
      const url = yield* targetOf(ctx, input.url, input.port, {
        defaultPort: input.starttls !== undefined ? defaultPortFor(input.starttls, input.url) : undefined
      })
      const secure = tlsSchemes.has(url.scheme)
      const dial = dialOptionsOf(input.dial)
      if (typeof dial === "string") return yield* usage(ctx, dial)
      const tls = tlsClientOptionsOf(input.tls, isDirectory)
      if (typeof tls === "string") return yield* usage(ctx, tls)
      if (!secure && input.starttls === undefined && Object.keys(tls).length > 0) {
        return yield* usage(
          ctx,
          `TLS flags need a TLS URL (tls://${url.kind === "inet" ? `${url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname}:${url.port}` : "…"}) or --starttls <protocol>`
        )
      }
      const { handshakeTimeout, ...tlsOptions } = tls
      const progress = yield* makeProgress(!input.quiet && !input.json)
      const transports: TransportsService = yield* Transports
      const started = performance.now()

      // Dial (tls:// includes the handshake), then the STARTTLS dialogue if asked.
      yield* progress.phase(`connecting to ${format(url)}${secure ? " (TCP + TLS handshake)" : ""}`)
      const dialed = yield* transports
        .connect(url, {
          ...dial,
          ...(secure ? { ...tlsOptions, capturePeerCertificate: true } : {}),
          ...(secure && handshakeTimeout !== undefined ? { handshakeTimeout } : {})
        })
        .pipe(Effect.catch((e) => Effect.andThen(progress.clear, fail(ctx, e.reason === "BadOption" ? 2 : 1, e))))
      let connection: Connection = dialed
      let dialogue: StartTlsResult | undefined
      if (input.starttls !== undefined) {
        yield* progress.phase(`${secure ? "greeting" : "STARTTLS"} (${input.starttls})`)
        const options = {
          tls: {
            ...tlsOptions,
            capturePeerCertificate: true,
            ...(handshakeTimeout !== undefined ? { handshakeTimeout } : {})
          }
        }
        dialogue = yield* (
          secure ? discover(dialed, input.starttls, options) : startTls(dialed, input.starttls, options)
        ).pipe(Effect.catch((e) => Effect.andThen(progress.clear, fail(ctx, e.reason === "BadOption" ? 2 : 1, e))))
        connection = dialogue.connection
      }
      yield* progress.clear
      const report = connectionReport(connection)
      const starttlsReport =
        dialogue === undefined
          ? null
          : {
              protocol: dialogue.protocol,
              capabilities: dialogue.capabilities,
              capabilitiesBeforeTls: dialogue.capabilitiesBeforeTls
            }
      if (!input.quiet && !input.json) {
        const rows = [...summaryRows(report, err)]
        if (starttlsReport !== null)
          rows.push(["starttls", `${starttlsReport.protocol}: ${starttlsReport.capabilities.join(" ")}`])
        yield* printError(`${err.green("connected")} ${format(connection.url)}\n${table(rows, "  ")}`)
      }

      // Pump both ways.
      const datagrams = connection.mode === "datagram"
      const wait = input.wait ?? (datagrams ? 2 : undefined)
      const received = collector()
      const sent = yield* Ref.make(0)
      let receivedBytes = 0
      let lastActivity = performance.now()
      const writer = yield* connection.writer
      const reader = yield* connection.reader.pipe(
        Effect.catch((e) => fail(ctx, 1, { _tag: "ConnectionLost", reason: "ConnectionLost", message: e.message }))
      )

      const fromPeer = Effect.gen(function* () {
        while (true) {
          const batch = yield* reader.pull
          lastActivity = performance.now()
          for (const chunk of batch) {
            const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
            receivedBytes += bytes.length
            if (input.json) received.add(bytes)
            else yield* writeStdout(datagrams ? Buffer.concat([bytes, Buffer.from("\n")]) : bytes)
          }
        }
      }).pipe(
        // The peer closing is the normal end; anything else is a failure.
        Effect.catchIf(
          (e) => e.reason._tag === "SocketCloseError",
          () => Effect.succeed("peer closed" as const)
        )
      )

      const send = (data: Uint8Array) =>
        Effect.andThen(
          writer.write(data),
          Ref.update(sent, (n) => n + data.length)
        )
      const toCrlf = crlfConverter()
      const fromStdin = Effect.gen(function* () {
        const lines = lineSplitter()
        const next = stdinChunks()
        while (true) {
          const chunk = yield* next
          if (chunk === undefined) break
          if (datagrams) for (const line of lines.push(chunk)) yield* send(line)
          else yield* send(input.crlf ? toCrlf(chunk) : chunk)
        }
        if (datagrams) for (const line of lines.end()) yield* send(line)
        else yield* connection.shutdownWrite.pipe(Effect.ignore)
        lastActivity = performance.now()
        if (wait === undefined) return yield* Effect.never
        // Stdin is done: end once the peer has been quiet for `wait` seconds.
        while (performance.now() - lastActivity < wait * 1000) {
          yield* Effect.sleep(Math.max(10, wait * 1000 - (performance.now() - lastActivity)))
        }
        return "idle" as const
      })

      const ended = yield* Effect.raceFirst(fromPeer, fromStdin).pipe(
        Effect.catch((e) =>
          fail(ctx, 1, { _tag: "ConnectionLost", reason: "ConnectionLost", message: `connection lost: ${e.message}` })
        )
      )
      const sentBytes = yield* Ref.get(sent)
      const seconds = (performance.now() - started) / 1000
      if (input.json) {
        yield* printJson({
          command: "connect",
          ok: true,
          connection: report,
          starttls: starttlsReport,
          ended,
          sent: sentBytes,
          received: received.report(),
          seconds: Number(seconds.toFixed(3))
        })
      } else if (!input.quiet) {
        yield* printError(
          err.dim(
            `closed (${ended}): sent ${sentBytes} bytes, received ${receivedBytes} bytes in ${seconds.toFixed(2)} s`
          )
        )
      }
    }).pipe(
      Effect.onInterrupt(() =>
        input.quiet || input.json ? Effect.void : printError(err.dim("\ninterrupted: connection closed"))
      ),
      Effect.provide(Transports.layerNode)
    )
  )
