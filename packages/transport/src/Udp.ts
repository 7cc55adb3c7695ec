/**
 * UDP for netdial: a connected client that is a `Connection` (`udp://host:port` dialed), and a bound endpoint with
 * sendto/recvfrom (`udp://host:port` served).
 *
 * What PHP does and netdial does not:
 * - `stream_socket_recvfrom` cuts a datagram longer than its `len` (the rest is lost); here every datagram is
 *   delivered whole, up to the protocol's 65507 bytes (IPv4).
 * - `stream_socket_recvfrom` ignores `stream_set_timeout` and can hang forever; here `receive` and `pull` are
 *   interruptible, so `Effect.timeout` works.
 * - An ICMP port-unreachable on a connected socket shows up in PHP as `fread` → false + `feof`; here it is a typed
 *   failure (`TransportError` with reason `Refused`), and, as in PHP, the socket stays usable.
 *
 * UDP is lossy and so is this: datagrams that arrive while nobody receives wait in a bounded queue
 * (`receiveQueue`, 1024 datagrams by default); when it is full, newer datagrams are dropped and counted
 * (`dropped()`). Memory is bounded by `receiveQueue` × 64 KiB.
 */
import { format, formatUrlHost, parse, type TransportUrl } from "@netdial/url"
import { Cause, Effect, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { NetAddress } from "effect/net"
import { Socket } from "effect/socket"
import type { Connection } from "./Connection.ts"
import { classify, optional } from "./internal/classify.ts"
import {
  badOption,
  checkNumbers,
  closedError,
  defaultReceiveQueue,
  familyOfInet,
  familyOfLiteral,
  nativeHostOf,
  type Outcome,
  openCore,
  type Received,
  sendError,
  type UdpCore
} from "./internal/udp.ts"
import { TransportError } from "./TransportError.ts"

/** Socket options for `openConnectedUdp` and `bindUdp`. */
export interface UdpOptions {
  /** SO_BROADCAST: allow sending to (and connecting to) a broadcast address. */
  readonly broadcast?: boolean | undefined
  /** SO_REUSEADDR (SO_REUSEPORT semantics on BSD/macOS for UDP): share the local address with other sockets. */
  readonly reuseAddress?: boolean | undefined
  /** IPV6_V6ONLY: an IPv6 socket bound to `::` does not also receive IPv4 (v4-mapped) traffic. */
  readonly ipv6Only?: boolean | undefined
  /** SO_RCVBUF in bytes (Linux doubles it and caps it at `net.core.rmem_max`). */
  readonly receiveBufferSize?: number | undefined
  /** SO_SNDBUF in bytes (Linux doubles it and caps it at `net.core.wmem_max`). */
  readonly sendBufferSize?: number | undefined
  /**
   * Datagrams kept while nobody receives; beyond this they are dropped and counted in `dropped()`. Default 1024.
   */
  readonly receiveQueue?: number | undefined
  /** Connected client only: the local IP literal to bind before connecting (default: any address of the family). */
  readonly localAddress?: string | undefined
  /** Connected client only: the local port to bind before connecting (default 0, an ephemeral port). */
  readonly localPort?: number | undefined
}

/**
 * A connected UDP client. Beyond `Connection`:
 * - `mode` is `"datagram"`: each `writer.write(chunk)` sends exactly one datagram (a string as UTF-8; `writeAll`
 *   sends one per element), and each element of a `reader.pull` batch is one received datagram, never merged or
 *   split. A `CloseEvent` written closes the connection.
 * - `reader.pull` fails with a `SocketError` whose `reason` is a `SocketReadError` and whose `cause` is a
 *   `TransportError` with reason `Refused` when the peer's host answered a datagram with ICMP port-unreachable
 *   (nothing listens on that port). The ICMP arrives asynchronously, so it is reported by the first pull that finds
 *   no datagram queued (datagrams already received come first); it is reported once, and the connection stays
 *   usable: later writes go out and later pulls wait for datagrams, as in PHP. Other socket errors are reported the
 *   same way, classified.
 * - `reader.pull` after `close` (or the dial's scope closing) fails with a `SocketError` wrapping
 *   `SocketCloseError` code 1000 (1006 if the socket was closed underneath us). Releasing a `reader` acquisition's
 *   scope fails that reader's suspended pulls the same way (the `effect/socket` reader contract) but does not close
 *   the connection: the dial's scope owns it, so `Socket.toStream` and `Socket.toChannel` can be run more than once.
 *   Concurrent pulls are served oldest first.
 * - `shutdownWrite` succeeds and does nothing, and so does releasing the `writer` scope: UDP has no half-close
 *   (there is no FIN to send, and the peer could not observe one). Writes keep working afterwards. It does not fail,
 *   so that code written for any `Connection` (request, half-close, read the reply) works over UDP unchanged.
 * - Writes fail with a `SocketError` wrapping `SocketWriteError` whose `cause` is the classified `TransportError`
 *   (reason `Closed` after `close`).
 * - `tls` is `undefined`; `reader.upgrade` fails (there is no DTLS).
 */
export interface UdpConnection extends Connection {
  readonly mode: "datagram"
  readonly role: "client"
  readonly localAddress: NetAddress.InetAddress
  readonly remoteAddress: NetAddress.InetAddress
  readonly tls: undefined
  /** Every pulled element is one datagram's bytes (never a string). */
  readonly reader: Effect.Effect<Socket.Reader<Uint8Array>, Socket.SocketError, Scope.Scope>
  /** Datagrams dropped because the receive queue (`receiveQueue`) was full, since the connection opened. */
  readonly dropped: () => number
}

/** A received datagram: its payload (whole, never truncated) and its sender. */
export interface Datagram {
  readonly data: Uint8Array
  readonly from: NetAddress.InetAddress
}

/**
 * A bound, unconnected UDP socket: PHP's `stream_socket_sendto`/`stream_socket_recvfrom`, without the traps.
 */
export interface DatagramEndpoint {
  readonly url: TransportUrl
  /** The bound address; with port 0 requested, the ephemeral port the OS chose. */
  readonly localAddress: NetAddress.InetAddress
  /**
   * Sends one datagram (a string as UTF-8) and waits until the OS has taken it. An IPv4 destination from an IPv6
   * socket goes out as v4-mapped (needs a dual-stack socket: bound to `::` without `ipv6Only`); an IPv6 destination
   * from an IPv4 socket fails with `UnsupportedTransport`. Too large a datagram fails with code `EMSGSIZE`.
   */
  send(data: Uint8Array | string, to: NetAddress.InetAddress): Effect.Effect<void, TransportError>
  /**
   * The next datagram, waiting if none is queued (interruptible: use `Effect.timeout`). Fails with `Closed` once the
   * endpoint is closed, or with a classified socket error (reported once).
   */
  readonly receive: Effect.Effect<Datagram, TransportError>
  /**
   * The datagrams, in arrival order; the stream ends when the endpoint is closed. It shares the queue with
   * `receive`: each datagram goes to one of them.
   */
  readonly datagrams: Stream.Stream<Datagram, TransportError>
  /** Datagrams dropped because the receive queue (`receiveQueue`) was full, since the endpoint was bound. */
  readonly dropped: () => number
  /** Closes the socket (also done when the scope closes); pending and later `receive`s fail with `Closed`. */
  readonly close: Effect.Effect<void>
}

const inetText = (address: NetAddress.InetAddress) => NetAddress.formatInet(address)
const textOf = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)

