/**
 * A dialogue over a live connection: line and byte reads over a buffer that knows exactly which received bytes have
 * not been consumed, writes, and the TLS switch. Every read has the step timeout; every reply has a size limit. The
 * buffer is what makes STARTTLS injection-proof: when the upgrade reply has been consumed, anything still in it
 * arrived in plaintext after the reply, so `upgrade` refuses (and closes) instead of handing it out later as if it
 * had come over TLS.
 */
import { type Connection, Tls, type TlsDetails, type TransportError } from "@netdial/transport"
import { Duration, Effect, Scope } from "effect"
import type { Socket } from "effect/socket"
import { fromTransport, StartTlsError, showReply } from "./StartTlsError.ts"

export interface SessionOptions {
  /** For errors: `smtp`, `imap`… */
  readonly protocol: string
  /** Time allowed for each read (and each write). Default 30 s. */
  readonly stepTimeout?: Duration.Input | undefined
  /** Longest line or reply accepted, in bytes. Default 64 KiB. */
  readonly maxReply?: number | undefined
}

export interface Session {
  readonly protocol: string
  /** The connection as it is now: plaintext, then the TLS one after `upgrade`. */
  readonly connection: () => Connection
  /** `true` once `upgrade` succeeded. */
  readonly encrypted: () => boolean
  /** One line, without its CRLF or LF. */
  readonly readLine: (step: string) => Effect.Effect<string, StartTlsError>
  /** Exactly `n` bytes. */
  readonly readBytes: (n: number, step: string) => Effect.Effect<Uint8Array, StartTlsError>
  /** Waits for at least one more chunk and appends it to the buffer (for incremental parsers such as XML). */
  readonly readMore: (step: string) => Effect.Effect<void, StartTlsError>
  /** The received bytes not consumed yet. */
  readonly buffered: () => Uint8Array
  /** Consumes `n` bytes from the buffer (they must be there). */
  readonly consume: (n: number) => Uint8Array
  readonly write: (data: string | Uint8Array, step: string) => Effect.Effect<void, StartTlsError>
  /**
   * The TLS switch: refuses with `Injection` (and closes the connection) if any received byte is unconsumed,
   * otherwise runs the handshake with `options` and continues the session over TLS with an empty buffer.
   */
  readonly upgrade: (
    options: Tls.ClientUpgradeOptions | Tls.ServerUpgradeOptions
  ) => Effect.Effect<TlsDetails, StartTlsError>
}

