/**
 * Glue between the dialer/listener and the TLS layer: runs the client or server handshake over an established TCP
 * socket, bounded by the handshake timeout.
 */
import type * as Net from "node:net"
import * as Tls from "node:tls"
import { format, type InetTransportUrl, type TransportUrl } from "@netdial/url"
import { Duration, Effect } from "effect"
import type { ConnectOptions, ListenOptions } from "../Options.ts"
import { defaultConnectTimeout } from "../SocketOptions.ts"
import type { TlsDetails } from "../TlsInfo.ts"
import type { TlsClientOptions } from "../TlsOptions.ts"
import { TransportError } from "../TransportError.ts"
import { classify } from "./classify.ts"
import type { Secured } from "./listen.ts"
import { handshake, peerCheckOf, tlsClientConnectOptions } from "./tlsClient.ts"
import { secureServerHandshake, tlsServerSecureContextOptions } from "./tlsServer.ts"

const remoteLabel = (socket: Net.Socket): string | undefined =>
  socket.remoteAddress === undefined
    ? undefined
    : socket.remoteFamily === "IPv6"
      ? `[${socket.remoteAddress}]:${socket.remotePort}`
      : `${socket.remoteAddress}:${socket.remotePort}`

/** Bounds a handshake; on timeout the socket is destroyed (the handshake's own interruption handler does it). */
export const withHandshakeTimeout = <A>(
  effect: Effect.Effect<A, TransportError>,
  timeout: Duration.Input,
  context: { readonly url: string; readonly address: string | undefined }
): Effect.Effect<A, TransportError> => {
  const duration = Duration.fromInputUnsafe(timeout)
  if (!Number.isFinite(Duration.toMillis(duration))) return effect
  return effect.pipe(
    Effect.timeoutOrElse({
      duration,
      orElse: () =>
        Effect.fail(
          new TransportError({
            reason: "TimedOut",
            message: `the TLS handshake with ${context.address ?? context.url} did not finish within ${Duration.format(duration)} (handshakeTimeout); is the peer speaking TLS on this port?`,
            url: context.url,
            ...(context.address !== undefined ? { address: context.address } : {}),
            operation: "handshake"
          })
        )
    })
  )
}

/**
 * A listener for the whole life of a TLS socket: OpenSSL can fail inside `tls.connect` itself (no protocol in the
 * version range, say) and Node then emits `error` on the next tick, when no handshake listener may be attached;
 * without this the process would die of an unhandled `error` event. Keeps the first error for `failedAtStart`.
 */
const sinkErrors = (socket: Tls.TLSSocket): { error: unknown } => {
  const early: { error: unknown } = { error: undefined }
  socket.on("error", (error) => {
    early.error ??= error
  })
  return early
}

/** The socket died while being set up: wait the tick for its error, then report that error. */
const failedAtStart = (
  socket: Tls.TLSSocket,
  early: { error: unknown },
  context: { readonly url: string; readonly address: string | undefined }
): Effect.Effect<never, TransportError> =>
  Effect.callback<never, TransportError>((resume) => {
    setImmediate(() => {
      socket.destroy()
      const error =
        early.error ?? Object.assign(new Error("the TLS socket closed during setup"), { code: "ECONNRESET" })
      resume(
        Effect.fail(
          classify(error, {
            url: context.url,
            ...(context.address !== undefined ? { address: context.address } : {}),
            operation: "handshake"
          })
        )
      )
    })
  })

export interface ClientTlsTarget {
  /** The name (or IP literal) the peer must prove, and the SNI when it is a name. */
  readonly host: string
  readonly isIpLiteral: boolean
  /** Picks the version range: `tlsv1.2` pins 1.2; `tcp` (STARTTLS) and `tls` use the default range. */
  readonly scheme: string
  readonly url: string
}

/** Runs TLS as the client over `socket` (fresh from the dialer, or a live plaintext connection for STARTTLS). */
export const secureClientSocket = (
  socket: Net.Socket,
  target: ClientTlsTarget,
  options: TlsClientOptions,
  timeout: Duration.Input
): Effect.Effect<Secured, TransportError> =>
  Effect.gen(function* () {
    const address = remoteLabel(socket)
    const context = {
      host: target.host,
      isIpLiteral: target.isIpLiteral,
      scheme: target.scheme,
      url: target.url,
      address
    }
    const connectOptions = yield* tlsClientConnectOptions(options, { ...context, socket })
    // tls.connect and the handshake's listeners in one synchronous step, so no early error goes unheard.
    return yield* withHandshakeTimeout(
      Effect.suspend(() => {
        const tlsSocket = Tls.connect({ ...connectOptions, socket })
        const early = sinkErrors(tlsSocket)
        if (tlsSocket.destroyed) return failedAtStart(tlsSocket, early, context)
        return Effect.map(
          handshake(tlsSocket, options, { ...context, peerCheck: peerCheckOf(connectOptions) }),
          (details): Secured => ({ socket: tlsSocket, details })
        )
      }),
      timeout,
      { url: target.url, address }
    )
  })

/** The client handshake for a `tls://`-family URL. */
export const secureClient = (socket: Net.Socket, url: InetTransportUrl, options: ConnectOptions) =>
  secureClientSocket(
    socket,
    { host: url.hostname, isIpLiteral: url.hostKind !== "domain", scheme: url.scheme, url: format(url) },
    options,
    options.handshakeTimeout ?? options.connectTimeout ?? defaultConnectTimeout
  )

/** Prepares the server's contexts once (bad material fails here), and returns the per-socket handshake. */
export const secureServer = (
  url: TransportUrl,
  options: ListenOptions
): Effect.Effect<(socket: Net.Socket) => Effect.Effect<Secured, TransportError>, TransportError> =>
  Effect.map(tlsServerSecureContextOptions(options, { scheme: url.scheme, url: format(url) }), (contextOptions) =>
    secureServerSocket(contextOptions, options, format(url), options.handshakeTimeout ?? defaultConnectTimeout)
  )

/** The server handshake over an accepted (or live, for STARTTLS) socket. */
export const secureServerSocket =
  (contextOptions: Tls.TlsOptions, options: ListenOptions, url: string, timeout: Duration.Input) =>
  (socket: Net.Socket): Effect.Effect<Secured, TransportError> => {
    const address = remoteLabel(socket)
    return withHandshakeTimeout(
      Effect.suspend(() => {
        const tlsSocket = new Tls.TLSSocket(socket, { isServer: true, ...contextOptions })
        const early = sinkErrors(tlsSocket)
        if (tlsSocket.destroyed) return failedAtStart(tlsSocket, early, { url, address })
        socket.resume()
        return Effect.map(
          secureServerHandshake(tlsSocket, options, { url, ...(address !== undefined ? { address } : {}) }),
          (details: TlsDetails): Secured => ({ socket: tlsSocket, details })
        )
      }),
      timeout,
      { url, address }
    )
  }
