/**
 * The `Transports` service: a registry from scheme to transport, and `connect` / `connectHostPort` / `listen` /
 * `bind` for any transport URL. `Transports.layerNode` provides tcp, udp, ssl, tls, tlsv1.0–tlsv1.3 and unix on
 * Node; sslv2/sslv3 and udg are registered too, and refuse with a reason before any I/O.
 */
import * as Net from "node:net"
import * as NodeAddressResolver from "@effect/platform-node/NodeAddressResolver"
import * as NodeDns from "@effect/platform-node/NodeDns"
import {
  format,
  fromHostPort,
  type InetTransportUrl,
  parse,
  type TransportUrl,
  type UnixTransportUrl
} from "@netdial/url"
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import { AddressResolver, NetAddress } from "effect/net"
import type { Connection } from "./Connection.ts"
import { classify } from "./internal/classify.ts"
import { applyPolicy, type DialSettings, dialInet, orderAttempts, resolveAttempts } from "./internal/dial.ts"
import { type ListenSpec, listenStream } from "./internal/listen.ts"
import { secureClient, secureServer } from "./internal/secure.ts"
import { makeStreamConnection } from "./internal/streamConnection.ts"
import type { Listener } from "./Listener.ts"
import * as Options from "./Options.ts"
import { type BindOptions, type ConnectOptions, decodeOptions, type ListenOptions } from "./Options.ts"
import { defaultAttemptDelay, defaultConnectTimeout } from "./SocketOptions.ts"
import { refusedScheme } from "./TlsOptions.ts"
import { TransportError } from "./TransportError.ts"
import { bindUdp, type DatagramEndpoint, openConnectedUdp } from "./Udp.ts"

/** How a scheme behaves. */
export interface Transport {
  readonly scheme: string
  /** One line for `netdial transports` (the `stream_get_transports` of netdial). */
  readonly description: string
  readonly kind: "stream" | "datagram"
  readonly secure: boolean
  readonly connect: (
    url: TransportUrl,
    options: ConnectOptions
  ) => Effect.Effect<Connection, TransportError, Scope.Scope>
  readonly listen: (url: TransportUrl, options: ListenOptions) => Effect.Effect<Listener, TransportError, Scope.Scope>
  readonly bind: (
    url: TransportUrl,
    options: BindOptions
  ) => Effect.Effect<DatagramEndpoint, TransportError, Scope.Scope>
}

export interface TransportInfo {
  readonly scheme: string
  readonly description: string
  readonly kind: "stream" | "datagram"
  readonly secure: boolean
}

export interface TransportsService {
  /** The registered schemes, in registration order. */
  readonly list: Effect.Effect<ReadonlyArray<TransportInfo>>
  readonly get: (scheme: string) => Effect.Effect<Transport, TransportError>
  /** Adds or replaces a scheme (e.g. an alias with TLS defaults, see `alias`). */
  readonly register: (transport: Transport) => Effect.Effect<void>
  /** The `stream_socket_client` form: a URL (string or parsed) and options. */
  readonly connect: (
    url: string | TransportUrl,
    options?: ConnectOptions
  ) => Effect.Effect<Connection, TransportError, Scope.Scope>
  /** The `fsockopen` form: host (maybe with a scheme; raw IPv6 is fine) and port apart. */
  readonly connectHostPort: (
    host: string,
    port: number | undefined,
    options?: ConnectOptions
  ) => Effect.Effect<Connection, TransportError, Scope.Scope>
  /** A listening server; port 0 binds an ephemeral port (see `listener.url`). */
  readonly listen: (
    url: string | TransportUrl,
    options?: ListenOptions
  ) => Effect.Effect<Listener, TransportError, Scope.Scope>
  /** A bound datagram endpoint (udp): send-to and receive-from. */
  readonly bind: (
    url: string | TransportUrl,
    options?: BindOptions
  ) => Effect.Effect<DatagramEndpoint, TransportError, Scope.Scope>
}

export class Transports extends Context.Service<Transports, TransportsService>()("@netdial/transport/Transports") {
  /** The registry with every built-in scheme; needs an `AddressResolver`. */
  static readonly layer: Layer.Layer<Transports, never, AddressResolver.AddressResolver> = Layer.effect(
    Transports,
    Effect.gen(function* () {
      const resolver = yield* AddressResolver.AddressResolver
      return makeTransports(builtins(resolver))
    })
  )

