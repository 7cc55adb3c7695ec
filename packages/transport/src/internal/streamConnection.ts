/**
 * Wraps an open node socket (net.Socket or tls.TLSSocket) as a `Connection`. Reads are pull-based as in
 * `NodeSocket.fromDuplex` of @effect/platform-node (they keep the kernel window closed while nobody reads:
 * end-to-end backpressure); `write` awaits `drain`. What this adds: addresses, TLS details, an idle timeout,
 * half-close as an operation, and ownership — the connection's scope destroys the socket.
 */
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import type * as Tls from "node:tls"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import type { TransportUrl } from "@netdial/url"
import { Duration, Effect, Exit, Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { NetAddress } from "effect/net"
import { Socket } from "effect/socket"
import { type Connection, registerRaw } from "../Connection.ts"
import type { TlsDetails } from "../TlsInfo.ts"
import { TransportError } from "../TransportError.ts"
import { classify } from "./classify.ts"

export interface StreamMeta {
  readonly url: TransportUrl
  readonly role: "client" | "server"
  readonly tls: TlsDetails | undefined
  readonly idleTimeout?: Duration.Input | undefined
  /** Unix sockets: the path to report as the address (Node reports "" for unnamed ends). */
  readonly unixPath?: { readonly local: string; readonly remote: string } | undefined
  /**
   * The addresses, when they are not to be read from `socket` itself: a listener reads them at accept time, because
   * a peer that closes right after the TLS handshake leaves a socket that no longer knows them.
   */
  readonly addressSource?: AddressFields | undefined
}

/** The effect/net address of one end of a node socket. */
/** What `addressOf` reads: a socket, or the same fields copied from one. */
export interface AddressFields {
  readonly localAddress?: string | undefined
  readonly localPort?: number | undefined
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
}

export const addressOf = (
  socket: AddressFields,
  end: "local" | "remote",
  unixPath: string | undefined
): NetAddress.SocketAddress => {
  if (unixPath !== undefined) return NetAddress.unixPathAddress(unixPath)
  const host = end === "local" ? socket.localAddress : socket.remoteAddress
  const port = end === "local" ? socket.localPort : socket.remotePort
  if (host === undefined || port === undefined) return NetAddress.unixPathAddress("")
  try {
    return NetAddress.inetAddressFromNativeUnsafe(host, port)
  } catch {
    return NetAddress.unixPathAddress(host)
  }
}

export const formatAddress = (address: NetAddress.SocketAddress): string =>
  NetAddress.isUnixPathAddress(address) ? address.path : NetAddress.formatInet(address)

/**
 * Ends the write side and destroys the socket once Node has handed every byte to the kernel (which still sends
 * them, then FIN), or after `graceMs` at the latest: a successful scope never drops written data. The scope does
 * not wait for it (closing thousands of connections must not serialize on their flushes).
 */
export const flushThenDestroy = (socket: Net.Socket, graceMs = 5000): Effect.Effect<void> =>
  Effect.sync(() => {
    if (socket.destroyed) return
    // `writableEnded` alone is not "flushed": after `end()` (a released writer) the last bytes may still be queued.
    if (socket.writableFinished || (!socket.writable && !socket.writableEnded)) {
      socket.destroy()
      return
    }
    const timer = setTimeout(() => socket.destroy(), graceMs)
    timer.unref()
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
    }
    socket.once("finish", done)
    socket.once("close", () => clearTimeout(timer))
    if (!socket.writableEnded) socket.end()
  })

/**
 * Builds the connection and ties the socket to the current scope: when the scope closes, the socket is destroyed
 * (on success after its writes have gone out).
 */
