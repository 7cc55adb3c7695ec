/**
 * A bound, listening server: pull-style `accept`, a `Stream` of connections, or `serve` with a handler per
 * connection. Closing the listener's scope stops listening, closes connections not yet accepted and, for unix
 * sockets, removes the socket file.
 */
import type { TransportUrl } from "@netdial/url"
import type { Effect, Scope, Stream } from "effect"
import type { NetAddress } from "effect/net"
import type { Connection } from "./Connection.ts"
import type { TransportError } from "./TransportError.ts"

export interface ListenerStats {
  /** Connections handed out by `accept`/`connections`/`serve`. */
  readonly accepted: number
  /** TLS handshakes of accepted sockets that failed or timed out (the client never became a connection). */
  readonly handshakeFailures: number
  /** Sockets closed at once because the accept queue was full. */
  readonly dropped: number
}

export interface Listener {
  /** The URL actually bound: port 0 is replaced by the real port. */
  readonly url: TransportUrl
  readonly address: NetAddress.SocketAddress
  /** The next connection (TLS: already handshaken); it lives in the caller's scope. */
  readonly accept: Effect.Effect<Connection, TransportError, Scope.Scope>
  /** Every connection, each living in the scope the stream runs in. For long-running servers prefer `serve`. */
  readonly connections: Stream.Stream<Connection, TransportError, Scope.Scope>
  /**
   * Accepts forever, running `handler` for each connection in its own fiber and scope (what the handler acquires —
   * reader, writer, finalizers — is released with it); the connection is closed when the handler ends, fails or is
   * interrupted. Handler failures are logged and do not stop the server.
   */
  readonly serve: <E, R>(
    handler: (connection: Connection) => Effect.Effect<void, E, R>
  ) => Effect.Effect<never, TransportError, Exclude<R, Scope.Scope>>
  readonly stats: Effect.Effect<ListenerStats>
  /** Stops listening now (also done when the listener's scope closes). */
  readonly close: Effect.Effect<void>
}