const socketClose = (byPeer: boolean, closeReason: string) =>
  new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: byPeer ? 1006 : 1000, closeReason }) })
const socketRead = (cause: TransportError) => new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })
const socketWrite = (cause: TransportError) =>
  new Socket.SocketError({ reason: new Socket.SocketWriteError({ cause }) })

/**
 * Opens a UDP socket `connect(2)`-ed to `remote` (udp4 or udp6 after `remote`'s family), as a `Connection`. Like
 * PHP's, the connect sends nothing and succeeds even if nothing listens: a refusal is only known after a write
 * (see `UdpConnection`). The socket is closed when the scope closes, on success, failure or interruption.
 *
 * Fails with a classified `TransportError`: `BadOption` for bad options (a `localAddress` that is not an IP literal
 * or not of `remote`'s family, a port out of range), `AddressInUse`/`PermissionDenied` from the bind,
 * `Unreachable` from the connect.
 */
export const openConnectedUdp = (
  remote: NetAddress.InetAddress,
  options: UdpOptions,
  context: { readonly url: TransportUrl }
): Effect.Effect<UdpConnection, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = format(context.url)
    const family = familyOfInet(remote)
    const bad = checkNumbers(options, url)
    if (bad !== undefined) return yield* Effect.fail(bad)
    if (remote.port === 0) return yield* Effect.fail(badOption(`cannot send to port 0 (${inetText(remote)})`, url))
    let bindHost = family === "ipv6" ? "::" : "0.0.0.0"
    if (options.localAddress !== undefined) {
      const localFamily = familyOfLiteral(options.localAddress)
      if (localFamily === undefined)
        return yield* Effect.fail(
          badOption(
            `udp option \`localAddress\` must be an IP address, got ${JSON.stringify(options.localAddress)}`,
            url
          )
        )
      if (localFamily !== family)
        return yield* Effect.fail(
          badOption(
            `udp option \`localAddress\` ${options.localAddress} is ${localFamily === "ipv4" ? "IPv4" : "IPv6"} but the remote address ${inetText(remote)} is not`,
            url
          )
        )
      bindHost = options.localAddress
    }
    const bindPort = options.localPort ?? 0
    const core = yield* acquire({
      family,
      bindHost,
      bindPort,
      connect: { host: nativeHostOf(remote), port: remote.port },
      ...optional({
        reuseAddress: options.reuseAddress,
        ipv6Only: options.ipv6Only,
        broadcast: options.broadcast,
        receiveBufferSize: options.receiveBufferSize,
        sendBufferSize: options.sendBufferSize
      }),
      capacity: options.receiveQueue ?? defaultReceiveQueue,
      url,
      bindAddress: textOf(bindHost, bindPort),
      connectAddress: inetText(remote)
    })
    return makeConnection(core, context.url, url, remote)
  })