export const makeStreamConnection = (
  socket: Net.Socket | Tls.TLSSocket,
  meta: StreamMeta
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function* () {
    let current: Net.Socket = socket
    // Errors also reach readers and writers; this listener keeps an error on an idle connection (no reader
    // attached) from becoming an uncaught exception, and remembers it for a reader that comes later.
    let firstError: unknown
    const remember = (error: unknown) => {
      firstError ??= error
    }
    socket.on("error", remember)
    const scope = yield* Effect.scope
    yield* Scope.addFinalizerExit(scope, (exit) =>
      Exit.isSuccess(exit) ? flushThenDestroy(current) : Effect.sync(() => current.destroy())
    )
    if (meta.idleTimeout !== undefined) {
      const ms = Duration.toMillis(meta.idleTimeout)
      if (Number.isFinite(ms) && ms > 0) {
        socket.setTimeout(ms, () => {
          socket.destroy(
            new TransportError({
              reason: "TimedOut",
              message: `no data in either direction for ${Duration.format(Duration.fromInputUnsafe(meta.idleTimeout!))} (idleTimeout); connection closed`,
              operation: "idle"
            })
          )
        })
      }
    }
    // Writes go straight to the current socket (the TLS one after an upgrade), with drain backpressure.
    const writer = makeWriter(() => current)
    const localAddress = addressOf(meta.addressSource ?? socket, "local", meta.unixPath?.local)
    const remoteAddress = addressOf(meta.addressSource ?? socket, "remote", meta.unixPath?.remote)
    const where = formatAddress(remoteAddress)
    // A reader attached after the socket died would wait for events that already happened: its pulls fail at once.
    // (Checked when the reader is acquired, not per pull: a live reader must still deliver bytes read before EOF.)
    const reader: Socket.Socket["reader"] = Effect.map(makeReader(socket), (r) => {
      if (!(current.destroyed && current.readableLength === 0)) return r
      const dead = new Socket.SocketError({
        reason:
          firstError !== undefined
            ? new Socket.SocketReadError({ cause: firstError })
            : new Socket.SocketCloseError({ code: 1000 })
      })
      return { ...r, pull: Effect.fail(dead) }
    })
    const connection: Connection = {
      ...Socket.make({ reader, writer }),
      reader,
      writer,
      url: meta.url,
      role: meta.role,
      localAddress,
      remoteAddress,
      tls: meta.tls,
      mode: "stream",
      shutdownWrite: Effect.callback<void, TransportError>((resume) => {
        if (current.destroyed) {
          resume(
            Effect.fail(
              new TransportError({
                reason: "Closed",
                message: `connection to ${where} is closed`,
                operation: "shutdown"
              })
            )
          )
          return
        }
        current.end(() => resume(Effect.void))
      }),
      close: Effect.sync(() => current.destroy())
    }
    registerRaw(connection, {
      socket: socket as Net.Socket,
      replace: (next) => {
        next.on("error", remember)
        current = next
      }
    })
    return connection
  })

type Chunk = Uint8Array | string

/** Most chunks handed out by one pull (as `NodeSocket.fromDuplex`). */
const maxChunksPerPull = 4096

/** How the read side ended, turned into a `SocketError` only when a pull is there to receive it. */
type Ending = { readonly kind: "close"; readonly code: number } | { readonly kind: "read"; readonly cause: unknown }

const socketErrorOf = (ending: Ending): Socket.SocketError =>
  new Socket.SocketError({
    reason:
      ending.kind === "read"
        ? new Socket.SocketReadError({ cause: ending.cause })
        : new Socket.SocketCloseError({ code: ending.code })
  })

const readAvailable = (conn: Duplex): NonEmptyReadonlyArray<Chunk> | undefined => {
  const first = conn.read() as Chunk | null
  if (first === null) return undefined
  const out: [Chunk, ...Array<Chunk>] = [first]
  // read() may refill the buffer synchronously; further reads are left to the next pull.
  while (out.length < maxChunksPerPull) {
    const chunk = conn.read() as Chunk | null
    if (chunk === null) break
    out.push(chunk)
  }
  return out
}

/**
 * The read side: the pull-based reader of `NodeSocket.fromDuplex` (the socket stays paused while nobody pulls, so
 * the kernel window closes: end-to-end backpressure; bytes read before EOF are delivered before the close; after
 * an error or a teardown they are dropped), with the same `SocketError`s, but built only when a pull receives one.
 * fromDuplex builds two schema-checked errors each time a reader is released, which cost more than the rest of
 * closing a connection.
 *
 * `upgrade` is effect's own TLS switch, kept for the `Socket` interface: it hands the socket to fromDuplex's reader
 * and reads through it from then on. netdial's switch is `Tls.upgrade` (verification, SNI, injection checks).
 */