  /** `layer` with Node's resolver (getaddrinfo through `NodeDns`). */
  static readonly layerNode: Layer.Layer<Transports> = Transports.layer.pipe(
    Layer.provide(NodeAddressResolver.layer),
    Layer.provide(NodeDns.layer)
  )
}

const badUrl = (input: string, message: string): TransportError =>
  new TransportError({ reason: "BadUrl", message, url: input, operation: "parse" })

const toUrl = (input: string | TransportUrl, allowPortZero: boolean): Effect.Effect<TransportUrl, TransportError> => {
  if (typeof input !== "string") return Effect.succeed(input)
  const result = parse(input, { allowPortZero })
  return result._tag === "Success" ? Effect.succeed(result.success) : Effect.fail(badUrl(input, result.failure.message))
}

/** Builds the service over a mutable registry (registration is rare; lookups are a Map get). */
export const makeTransports = (initial: ReadonlyArray<Transport>): TransportsService => {
  const registry = new Map<string, Transport>(initial.map((t) => [t.scheme, t]))
  const get = (scheme: string) =>
    Effect.suspend(() => {
      const transport = registry.get(scheme)
      return transport !== undefined
        ? Effect.succeed(transport)
        : Effect.fail(
            new TransportError({
              reason: "UnsupportedTransport",
              message: `no transport is registered for "${scheme}://"; registered: ${[...registry.keys()].join(", ")}`,
              operation: "lookup"
            })
          )
    })
  const connectUrl = (url: TransportUrl, options: ConnectOptions | undefined) =>
    Effect.flatMap(decodeOptions(Options.ConnectOptions, "connect", options), (opts) =>
      Effect.flatMap(get(url.scheme), (t) => t.connect(url, opts))
    )
  return {
    list: Effect.sync(() =>
      [...registry.values()].map(({ scheme, description, kind, secure }) => ({ scheme, description, kind, secure }))
    ),
    get,
    register: (transport) => Effect.sync(() => void registry.set(transport.scheme, transport)),
    connect: (input, options) => Effect.flatMap(toUrl(input, false), (url) => connectUrl(url, options)),
    connectHostPort: (host, port, options) =>
      Effect.suspend(() => {
        const result = fromHostPort(host, port)
        return result._tag === "Success"
          ? connectUrl(result.success, options)
          : Effect.fail(badUrl(port === undefined ? host : `${host} port ${port}`, result.failure.message))
      }),
    listen: (input, options) =>
      Effect.flatMap(toUrl(input, true), (url) =>
        Effect.flatMap(decodeOptions(Options.ListenOptions, "listen", options), (opts) =>
          Effect.flatMap(get(url.scheme), (t) => t.listen(url, opts))
        )
      ),
    bind: (input, options) =>
      Effect.flatMap(toUrl(input, true), (url) =>
        Effect.flatMap(decodeOptions(Options.BindOptions, "bind", options), (opts) =>
          Effect.flatMap(get(url.scheme), (t) => t.bind(url, opts))
        )
      )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// built-in transports

const unsupported = (url: TransportUrl, message: string, operation: string): TransportError =>
  new TransportError({ reason: "UnsupportedTransport", message, url: format(url), operation })

const notInet = (url: TransportUrl, operation: string) =>
  Effect.fail(unsupported(url, `${url.scheme}:// needs host:port, not a path`, operation))

const noBind = (url: TransportUrl) =>
  Effect.fail(
    unsupported(url, `${url.scheme}:// is a stream transport: use listen() for a server, bind() is for udp://`, "bind")
  )

const dialSettings = (options: ConnectOptions): DialSettings => ({
  connectTimeout: Duration.fromInputUnsafe(options.connectTimeout ?? defaultConnectTimeout),
  attemptDelay: Duration.fromInputUnsafe(options.attemptDelay ?? defaultAttemptDelay),
  family: options.family ?? "any",
  addressPolicy: options.addressPolicy,
  localAddress: options.localAddress,
  localPort: options.localPort,
  noDelay: options.noDelay,
  keepAlive: options.keepAlive
})

/** The address a listener binds: IP literals as they are, names through the resolver (first address). */
const bindHost = (
  url: InetTransportUrl,
  resolver: AddressResolver.AddressResolver["Service"]
): Effect.Effect<string, TransportError> =>
  url.hostKind !== "domain"
    ? Effect.succeed(url.hostname)
    : resolveAttempts(url, resolver).pipe(Effect.map((attempts) => attempts[0].host))

const listenSpec = (
  url: TransportUrl,
  options: ListenOptions,
  bind: ListenSpec["bind"],
  secure: ListenSpec["secure"]
): ListenSpec => ({
  url,
  bind,
  backlog: options.backlog,
  ipv6Only: options.ipv6Only,
  reusePort: options.reusePort,
  noDelay: options.noDelay,
  keepAlive: options.keepAlive,
  idleTimeout: options.idleTimeout,
  acceptQueue: options.acceptQueue ?? 128,
  mode: options.mode,
  existingSocketFile: options.existingSocketFile ?? "replace-stale",
  secure
})

const tcpLike = (
  scheme: string,
  description: string,
  secure: boolean,
  resolver: AddressResolver.AddressResolver["Service"]
): Transport => ({
  scheme,
  description,
  kind: "stream",
  secure,
  connect: (url, options) =>
    url.kind !== "inet"
      ? notInet(url, "connect")
      : Effect.gen(function* () {
          const dialed = yield* dialInet(url, dialSettings(options), resolver)
          if (!secure) {
            return yield* makeStreamConnection(dialed.socket, {
              url,
              role: "client",
              tls: undefined,
              idleTimeout: options.idleTimeout
            })
          }
          const secured = yield* secureClient(dialed.socket, url, options).pipe(
            Effect.onError(() => Effect.sync(() => dialed.socket.destroy()))
          )
          return yield* makeStreamConnection(secured.socket, {
            url,
            role: "client",
            tls: secured.details,
            idleTimeout: options.idleTimeout
          })
        }),
  listen: (url, options) =>
    url.kind !== "inet"
      ? notInet(url, "listen")
      : Effect.gen(function* () {
          const host = yield* bindHost(url, resolver)
          const handshake = secure ? yield* secureServer(url, options) : undefined
          return yield* listenStream(listenSpec(url, options, { host, port: url.port }, handshake))
        }),
  bind: noBind
})

const refused = (scheme: "sslv2" | "sslv3"): Transport => {
  const fail = (url: TransportUrl, operation: string) =>
    Effect.fail(unsupported(url, refusedScheme(scheme) ?? `${scheme} is refused`, operation))
  return {
    scheme,
    description: `refused: ${scheme === "sslv2" ? "SSL 2.0 is prohibited by RFC 6176" : "SSL 3.0 is prohibited by RFC 7568"}; use tls://`,
    kind: "stream",
    secure: true,
    connect: (url) => fail(url, "connect"),
    listen: (url) => fail(url, "listen"),
    bind: (url) => fail(url, "bind")
  }
}

const unixPath = (url: UnixTransportUrl) => url.path

const unix: Transport = {
  scheme: "unix",
  description: "Unix domain stream socket (a file path, or @name for a Linux abstract socket)",
  kind: "stream",
  secure: false,
  connect: (url, options) =>
    url.kind !== "unix"
      ? Effect.fail(unsupported(url, "unix:// needs a path", "connect"))
      : Effect.gen(function* () {
          const path = unixPath(url)
          const timeout = Duration.fromInputUnsafe(options.connectTimeout ?? defaultConnectTimeout)
          const socket = yield* Effect.callback<Net.Socket, TransportError>((resume) => {
            const socket = Net.connect({ path })
            const onError = (error: unknown) => {
              socket.destroy()
              resume(
                Effect.fail(
                  classify(error, {
                    url: format(url),
                    address: url.abstract ? `@${path.slice(1)}` : path,
                    operation: "connect"
                  })
                )
              )
            }
            socket.once("error", onError)
            socket.once("connect", () => {
              socket.off("error", onError)
              resume(Effect.succeed(socket))
            })
            return Effect.sync(() => socket.destroy())
          }).pipe(
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () =>
                Effect.fail(
                  new TransportError({
                    reason: "TimedOut",
                    message: `connect to ${path} timed out after ${Duration.format(timeout)}`,
                    url: format(url),
                    operation: "connect"
                  })
                )
            })
          )
          return yield* makeStreamConnection(socket, {
            url,
            role: "client",
            tls: undefined,
            idleTimeout: options.idleTimeout,
            unixPath: { local: "", remote: path }
          })
        }),
  listen: (url, options) =>
    url.kind !== "unix"
      ? Effect.fail(unsupported(url, "unix:// needs a path", "listen"))
      : listenStream(listenSpec(url, options, { path: unixPath(url) }, undefined)),
  bind: noBind
}

