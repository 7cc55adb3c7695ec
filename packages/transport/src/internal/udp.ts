/**
 * The node:dgram core under `Udp.ts`: opening (bind, options, connect) with classified errors, a bounded receive
 * queue that drops and counts what does not fit, parked receivers that can be interrupted, and one-shot delivery of
 * socket errors (ICMP reports on a connected socket) to the next receiver.
 *
 * Why not `NodeDatagramSocket` from @effect/platform-node: it opens a fresh native socket on every `reader`
 * acquisition (a `Connection` is one socket, opened by the dial, with its addresses known up front, while
 * `Socket.toStream`/`toChannel` acquire the reader again and again), and it reports ICMP errors on a connected socket
 * only to an `onError` callback, never to a waiting `pull` — the one behaviour the connected client needs. Its read
 * errors are terminal (sticky), where a connected UDP socket must stay usable after a refusal. Wrapping it would mean
 * racing every pull against an error signal, so the core is written here against node:dgram directly, with the same
 * choices where they fit (IP literals only and no DNS in `lookup`, `exclusive` bind, a dropping bounded queue).
 */
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import * as Os from "node:os"
import { Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { NetAddress } from "effect/net"
import { TransportError } from "../TransportError.ts"
import { classify, optional } from "./classify.ts"

export type Family = "ipv4" | "ipv6"

/** A datagram as node:dgram handed it over; the sender's address is parsed only when someone takes it. */
export interface Received {
  readonly data: Uint8Array
  readonly host: string
  readonly port: number
}

/** What a receiver gets: datagrams, a socket error (one-shot), the end of the socket, or its own release. */
export type Outcome =
  | { readonly _tag: "Datagrams"; readonly datagrams: NonEmptyReadonlyArray<Received> }
  | { readonly _tag: "Failed"; readonly cause: unknown }
  | { readonly _tag: "Closed"; readonly byPeer: boolean }
  | { readonly _tag: "Released" }

interface Waiter {
  readonly all: boolean
  readonly owner: object | undefined
  readonly wake: (outcome: Outcome) => void
}

/** Largest UDP payload over IPv4 (65535 − 20 − 8); over IPv6 it is 65527. */
export const maxDatagramIpv4 = 65507
export const defaultReceiveQueue = 1024

const released: Outcome = { _tag: "Released" }

/**
 * One open node:dgram socket, bound (and for clients connected). Received datagrams go to the oldest parked receiver,
 * else into a queue of at most `capacity` datagrams; beyond that they are dropped and counted in `dropped`.
 *
 * Invariant: receivers park only when the queue is empty and no error is pending, so while any receiver is parked
 * the queue is empty.
 */
export class UdpCore {
  readonly socket: Dgram.Socket
  readonly family: Family
  readonly capacity: number
  dropped = 0
  closed: false | "local" | "peer" = false
  #items: Array<Received | undefined> = []
  #head = 0
  #pending: unknown
  #hasPending = false
  #waiters: Array<Waiter> = []
  #scopeIds: ReadonlyMap<string, number> | undefined

  constructor(socket: Dgram.Socket, family: Family, capacity: number) {
    this.socket = socket
    this.family = family
    this.capacity = capacity
  }

  get size(): number {
    return this.#items.length - this.#head
  }

  /** node:dgram `message` listener. */
  onMessage(message: Buffer, host: string, port: number): void {
    if (this.closed !== false) return
    // a view, not a copy: node allocates a fresh buffer for every datagram
    const item: Received = {
      data: new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
      host,
      port
    }
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) {
      waiter.wake({ _tag: "Datagrams", datagrams: [item] })
      return
    }
    if (this.size >= this.capacity) {
      this.dropped++
      return
    }
    this.#items.push(item)
  }

  /**
   * node:dgram `error` listener once the socket is open: the oldest parked receiver fails with it, or, when nobody
   * waits, the next receiver that finds the queue empty. One error is kept (the first); the kernel reports each ICMP
   * once, and a socket error does not end the socket.
   */
  onError(error: unknown): void {
    if (this.closed !== false) return
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) {
      waiter.wake({ _tag: "Failed", cause: error })
      return
    }
    if (!this.#hasPending) {
      this.#pending = error
      this.#hasPending = true
    }
  }

  /** node:dgram `close` listener: a close we did not ask for (the handle went away underneath). */
  onClose(): void {
    if (this.closed === false) this.#end("peer")
  }

  /** What a receiver gets right now, or `undefined` if it has to wait. Queued datagrams come before a pending error. */
  poll(all: boolean): Outcome | undefined {
    if (this.size > 0) return { _tag: "Datagrams", datagrams: all ? this.#takeAll() : [this.#takeOne()] }
    if (this.#hasPending) {
      const cause = this.#pending
      this.#pending = undefined
      this.#hasPending = false
      return { _tag: "Failed", cause }
    }
    if (this.closed !== false) return { _tag: "Closed", byPeer: this.closed === "peer" }
    return undefined
  }

  /**
   * Waits for the next outcome; interruption removes the receiver (nothing else is touched). `owner` groups the
   * receivers of one `reader` acquisition, so that releasing that reader fails exactly its parked pulls.
   */
  take(all: boolean, owner?: object): Effect.Effect<Outcome> {
    return Effect.callback<Outcome>((resume) => {
      const now = this.poll(all)
      if (now !== undefined) return resume(Effect.succeed(now))
      const waiter: Waiter = { all, owner, wake: (outcome) => resume(Effect.succeed(outcome)) }
      this.#waiters.push(waiter)
      return Effect.sync(() => {
        const index = this.#waiters.indexOf(waiter)
        if (index !== -1) this.#waiters.splice(index, 1)
      })
    })
  }

  /** Wakes the parked receivers of `owner` with `Released`. */
  release(owner: object): void {
    const mine = this.#waiters.filter((waiter) => waiter.owner === owner)
    if (mine.length === 0) return
    this.#waiters = this.#waiters.filter((waiter) => waiter.owner !== owner)
    for (const waiter of mine) waiter.wake(released)
  }

  /** Closes the socket (idempotent): queued datagrams are discarded, parked receivers get `Closed`. */
  close(): void {
    if (this.closed !== false) return
    this.#end("local")
    try {
      this.socket.close()
    } catch {
      // already closed underneath
    }
  }

  #end(how: "local" | "peer"): void {
    this.closed = how
    this.#items = []
    this.#head = 0
    this.#pending = undefined
    this.#hasPending = false
    const waiters = this.#waiters
    this.#waiters = []
    const outcome: Outcome = { _tag: "Closed", byPeer: how === "peer" }
    for (const waiter of waiters) waiter.wake(outcome)
  }

  #takeOne(): Received {
    const items = this.#items
    const item = items[this.#head]!
    items[this.#head++] = undefined
    if (this.#head === items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      this.#items = items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  #takeAll(): NonEmptyReadonlyArray<Received> {
    const items = this.#items
    const batch = this.#head === 0 ? items : items.slice(this.#head)
    this.#items = []
    this.#head = 0
    return batch as unknown as NonEmptyReadonlyArray<Received>
  }

  /** Interface names to IPv6 scope ids, read once per socket and only when a zone shows up. */
  scopeIds(refresh = false): ReadonlyMap<string, number> {
    if (this.#scopeIds === undefined || refresh) this.#scopeIds = interfaceScopeIds()
    return this.#scopeIds
  }

  /** An address node:dgram reported, as an effect/net value. */
  inetOf(host: string, port: number): NetAddress.InetAddress {
    if (!host.includes("%")) return NetAddress.inetAddressFromNativeUnsafe(host, port)
    try {
      return NetAddress.inetAddressFromNativeUnsafe(host, port, this.scopeIds())
    } catch {
      try {
        return NetAddress.inetAddressFromNativeUnsafe(host, port, this.scopeIds(true))
      } catch {
        // an interface that vanished: keep the address, lose the zone
        return NetAddress.inetAddressFromNativeUnsafe(host.slice(0, host.indexOf("%")), port)
      }
    }
  }

  /** The host string node:dgram needs to send to `to` from this socket (IPv4 as v4-mapped on an IPv6 socket). */
  nativeHost(to: NetAddress.InetAddress): string {
    if (this.family === "ipv6" && NetAddress.isInetAddressV4(to)) return `::ffff:${NetAddress.formatHost(to)}`
    if (NetAddress.isInetAddressV6(to) && to.scopeId !== 0) return NetAddress.formatNativeHost(to, this.scopeIds())
    return NetAddress.formatHost(to)
  }

  /** Sends one datagram and waits for node's send callback. `to` is omitted on a connected socket. */
  send(data: Uint8Array | string, to: { readonly host: string; readonly port: number } | undefined) {
    return Effect.callback<void, unknown>((resume) => {
      const done = (error: Error | null) => resume(error == null ? Effect.void : Effect.fail(error))
      try {
        if (to === undefined) this.socket.send(data, done)
        else this.socket.send(data, to.port, to.host, done)
      } catch (error) {
        resume(Effect.fail(error))
      }
    })
  }
}

const noScopeIds: ReadonlyMap<string, number> = new Map()

const interfaceScopeIds = (): ReadonlyMap<string, number> => {
  if (process.platform === "win32") return noScopeIds
  try {
    return NetAddress.scopeIdsFromInterfaces(Object.entries(Os.networkInterfaces()))
  } catch {
    return noScopeIds
  }
}

/** `address`'s host for node:dgram before a socket exists: a zone goes by interface name, as node needs it. */
export const nativeHostOf = (address: NetAddress.InetAddress): string =>
  NetAddress.isInetAddressV6(address) && address.scopeId !== 0
    ? NetAddress.formatNativeHost(address, interfaceScopeIds())
    : NetAddress.formatHost(address)

// Every address reaching the socket is an IP literal: answer at once (no DNS, no extra tick per send).
const immediateLookup = (
  hostname: string,
  family: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void
) => callback(null, hostname, family === 6 ? 6 : 4)

export interface OpenPlan {
  readonly family: Family
  /** IP literal (an IPv6 zone by name) to bind. */
  readonly bindHost: string
  readonly bindPort: number
  readonly connect?: { readonly host: string; readonly port: number } | undefined
  readonly reuseAddress?: boolean | undefined
  readonly ipv6Only?: boolean | undefined
  readonly broadcast?: boolean | undefined
  readonly receiveBufferSize?: number | undefined
  readonly sendBufferSize?: number | undefined
  readonly capacity: number
  /** For error messages: the canonical URL, and the addresses as `host:port` / `[v6]:port`. */
  readonly url: string
  readonly bindAddress: string
  readonly connectAddress?: string | undefined
}

/**
 * Creates, binds, configures and (with `connect`) connects a socket. Errors are classified: `bind` (EADDRINUSE →
 * AddressInUse, EACCES → PermissionDenied, EADDRNOTAVAIL → Unreachable), `setsockopt`, `connect`. Bind and connect
 * on IP literals finish within a tick, so callers acquire this uninterruptibly; if interrupted anyway, the socket is
 * closed.
 */
export const openCore = (plan: OpenPlan): Effect.Effect<UdpCore, TransportError> =>
  Effect.callback<UdpCore, TransportError>((resume) => {
    let socket: Dgram.Socket
    try {
      socket = Dgram.createSocket({
        type: plan.family === "ipv6" ? "udp6" : "udp4",
        ...optional({ reuseAddr: plan.reuseAddress, ipv6Only: plan.ipv6Only }),
        lookup: immediateLookup as unknown as NonNullable<Dgram.SocketOptions["lookup"]>
      })
    } catch (error) {
      return resume(Effect.fail(classify(error, { url: plan.url, address: plan.bindAddress, operation: "socket" })))
    }
    const core = new UdpCore(socket, plan.family, plan.capacity)
    let phase: "bind" | "connect" | "open" = "bind"
    let settled = false
    const fail = (error: unknown, operation: string, address: string | undefined) => {
      if (settled) return
      settled = true
      core.close()
      resume(Effect.fail(classify(error, { url: plan.url, address, operation })))
    }
    const succeed = () => {
      if (settled) return
      settled = true
      phase = "open"
      resume(Effect.succeed(core))
    }
    socket.on("message", (message, info) => core.onMessage(message, info.address, info.port))
    // node throws on an `error` event with no listener, so one is always attached
    socket.on("error", (error) => {
      if (phase === "open") return core.onError(error)
      fail(error, phase, phase === "bind" ? plan.bindAddress : plan.connectAddress)
    })
    socket.on("close", () => core.onClose())
    const configure = () => {
      try {
        if (plan.receiveBufferSize !== undefined) socket.setRecvBufferSize(plan.receiveBufferSize)
        if (plan.sendBufferSize !== undefined) socket.setSendBufferSize(plan.sendBufferSize)
        if (plan.broadcast !== undefined) socket.setBroadcast(plan.broadcast)
      } catch (error) {
        return fail(error, "setsockopt", plan.bindAddress)
      }
      const connect = plan.connect
      if (connect === undefined) return succeed()
      phase = "connect"
      try {
        socket.connect(connect.port, connect.host, (error?: Error) => {
          if (error) return fail(error, "connect", plan.connectAddress)
          succeed()
        })
      } catch (error) {
        fail(error, "connect", plan.connectAddress)
      }
    }
    try {
      // `exclusive`: in a cluster worker, bind a socket of our own rather than share the primary's
      socket.bind({ address: plan.bindHost, port: plan.bindPort, exclusive: true }, configure)
    } catch (error) {
      fail(error, "bind", plan.bindAddress)
    }
    return Effect.sync(() => {
      if (settled) return
      settled = true
      core.close()
    })
  })

/** `TransportError` with reason `BadOption`. */
export const badOption = (message: string, url: string): TransportError =>
  new TransportError({ reason: "BadOption", message, url })

/** `TransportError` with reason `Closed`. */
export const closedError = (message: string, url: string, address?: string): TransportError =>
  new TransportError({ reason: "Closed", message, url, ...optional({ address }) })

/**
 * Classifies a send failure, with a readable message for the one UDP-specific case: a datagram too large for the
 * protocol (EMSGSIZE; classified `Unknown` with that code).
 */
export const sendError = (error: unknown, url: string, address: string, size: number): TransportError => {
  const classified = classify(error, { url, address, operation: "send" })
  if (classified.code !== "EMSGSIZE") return classified
  return new TransportError({
    reason: classified.reason,
    message: `send ${address}: a datagram of ${size} bytes is larger than UDP allows (${maxDatagramIpv4} bytes of payload over IPv4, 65527 over IPv6) (EMSGSIZE)`,
    url,
    address,
    code: "EMSGSIZE",
    ...optional({ errno: classified.errno }),
    operation: "send",
    cause: error
  })
}

/** The family of an IP literal (zones allowed), or `undefined`. */
export const familyOfLiteral = (host: string): Family | undefined => {
  const version = Net.isIP(host)
  return version === 4 ? "ipv4" : version === 6 ? "ipv6" : undefined
}

export const familyOfInet = (address: NetAddress.InetAddress): Family =>
  NetAddress.isInetAddressV4(address) ? "ipv4" : "ipv6"

const isPositiveInt = (n: number) => Number.isSafeInteger(n) && n > 0

/** Checks the numeric options a caller can get wrong; the lead's Schema will sit in front of this. */
export const checkNumbers = (
  options: {
    readonly receiveQueue?: number | undefined
    readonly receiveBufferSize?: number | undefined
    readonly sendBufferSize?: number | undefined
    readonly localPort?: number | undefined
  },
  url: string
): TransportError | undefined => {
  for (const key of ["receiveQueue", "receiveBufferSize", "sendBufferSize"] as const) {
    const value = options[key]
    if (value !== undefined && !isPositiveInt(value))
      return badOption(`udp option \`${key}\` must be a positive integer, got ${value}`, url)
  }
  const port = options.localPort
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
    return badOption(`udp option \`localPort\` must be an integer in 0..65535, got ${port}`, url)
  return undefined
}