const makeReader = (conn: Net.Socket): Effect.Effect<Socket.Reader, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    let ending: Ending | undefined
    let error: Socket.SocketError | undefined
    let waiter: ((effect: Effect.Effect<NonEmptyReadonlyArray<Chunk>, Socket.SocketError>) => void) | undefined
    // Bytes consumed by read() while the parked pull was interrupted.
    let pending: NonEmptyReadonlyArray<Chunk> | undefined
    let reading = false
    let closed = false
    let released = false
    let delegate: Socket.Reader | undefined

    // The only place a waiter is resumed: retained bytes first, then freshly read bytes, then the ending.
    function drain() {
      if (waiter === undefined || reading) return
      let chunk = pending
      pending = undefined
      if (chunk === undefined && !closed) {
        // A data listener can interrupt and replace the pull synchronously; the replacement waits for this read.
        reading = true
        try {
          chunk = readAvailable(conn)
        } finally {
          reading = false
        }
      }
      // A close during read() discards the bytes it consumed.
      if (closed) chunk = undefined
      if (waiter === undefined) {
        pending = chunk
        return
      }
      let result: Effect.Effect<NonEmptyReadonlyArray<Chunk>, Socket.SocketError> | undefined
      if (chunk !== undefined) result = Effect.succeed(chunk)
      else if (ending !== undefined) {
        error ??= socketErrorOf(ending)
        result = Effect.fail(error)
      }
      if (result === undefined) return
      const resume = waiter
      waiter = undefined
      resume(result)
    }
    // Normal EOF: bytes already consumed are still delivered before the error.
    function end(next: Ending) {
      ending ??= next
      drain()
    }
    // Teardown or failure: consumed bytes are discarded.
    function close(next: Ending) {
      ending ??= next
      closed = true
      pending = undefined
      drain()
    }
    function onEnd() {
      end({ kind: "close", code: 1000 })
    }
    function onError(cause: Error) {
      close({ kind: "read", cause })
    }
    function onClose(hadError: boolean) {
      if (hadError) close({ kind: "close", code: 1006 })
      else end({ kind: "close", code: 1000 })
    }
    const detach = () => {
      conn.off("readable", drain)
      conn.off("end", onEnd)
      conn.off("error", onError)
      conn.off("close", onClose)
    }

    conn.pause()
    conn.on("readable", drain)
    conn.on("end", onEnd)
    conn.on("error", onError)
    conn.on("close", onClose)
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        released = true
        // Resumes a pull blocked in another fiber before detaching.
        close({ kind: "close", code: 1006 })
        detach()
      })
    )

    const ownPull = Effect.callback<NonEmptyReadonlyArray<Chunk>, Socket.SocketError>((resume) => {
      waiter = resume
      drain()
      // Resumed synchronously: nothing to cancel.
      if (waiter !== resume) return
      return Effect.sync(() => {
        if (waiter === resume) waiter = undefined
      })
    })
    const pull = Effect.suspend(() => (delegate === undefined ? ownPull : delegate.pull))

    const upgradeError = (message: string) =>
      Effect.fail(new Socket.SocketError({ reason: new Socket.SocketUpgradeError({ cause: new Error(message) }) }))
    const upgrade: Socket.Reader["upgrade"] = (options) =>
      Effect.suspend(() => {
        if (released || delegate !== undefined || closed) return upgradeError("socket is already upgraded or closed")
        if (waiter !== undefined) return upgradeError("cannot upgrade while a read is waiting")
        if (pending !== undefined) return upgradeError("plaintext bytes were received and not read before the upgrade")
        detach()
        return Effect.gen(function* () {
          const base = yield* NodeSocket.fromDuplex(Effect.succeed(conn))
          const tlsReader = yield* Scope.provide(base.reader, scope)
          delegate = tlsReader
          yield* tlsReader.upgrade(options)
        })
      })

    return { pull, upgrade }
  })

const writeError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause }) })

const awaitDrain = (socket: Net.Socket): Effect.Effect<void, Socket.SocketError> =>
  Effect.callback<void, Socket.SocketError>((resume) => {
    const cleanup = () => {
      socket.off("drain", onDrain)
      socket.off("error", onError)
      socket.off("close", onClose)
    }
    const onDrain = () => {
      cleanup()
      resume(Effect.void)
    }
    const onError = (cause: Error) => {
      cleanup()
      resume(Effect.fail(writeError(cause)))
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(writeError(new Error("socket closed"))))
    }
    socket.on("drain", onDrain)
    socket.on("error", onError)
    socket.on("close", onClose)
    return Effect.sync(cleanup)
  })

/** A writer over whatever socket the connection currently uses (the TLS one after an upgrade). */
const makeWriter = (current: () => Net.Socket): Socket.Socket["writer"] => {
  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Effect.suspend(() => {
      const socket = current()
      if (Socket.isCloseEvent(chunk)) {
        socket.destroy(chunk.code > 1000 ? new Error(`closed with code ${chunk.code}`) : undefined)
        return Effect.void
      }
      if (socket.destroyed || socket.writableEnded) return Effect.fail(writeError(new Error("socket closed")))
      try {
        return socket.write(chunk) ? Effect.void : awaitDrain(socket)
      } catch (cause) {
        return Effect.fail(writeError(cause))
      }
    })
  const writeAll = (chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> =>
    Effect.suspend(() => {
      const socket = current()
      if (socket.destroyed || socket.writableEnded) return Effect.fail(writeError(new Error("socket closed")))
      let needsDrain = false
      try {
        socket.cork()
        try {
          for (const chunk of chunks) needsDrain = !socket.write(chunk) || needsDrain
        } finally {
          socket.uncork()
        }
      } catch (cause) {
        return Effect.fail(writeError(cause))
      }
      return needsDrain ? awaitDrain(socket) : Effect.void
    })
  return Effect.acquireRelease(Effect.succeed({ write, writeAll } as Socket.Writer), () =>
    Effect.sync(() => {
      const socket = current()
      if (!socket.destroyed && !socket.writableEnded) socket.end()
    })
  )
}

/** Classifies a socket error in the context of a connection. */
export const connectionError = (
  error: unknown,
  url: TransportUrl,
  address: string,
  operation: string
): TransportError => classify(error, { url: String(url), address, operation })