const udg: Transport = {
  scheme: "udg",
  description: "Unix domain datagram socket: not available (Node's dgram has no AF_UNIX datagrams)",
  kind: "datagram",
  secure: false,
  connect: (url) => Effect.fail(udgUnsupported(url, "connect")),
  listen: (url) => Effect.fail(udgUnsupported(url, "listen")),
  bind: (url) => Effect.fail(udgUnsupported(url, "bind"))
}

const udgUnsupported = (url: TransportUrl, operation: string) =>
  unsupported(
    url,
    "udg:// (Unix datagram sockets) is not supported: Node's dgram module only opens udp4/udp6 sockets, and netdial adds no native addon; use unix:// for a local stream, or udp://127.0.0.1:PORT for local datagrams",
    operation
  )

const udp = (resolver: AddressResolver.AddressResolver["Service"]): Transport => ({
  scheme: "udp",
  description:
    "UDP datagrams: a connected client (each write is one datagram) or a bound endpoint (send-to/receive-from)",
  kind: "datagram",
  secure: false,
  connect: (url, options) =>
    url.kind !== "inet"
      ? notInet(url, "connect")
      : Effect.gen(function* () {
          const settings = dialSettings(options)
          const attempts = yield* resolveAttempts(url, resolver).pipe(
            Effect.map((a) => orderAttempts(a, settings.family)),
            Effect.flatMap((a) => applyPolicy(url, a, settings.addressPolicy))
          )
          if (attempts.length === 0) {
            return yield* new TransportError({
              reason: "HostNotFound",
              message: `${url.hostname} has no address for family ${settings.family}`,
              url: format(url),
              operation: "resolve"
            })
          }
          const remote = NetAddress.inetAddressFromNativeUnsafe(attempts[0].host, attempts[0].port)
          return yield* openConnectedUdp(
            remote,
            {
              ...(options.broadcast !== undefined ? { broadcast: options.broadcast } : {}),
              ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
              ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
              ...(options.receiveQueue !== undefined ? { receiveQueue: options.receiveQueue } : {})
            },
            { url }
          )
        }),
  listen: (url) =>
    Effect.fail(
      unsupported(url, "udp:// has no listen(): use bind() for a datagram endpoint (send-to/receive-from)", "listen")
    ),
  bind: (url, options) =>
    url.kind !== "inet"
      ? notInet(url, "bind")
      : Effect.gen(function* () {
          const host = yield* bindHost(url, resolver)
          const local = NetAddress.inetAddressFromNativeUnsafe(host, url.port)
          return yield* bindUdp(local, options, { url })
        })
})

