/**
 * A live connection: an `effect/socket` `Socket` (so `Socket.toChannel`/`toStream` work) plus what netdial knows
 * about it — the URL it was dialed or accepted on, both addresses, and for TLS the negotiated session.
 */
import type { TransportUrl } from "@netdial/url"
import { Effect } from "effect"
import type { NetAddress } from "effect/net"
import { Socket } from "effect/socket"
import type { TlsDetails } from "./TlsInfo.ts"
import { TransportError } from "./TransportError.ts"

export interface Connection extends Socket.Socket {
  /** The transport URL this connection was dialed with (clients) or accepted on (servers). */
  readonly url: TransportUrl
  /** Which end we are. */
  readonly role: "client" | "server"
  readonly localAddress: NetAddress.SocketAddress
  readonly remoteAddress: NetAddress.SocketAddress
  /** The negotiated TLS session, or `undefined` for plaintext. */
  readonly tls: TlsDetails | undefined
  /** `"stream"` for tcp/tls/unix, `"datagram"` for a connected udp client (each write is one datagram). */
  readonly mode: "stream" | "datagram"
  /**
   * Half-close: sends FIN (TCP) or close_notify + FIN (TLS) after pending writes; reads go on until the peer closes.
   * Releasing the `writer` scope does the same.
   */
  readonly shutdownWrite: Effect.Effect<void, TransportError>
  /** Closes the connection at once (also done when the connection's scope closes). */
  readonly close: Effect.Effect<void>
}

/** The node socket under a connection, for the layers (TLS upgrade, STARTTLS) that need to take it over. */
export interface RawHandle {
  readonly socket: import("node:net").Socket
  /** Called when a TLS layer has taken over the socket: the connection now reads and writes through `next`. */
  readonly replace: (next: import("node:tls").TLSSocket) => void
}

const raws = new WeakMap<Connection, RawHandle>()

/** @internal */
export const registerRaw = (connection: Connection, raw: RawHandle): void => {
  raws.set(connection, raw)
}

/** @internal The node socket of a connection made by netdial. */
export const rawOf = (connection: Connection): Effect.Effect<RawHandle, TransportError> =>
  Effect.suspend(() => {
    const raw = raws.get(connection)
    return raw === undefined
      ? Effect.fail(
          new TransportError({
            reason: "UnsupportedTransport",
            message: "this connection was not made by @netdial/transport, so it cannot be taken over (e.g. for TLS)"
          })
        )
      : Effect.succeed(raw)
  })

/** `true` for a connection made by netdial. */
export const isConnection = (u: unknown): u is Connection =>
  Socket.isSocket(u) && typeof u === "object" && u !== null && "remoteAddress" in u && "url" in u