const defaultStepTimeout = Duration.seconds(30)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** Starts a session; readers and the writer it acquires live in the current scope. */
export const make = (connection: Connection, options: SessionOptions): Effect.Effect<Session, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const protocol = options.protocol
    const stepTimeout =
      options.stepTimeout === undefined ? defaultStepTimeout : Duration.fromInputUnsafe(options.stepTimeout)
    const maxReply = options.maxReply ?? 64 * 1024
    let current = connection
    let encrypted = false
    let buffer: Uint8Array = new Uint8Array(0)
    let pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError> | undefined
    let writer: Socket.Writer | undefined

    const timed = <A>(step: string, effect: Effect.Effect<A, StartTlsError>) =>
      effect.pipe(
        Effect.timeoutOrElse({
          duration: stepTimeout,
          orElse: () =>
            Effect.fail(
              new StartTlsError({
                reason: "TimedOut",
                protocol,
                step,
                message: `${protocol} ${step}: no answer within ${Duration.format(stepTimeout)}`
              })
            )
        })
      )

    const closed = (step: string, cause: unknown) =>
      new StartTlsError({
        reason: "Closed",
        protocol,
        step,
        message: `${protocol} ${step}: the server closed the connection`,
        cause
      })

    // The read and write paths run a few times per command on both ends of every dialogue, so they are written
    // with plain combinators (no generator per call) and do nothing more than one pull or one write needs.
    const acquirePull = (step: string) =>
      pull !== undefined
        ? Effect.succeed(pull)
        : Scope.provide(current.reader, scope).pipe(
            Effect.mapError((e) => closed(step, e)),
            Effect.map((reader) => {
              pull = reader.pull
              return pull
            })
          )

    const append = (step: string, batch: ReadonlyArray<Uint8Array | string>): StartTlsError | undefined => {
      for (const chunk of batch) buffer = concat(buffer, typeof chunk === "string" ? encoder.encode(chunk) : chunk)
      if (buffer.length <= maxReply) return undefined
      return new StartTlsError({
        reason: "ReplyTooLong",
        protocol,
        step,
        message: `${protocol} ${step}: the server sent more than ${maxReply} bytes without completing a reply`,
        reply: showReply(decoder.decode(buffer.subarray(0, 200)))
      })
    }

    const readMore = (step: string): Effect.Effect<void, StartTlsError> =>
      timed(
        step,
        // Suspended: the reader is the one of the connection as it is when the read runs (a new one after upgrade).
        Effect.suspend(() =>
          Effect.flatMap(acquirePull(step), (pulling) =>
            Effect.flatMap(
              Effect.mapError(pulling, (e) => closed(step, e)),
              (batch) => {
                const tooLong = append(step, batch)
                return tooLong === undefined ? Effect.void : Effect.fail(tooLong)
              }
            )
          )
        )
      )

    const consume = (n: number): Uint8Array => {
      const taken = buffer.slice(0, n)
      buffer = buffer.slice(n)
      return taken
    }

    /** The next complete line in the buffer (consumed), or undefined. */
    const takeLine = (): string | undefined => {
      const newline = buffer.indexOf(0x0a)
      if (newline === -1) return undefined
      const line = consume(newline + 1)
      const end = line.length >= 2 && line[line.length - 2] === 0x0d ? line.length - 2 : line.length - 1
      return decoder.decode(line.subarray(0, end))
    }

    const readLine = (step: string): Effect.Effect<string, StartTlsError> => {
      const attempt: Effect.Effect<string, StartTlsError> = Effect.suspend(() => {
        const line = takeLine()
        return line !== undefined ? Effect.succeed(line) : Effect.andThen(readMore(step), attempt)
      })
      return attempt
    }

    const readBytes = (n: number, step: string): Effect.Effect<Uint8Array, StartTlsError> => {
      const attempt: Effect.Effect<Uint8Array, StartTlsError> = Effect.suspend(() =>
        buffer.length >= n ? Effect.succeed(consume(n)) : Effect.andThen(readMore(step), attempt)
      )
      return attempt
    }

    const write = (data: string | Uint8Array, step: string): Effect.Effect<void, StartTlsError> =>
      timed(
        step,
        Effect.suspend(() => {
          const bytes = typeof data === "string" ? encoder.encode(data) : data
          const send = (w: Socket.Writer) => Effect.mapError(w.write(bytes), (e) => closed(step, e))
          if (writer !== undefined) return send(writer)
          return Effect.flatMap(Scope.provide(current.writer, scope), (acquired) => {
            writer = acquired
            return send(acquired)
          })
        })
      )

    const upgrade = (upgradeOptions: Tls.ClientUpgradeOptions | Tls.ServerUpgradeOptions) =>
      Effect.gen(function* () {
        if (buffer.length > 0) {
          const leftover = buffer
          yield* current.close
          return yield* new StartTlsError({
            reason: "Injection",
            protocol,
            step: "upgrade",
            message: `${protocol}: ${leftover.length} byte(s) arrived in plaintext after the upgrade reply; they could have been injected by a man in the middle, so the connection was closed instead of upgraded`,
            reply: showReply(decoder.decode(leftover.subarray(0, 200)))
          })
        }
        const secured = yield* Scope.provide(Tls.upgrade(current, upgradeOptions), scope).pipe(
          Effect.mapError((e: TransportError) => fromTransport(protocol, "handshake", e))
        )
        current = secured
        encrypted = true
        pull = undefined
        writer = undefined
        buffer = new Uint8Array(0)
        return secured.tls as TlsDetails
      })

    return {
      protocol,
      connection: () => current,
      encrypted: () => encrypted,
      readLine,
      readBytes,
      readMore,
      buffered: () => buffer,
      consume,
      write,
      upgrade
    }
  })
