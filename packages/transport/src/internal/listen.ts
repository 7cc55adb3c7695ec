/**
 * A net.Server as a `Listener`. Accepted sockets wait in a bounded queue (full → the newcomer is closed at once and
 * counted, so memory stays bounded under a connection flood); for TLS each accepted socket is handshaken in its own
 * fiber under a timeout, so one slow or hostile client never holds up the others.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import type * as Tls from "node:tls"
import { parse, type TransportUrl } from "@netdial/url"
import { Cause, Duration, Effect, Exit, Queue, Result, Scope, Stream } from "effect"
import { NetAddress } from "effect/net"
import type { Connection } from "../Connection.ts"
import type { Listener, ListenerStats } from "../Listener.ts"
import type { TlsDetails } from "../TlsInfo.ts"
import { TransportError } from "../TransportError.ts"
import { classify } from "./classify.ts"
import { type AddressFields, formatAddress, makeStreamConnection } from "./streamConnection.ts"

export interface Secured {
  readonly socket: Tls.TLSSocket
  readonly details: TlsDetails
}

export interface ListenSpec {
  readonly url: TransportUrl
  readonly bind: { readonly host: string; readonly port: number } | { readonly path: string }
  readonly backlog: number | undefined
  readonly ipv6Only: boolean | undefined
  readonly reusePort: boolean | undefined
  readonly noDelay: boolean | undefined
  readonly keepAlive: boolean | Duration.Input | undefined
  readonly idleTimeout: Duration.Input | undefined
  readonly acceptQueue: number
  readonly mode: number | undefined
  readonly existingSocketFile: "replace-stale" | "fail"
  /** TLS: turns an accepted socket into a handshaken TLS socket (already bounded by the handshake timeout). */
  readonly secure: ((socket: Net.Socket) => Effect.Effect<Secured, TransportError>) | undefined
}

interface Ready {
  readonly socket: Net.Socket
  readonly tls: TlsDetails | undefined
  /** The accepted socket (a key to the addresses read at accept time). */
  readonly raw: Net.Socket
}

/** Is something listening on this unix socket path? */
const probeUnixSocket = (path: string): Promise<"live" | "stale"> =>
  new Promise((resolve) => {
    const probe = Net.connect({ path })
    const timer = setTimeout(() => {
      probe.destroy()
      resolve("live") // a server that does not even refuse: do not steal its path
    }, 1000)
    probe.once("connect", () => {
      clearTimeout(timer)
      probe.destroy()
      resolve("live")
    })
    probe.once("error", () => {
      clearTimeout(timer)
      resolve("stale")
    })
  })

/** Handles an existing file at a unix socket path: a stale socket is removed, anything else is refused. */
const prepareUnixPath = (spec: ListenSpec, path: string): Effect.Effect<void, TransportError> =>
  Effect.gen(function* () {
    if (path.startsWith("\u0000")) return // abstract: no file
    const stat = yield* Effect.sync(() => {
      try {
        return Fs.lstatSync(path)
      } catch {
        return undefined
      }
    })
    if (stat === undefined) return
    const where = { url: String(spec.url), address: path, operation: "bind" }
    if (!stat.isSocket()) {
      return yield* new TransportError({
        reason: "AddressInUse",
        message: `${path} exists and is not a socket; refusing to replace it (choose another path)`,
        ...where
      })
    }
    const state = yield* Effect.promise(() => probeUnixSocket(path))
    if (state === "live" || spec.existingSocketFile === "fail") {
      return yield* new TransportError({
        reason: "AddressInUse",
        message:
          state === "live"
            ? `a server is already listening on ${path}`
            : `${path} exists (a stale socket from a server that did not clean up); remove it or pass existingSocketFile: "replace-stale"`,
        ...where,
        code: "EADDRINUSE"
      })
    }
    yield* Effect.sync(() => Fs.rmSync(path, { force: true }))
  })

const boundUrl = (spec: ListenSpec, server: Net.Server): TransportUrl => {
  const address = server.address()
  if (address === null || typeof address === "string" || spec.url.kind !== "inet") return spec.url
  const text = `${spec.url.scheme}://${spec.url.hostKind === "ipv6" ? `[${spec.url.hostname.replace("%", "%25")}]` : spec.url.hostname}:${address.port}`
  const result = parse(text, { allowPortZero: true })
  return Result.isSuccess(result) ? result.success : spec.url
}

