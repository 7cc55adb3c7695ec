/**
 * TLS on a live connection: the `stream_socket_enable_crypto` of netdial, for STARTTLS and its kin. The protocol
 * dialogue (EHLO, STARTTLS, 220…) belongs to `@netdial/starttls`; this is the switch itself, with every TLS option of
 * `connect`/`listen`, and two refusals PHP lacks: a second upgrade, and plaintext bytes waiting when the handshake
 * would start (they would otherwise be read later as if they had come over TLS; on the server side a ClientHello
 * that arrived early is not plaintext, and goes to the handshake).
 */
import type * as Net from "node:net"
import { format } from "@netdial/url"
import { Effect, type Scope } from "effect"
import { type Connection, rawOf } from "./Connection.ts"
import { secureClientSocket, secureServerSocket } from "./internal/secure.ts"
import { makeStreamConnection } from "./internal/streamConnection.ts"
import { tlsServerSecureContextOptions } from "./internal/tlsServer.ts"
import type { ListenOptions } from "./Options.ts"
import { type DurationInput, defaultConnectTimeout } from "./SocketOptions.ts"
import type { TlsClientOptions, TlsServerOptions } from "./TlsOptions.ts"
import { TransportError } from "./TransportError.ts"

type Duration = typeof DurationInput.Type

export interface ClientUpgradeOptions extends TlsClientOptions {
  readonly role?: "client" | undefined
  /** Default 60 s. */
  readonly handshakeTimeout?: Duration | undefined
}

export interface ServerUpgradeOptions extends TlsServerOptions {
  readonly role: "server"
  /** Default 60 s. */
  readonly handshakeTimeout?: Duration | undefined
}

export type UpgradeOptions = ClientUpgradeOptions | ServerUpgradeOptions

const refuse = (connection: Connection, reason: TransportError["reason"], message: string) =>
  Effect.fail(new TransportError({ reason, message, url: format(connection.url), operation: "upgrade" }))

/**
 * Whether the unread bytes begin a TLS handshake record (content type 22, major version 3): a client's ClientHello.
 * A client may send it as soon as it reads the server's go-ahead, before the server reaches the upgrade, so on the
 * server those bytes are the handshake, and Node hands a socket's unread bytes to the TLS layer it wraps. They
 * can never be read as application data: TLS takes them as handshake records or fails. Plaintext bytes (a command
 * pipelined after STARTTLS) are still refused.
 */
const startsTlsRecord = (socket: Net.Socket): boolean => {
  const unread: Buffer | string | null = socket.read()
  if (unread === null) return false
  socket.unshift(unread)
  return typeof unread !== "string" && unread.length >= 2 && unread[0] === 0x16 && unread[1] === 0x03
}

/**
 * Runs a TLS handshake over `connection` (client role by default; `role: "server"` with `cert`/`key` for the server
 * side) and returns the secured connection, which lives in the caller's scope. Stop using the old connection value:
 * it now shares the socket. The peer name to verify (and the SNI) is `peerName`, else the host of the URL dialed.
 */
export const upgrade = (
  connection: Connection,
  options: UpgradeOptions = {}
): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    if (connection.mode === "datagram") {
      return yield* refuse(
        connection,
        "UnsupportedTransport",
        "TLS runs over streams; a udp:// connection cannot be upgraded (DTLS is not supported)"
      )
    }
    if (connection.tls !== undefined) {
      return yield* refuse(
        connection,
        "AlreadyEncrypted",
        `this connection already speaks ${connection.tls.protocol}; a stream is upgraded to TLS once`
      )
    }
    const raw = yield* rawOf(connection)
    if (raw.socket.destroyed) return yield* refuse(connection, "Closed", "the connection is closed")
    const buffered = raw.socket.readableLength
    if (buffered > 0 && !(options.role === "server" && startsTlsRecord(raw.socket))) {
      yield* connection.close
      return yield* refuse(
        connection,
        "UnexpectedPlaintext",
        `${buffered} plaintext byte(s) arrived before the TLS handshake and were not read; they cannot be trusted (a man in the middle can inject them), so the upgrade is refused and the connection must be closed`
      )
    }
    const timeout = options.handshakeTimeout ?? defaultConnectTimeout
    const url = format(connection.url)
    // From here on a failure leaves the stream in an unknown state (half a handshake): close it.
    const secured = yield* (
      options.role === "server"
        ? Effect.flatMap(tlsServerSecureContextOptions(options, { scheme: "tcp", url }), (contextOptions) =>
            secureServerSocket(contextOptions, options as ListenOptions, url, timeout)(raw.socket)
          )
        : secureClientSocket(
            raw.socket,
            {
              host: connection.url.kind === "inet" ? connection.url.hostname : (options.peerName ?? "localhost"),
              isIpLiteral: connection.url.kind === "inet" && connection.url.hostKind !== "domain",
              scheme: "tcp",
              url
            },
            options,
            timeout
          )
    ).pipe(Effect.onError(() => connection.close))
    raw.replace(secured.socket)
    return yield* makeStreamConnection(secured.socket, {
      url: connection.url,
      role: connection.role,
      tls: secured.details,
      ...(connection.url.kind === "unix" ? { unixPath: { local: "", remote: connection.url.path } } : {})
    })
  })