/** Every built-in transport, in PHP's order. */
export const builtins = (resolver: AddressResolver.AddressResolver["Service"]): ReadonlyArray<Transport> => [
  tcpLike("tcp", "TCP stream", false, resolver),
  udp(resolver),
  tcpLike("ssl", "TCP + TLS 1.2 or 1.3 (ssl:// is an old name for tls://)", true, resolver),
  tcpLike("tls", "TCP + TLS 1.2 or 1.3 (1.0/1.1 only when asked, as OpenSSL 3 allows)", true, resolver),
  tcpLike("tlsv1.0", "TCP + TLS 1.0 only (needs securityLevel: 0 with OpenSSL 3)", true, resolver),
  tcpLike("tlsv1.1", "TCP + TLS 1.1 only (needs securityLevel: 0 with OpenSSL 3)", true, resolver),
  tcpLike("tlsv1.2", "TCP + TLS 1.2 only", true, resolver),
  tcpLike("tlsv1.3", "TCP + TLS 1.3 only", true, resolver),
  refused("sslv2"),
  refused("sslv3"),
  unix,
  udg
]

/**
 * A new scheme that behaves like `base` with default options, e.g.
 * `alias("mtls", tls, { cert, key, ca })`. Options passed to connect/listen override the defaults.
 */
export const alias = (
  scheme: string,
  base: Transport,
  defaults: { readonly connect?: ConnectOptions; readonly listen?: ListenOptions; readonly bind?: BindOptions },
  description?: string
): Transport => ({
  ...base,
  scheme,
  description: description ?? `${base.scheme} with defaults`,
  connect: (url, options) => base.connect(url, { ...defaults.connect, ...options }),
  listen: (url, options) => base.listen(url, { ...defaults.listen, ...options }),
  bind: (url, options) => base.bind(url, { ...defaults.bind, ...options })
})