/**
 * Binds an unconnected UDP socket to `local` (udp4 or udp6 after its family; port 0 → an ephemeral port, read back
 * in `localAddress`), for sendto/recvfrom. The socket is closed when the scope closes. `localAddress` and
 * `localPort` in `options` are ignored (the address is `local`).
 *
 * Fails with a classified `TransportError`: `AddressInUse` (taken, and not both sockets `reuseAddress`),
 * `PermissionDenied`, `Unreachable` (not a local address), `BadOption`.
 */
export const bindUdp = (
  local: NetAddress.InetAddress,
  options: UdpOptions,
  context: { readonly url: TransportUrl }
): Effect.Effect<DatagramEndpoint, TransportError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = format(context.url)
    const bad = checkNumbers({ ...options, localPort: undefined }, url)
    if (bad !== undefined) return yield* Effect.fail(bad)
    const family = familyOfInet(local)
    const core = yield* acquire({
      family,
      bindHost: nativeHostOf(local),
      bindPort: local.port,
      ...optional({
        reuseAddress: options.reuseAddress,
        ipv6Only: options.ipv6Only,
        broadcast: options.broadcast,
        receiveBufferSize: options.receiveBufferSize,
        sendBufferSize: options.sendBufferSize
      }),
      capacity: options.receiveQueue ?? defaultReceiveQueue,
      url,
      bindAddress: inetText(local)
    })
    return makeEndpoint(core, context.url, url)
  })

const acquire = (plan: Parameters<typeof openCore>[0]) =>
  Effect.acquireRelease(openCore(plan), (core) => Effect.sync(() => core.close()))

const makeConnection = (
  core: UdpCore,
  transportUrl: TransportUrl,
  url: string,
  remote: NetAddress.InetAddress
): UdpConnection => {
  const local = core.socket.address()
  const localAddress = core.inetOf(local.address, local.port)
  const peer = core.socket.remoteAddress()
  const remoteAddress = core.inetOf(peer.address, peer.port)
  const remoteText = inetText(remote)

  const readFailure = (outcome: Exclude<Outcome, { _tag: "Datagrams" }>): Socket.SocketError => {
    switch (outcome._tag) {
      case "Failed":
        return socketRead(classify(outcome.cause, { url, address: remoteText, operation: "read" }))
      case "Closed":
        return socketClose(outcome.byPeer, outcome.byPeer ? "the UDP socket was closed underneath" : "closed")
      case "Released":
        return socketClose(false, "reader released")
    }
  }

  const reader: UdpConnection["reader"] = Effect.suspend(() => {
    if (core.closed !== false) return Effect.fail(socketClose(core.closed === "peer", "closed"))
    const owner = { released: false }
    const pull: Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, Socket.SocketError> = Effect.suspend(() =>
      owner.released
        ? Effect.fail(socketClose(false, "reader released"))
        : Effect.flatMap(core.take(true, owner), (outcome) =>
            outcome._tag === "Datagrams"
              ? Effect.succeed(
                  outcome.datagrams.map((received) => received.data) as unknown as NonEmptyReadonlyArray<Uint8Array>
                )
              : Effect.fail(readFailure(outcome))
          )
    )
    return Effect.as(
      Effect.addFinalizer(() =>
        Effect.sync(() => {
          owner.released = true
          core.release(owner)
        })
      ),
      { pull, upgrade: Socket.SocketUpgradeError.unsupported }
    )
  })

  const send = (chunk: Uint8Array | string): Effect.Effect<void, Socket.SocketError> =>
    Effect.suspend(() => {
      if (core.closed !== false)
        return Effect.fail(
          socketWrite(closedError(`write ${remoteText}: the UDP connection is closed`, url, remoteText))
        )
      return Effect.mapError(core.send(chunk, undefined), (error) =>
        socketWrite(sendError(error, url, remoteText, sizeOf(chunk)))
      )
    })

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Socket.isCloseEvent(chunk) ? Effect.sync(() => core.close()) : send(chunk)

  const writeAll = (chunks: NonEmptyReadonlyArray<Uint8Array | string>): Effect.Effect<void, Socket.SocketError> =>
    Effect.forEach(chunks, send, { discard: true })

  return {
    [Socket.TypeId]: Socket.TypeId,
    reader,
    writer: Effect.succeed({ write, writeAll }),
    url: transportUrl,
    role: "client",
    localAddress,
    remoteAddress,
    tls: undefined,
    mode: "datagram",
    shutdownWrite: Effect.void,
    close: Effect.sync(() => core.close()),
    dropped: () => core.dropped
  }
}