export const listenStream = (spec: ListenSpec): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const listenerScope = yield* Effect.scope
    const where = (address?: string) => ({
      url: String(spec.url),
      address: address ?? ("path" in spec.bind ? spec.bind.path : `${spec.bind.host}:${spec.bind.port}`),
      operation: "listen"
    })
    if ("path" in spec.bind) yield* prepareUnixPath(spec, spec.bind.path)

    const stats = { accepted: 0, handshakeFailures: 0, dropped: 0 }
    const incoming = yield* Queue.bounded<Net.Socket>(spec.acceptQueue)
    const ready = spec.secure === undefined ? undefined : yield* Queue.bounded<Ready>(spec.acceptQueue)
    const pending = new Set<Net.Socket>()

    const accepted = new WeakMap<Net.Socket, AddressFields>()
    const server = Net.createServer({ pauseOnConnect: true, noDelay: spec.noDelay ?? false })
    server.on("connection", (socket) => {
      // Read the addresses now: once the peer has closed, the socket no longer knows them.
      accepted.set(socket, {
        localAddress: socket.localAddress,
        localPort: socket.localPort,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort
      })
      if (spec.keepAlive !== undefined && spec.keepAlive !== false) {
        socket.setKeepAlive(true, typeof spec.keepAlive === "boolean" ? 0 : Duration.toMillis(spec.keepAlive))
      }
      if (!Queue.offerUnsafe(incoming, socket)) {
        stats.dropped++
        socket.destroy()
        return
      }
      pending.add(socket)
      socket.once("close", () => pending.delete(socket))
    })

    yield* Effect.callback<void, TransportError>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(classify(error, where())))
      server.once("error", onError)
      const options: Net.ListenOptions =
        "path" in spec.bind
          ? { path: spec.bind.path, ...(spec.backlog !== undefined ? { backlog: spec.backlog } : {}) }
          : {
              host: spec.bind.host,
              port: spec.bind.port,
              ...(spec.backlog !== undefined ? { backlog: spec.backlog } : {}),
              ...(spec.ipv6Only !== undefined ? { ipv6Only: spec.ipv6Only } : {}),
              ...(spec.reusePort === true ? { reusePort: true } : {})
            }
      server.listen(options, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
      return Effect.sync(() => server.close())
    })

    const path = "path" in spec.bind ? spec.bind.path : undefined
    if (path !== undefined && spec.mode !== undefined && !path.startsWith("\u0000")) {
      yield* Effect.try({
        try: () => Fs.chmodSync(path, spec.mode!),
        catch: (error) => classify(error, { ...where(), operation: "chmod" })
      })
    }

    yield* Scope.addFinalizer(
      listenerScope,
      Effect.sync(() => {
        server.close()
        for (const socket of pending) socket.destroy()
        pending.clear()
        if (path !== undefined && !path.startsWith("\u0000")) Fs.rmSync(path, { force: true })
      }).pipe(Effect.andThen(Queue.shutdown(incoming)), Effect.andThen(ready ? Queue.shutdown(ready) : Effect.void))
    )

    // TLS: handshake each accepted socket in its own fiber; only finished handshakes reach `accept`.
    if (spec.secure !== undefined && ready !== undefined) {
      const secure = spec.secure
      const handshakeOne = (socket: Net.Socket) =>
        secure(socket).pipe(
          Effect.flatMap((secured) => {
            pending.add(secured.socket)
            secured.socket.once("close", () => pending.delete(secured.socket))
            return Queue.offer(ready, { socket: secured.socket, tls: secured.details, raw: socket })
          }),
          Effect.catch(() =>
            Effect.sync(() => {
              stats.handshakeFailures++
              socket.destroy()
            })
          )
        )
      yield* Queue.take(incoming).pipe(
        Effect.flatMap((socket) => Effect.forkIn(handshakeOne(socket), listenerScope)),
        Effect.forever,
        Effect.catchCause(() => Effect.void),
        Effect.forkIn(listenerScope)
      )
    }

    const address: NetAddress.SocketAddress =
      path !== undefined
        ? NetAddress.unixPathAddress(path)
        : (() => {
            const a = server.address() as Net.AddressInfo
            return NetAddress.inetAddressFromNativeUnsafe(a.address, a.port)
          })()
    const url = boundUrl(spec, server)
    const closedError = new TransportError({
      reason: "Closed",
      message: `the listener on ${formatAddress(address)} is closed`,
      ...where(formatAddress(address)),
      operation: "accept"
    })

    const nextReady: Effect.Effect<Ready, TransportError> =
      ready !== undefined
        ? Queue.take(ready).pipe(Effect.catchCause(() => Effect.fail(closedError)))
        : Queue.take(incoming).pipe(
            Effect.map((socket): Ready => ({ socket, tls: undefined, raw: socket })),
            Effect.catchCause(() => Effect.fail(closedError))
          )

    const accept: Effect.Effect<Connection, TransportError, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
      restore(nextReady).pipe(
        Effect.flatMap(({ socket, tls, raw }) => {
          pending.delete(socket)
          stats.accepted++
          // No resume(): the socket stays paused (pauseOnConnect) until a reader attaches, so no byte is read into
          // a stream nobody listens to.
          return makeStreamConnection(socket, {
            url,
            role: "server",
            tls,
            idleTimeout: spec.idleTimeout,
            unixPath: path !== undefined ? { local: path, remote: "" } : undefined,
            addressSource: accepted.get(raw)
          })
        })
      )
    )

    const serve = <E, R>(handler: (connection: Connection) => Effect.Effect<void, E, R | Scope.Scope>) =>
      Effect.gen(function* () {
        while (true) {
          const scope = yield* Scope.make()
          const connection = yield* Scope.provide(accept, scope).pipe(
            Effect.onError(() => Scope.close(scope, Exit.void))
          )
          // The handler runs in the connection's own scope: what it acquires (reader, writer, finalizers) is
          // released when it ends, not when the server stops.
          yield* Scope.provide(handler(connection), scope).pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.void
                : Effect.logWarning("netdial: connection handler failed", cause)
            ),
            Effect.ensuring(Scope.close(scope, Exit.void)),
            Effect.forkIn(listenerScope)
          )
        }
      }) as Effect.Effect<never, TransportError, Exclude<R, Scope.Scope>>

    const listener: Listener = {
      url,
      address,
      accept,
      connections: Stream.fromEffectRepeat(accept).pipe(
        Stream.catchIf(
          (e: TransportError) => e.reason === "Closed",
          () => Stream.empty
        )
      ) as Stream.Stream<Connection, TransportError, Scope.Scope>,
      serve,
      stats: Effect.sync((): ListenerStats => ({ ...stats })),
      close: Effect.sync(() => {
        server.close()
        for (const socket of pending) socket.destroy()
      }).pipe(Effect.andThen(Queue.shutdown(incoming)), Effect.andThen(ready ? Queue.shutdown(ready) : Effect.void))
    }
    return listener
  })