/** The URL actually bound: port 0 replaced by the port the OS chose (as `Listener.url` does). */
const boundUrl = (url: TransportUrl, port: number): TransportUrl => {
  if (url.kind !== "inet" || url.port !== 0) return url
  const bound = parse(`${url.scheme}://${formatUrlHost(url)}:${port}`)
  return bound._tag === "Success" ? bound.success : url
}

const makeEndpoint = (core: UdpCore, transportUrl: TransportUrl, url: string): DatagramEndpoint => {
  const local = core.socket.address()
  const localAddress = core.inetOf(local.address, local.port)
  const localText = inetText(localAddress)

  const toDatagram = (received: Received): Datagram => ({
    data: received.data,
    from: core.inetOf(received.host, received.port)
  })
  const failure = (outcome: Exclude<Outcome, { _tag: "Datagrams" }>): TransportError =>
    outcome._tag === "Failed"
      ? classify(outcome.cause, { url, address: localText, operation: "receive" })
      : closedError(
          outcome._tag === "Closed" && outcome.byPeer
            ? `receive on ${localText}: the UDP socket was closed underneath`
            : `receive on ${localText}: the UDP endpoint is closed`,
          url,
          localText
        )

  const receive: Effect.Effect<Datagram, TransportError> = Effect.flatMap(core.take(false), (outcome) =>
    outcome._tag === "Datagrams" ? Effect.succeed(toDatagram(outcome.datagrams[0])) : Effect.fail(failure(outcome))
  )

  const pullBatch: Effect.Effect<NonEmptyReadonlyArray<Datagram>, TransportError | Cause.Done> = Effect.flatMap(
    core.take(true),
    (outcome): Effect.Effect<NonEmptyReadonlyArray<Datagram>, TransportError | Cause.Done> => {
      switch (outcome._tag) {
        case "Datagrams":
          return Effect.succeed(outcome.datagrams.map(toDatagram) as unknown as NonEmptyReadonlyArray<Datagram>)
        case "Closed":
          return Cause.done()
        default:
          return Effect.fail(failure(outcome))
      }
    }
  )

  const send = (data: Uint8Array | string, to: NetAddress.InetAddress): Effect.Effect<void, TransportError> =>
    Effect.suspend(() => {
      const toText = inetText(to)
      if (core.closed !== false)
        return Effect.fail(closedError(`send to ${toText}: the UDP endpoint is closed`, url, toText))
      if (core.family === "ipv4" && familyOfInet(to) === "ipv6")
        return Effect.fail(unsupportedFamily(toText, localText, url))
      return Effect.mapError(core.send(data, { host: core.nativeHost(to), port: to.port }), (error) =>
        sendError(error, url, toText, sizeOf(data))
      )
    })

  return {
    url: boundUrl(transportUrl, local.port),
    localAddress,
    send,
    receive,
    datagrams: Stream.fromPull(Effect.succeed(pullBatch)),
    dropped: () => core.dropped,
    close: Effect.sync(() => core.close())
  }
}

const unsupportedFamily = (toText: string, localText: string, url: string) =>
  new TransportError({
    reason: "UnsupportedTransport",
    message: `send ${toText}: an IPv4 endpoint (${localText}) cannot send to an IPv6 address; bind an IPv6 endpoint (\`[::]\` is dual-stack)`,
    url,
    address: toText,
    code: "EAFNOSUPPORT",
    operation: "send"
  })

const encoder = new TextEncoder()
const sizeOf = (data: Uint8Array | string) =>
  typeof data === "string" ? encoder.encode(data).byteLength : data.byteLength
