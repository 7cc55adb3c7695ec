/**
 * The parsed form of a transport URL, and its canonical string.
 *
 * Values are immutable and compare structurally with `Equal.equals`, so `parse(format(u))` equals `u`.
 */
import { Equal, Hash } from "effect"
import { Host, NetAddress } from "effect/net"
import type { Scheme } from "./Scheme.ts"

const TypeId = "~@netdial/url/TransportUrl" as const

/** How the host of an inet URL was written. */
export type HostKind = "ipv4" | "ipv6" | "domain"

interface Base extends Equal.Equal {
  readonly [TypeId]: typeof TypeId
  /** Lower-case scheme; `tcp` when the input had none. */
  readonly scheme: Scheme
}

/** `scheme://host:port`: tcp, udp, ssl, tls*, and any custom host-and-port scheme. */
export interface InetTransportUrl extends Base {
  readonly kind: "inet"
  /** The effect/net value: an `IpAddress`, a `ScopedIpv6Literal` (`fe80::1%eth0`) or a `DomainName`. */
  readonly host: Host.Host
  /** Canonical host text without brackets: `127.0.0.1`, `::1`, `fe80::1%eth0`, `xn--bcher-kva.example.`. */
  readonly hostname: string
  readonly hostKind: HostKind
  /** IPv6 zone (scope) id, when one was given. */
  readonly zone: string | undefined
  /** 1–65535, or 0 when the caller allowed it. */
  readonly port: number
  readonly path: undefined
  readonly abstract: undefined
}

/** `unix://path` and `udg://path`, including Linux abstract names (`unix://@name`). */
export interface UnixTransportUrl extends Base {
  readonly kind: "unix"
  readonly host: undefined
  readonly hostname: undefined
  readonly hostKind: undefined
  readonly zone: undefined
  readonly port: undefined
  /** The socket address as the OS takes it: a file path, or for an abstract name a NUL byte then the name. */
  readonly path: string
  /** `true` for a Linux abstract-namespace name. */
  readonly abstract: boolean
}

export type TransportUrl = InetTransportUrl | UnixTransportUrl

const Proto = {
  [TypeId]: TypeId,
  [Equal.symbol](this: TransportUrl, that: unknown): boolean {
    return (
      isTransportUrl(that) &&
      this.kind === that.kind &&
      this.scheme === that.scheme &&
      this.port === that.port &&
      this.path === that.path &&
      this.hostname === that.hostname
    )
  },
  [Hash.symbol](this: TransportUrl): number {
    return Hash.string(format(this))
  },
  toString(this: TransportUrl): string {
    return format(this)
  },
  toJSON(this: TransportUrl): unknown {
    return this.kind === "inet"
      ? { scheme: this.scheme, kind: this.kind, hostname: this.hostname, hostKind: this.hostKind, port: this.port }
      : { scheme: this.scheme, kind: this.kind, path: this.path, abstract: this.abstract }
  },
  [Symbol.for("nodejs.util.inspect.custom")](this: TransportUrl): string {
    return `TransportUrl(${format(this)})`
  }
}

export const isTransportUrl = (u: unknown): u is TransportUrl =>
  typeof u === "object" && u !== null && (u as { [TypeId]?: unknown })[TypeId] === TypeId

/** @internal Builds an inet URL from an already validated host and port. */
export const makeInet = (scheme: Scheme, host: Host.Host, port: number): InetTransportUrl => {
  const self = Object.create(Proto)
  const hostname = Host.formatHost(host)
  self.scheme = scheme
  self.kind = "inet"
  self.host = host
  self.hostname = hostname
  if (typeof host === "string") {
    const zoneAt = hostname.indexOf("%")
    self.hostKind = zoneAt === -1 ? "domain" : "ipv6"
    self.zone = zoneAt === -1 ? undefined : hostname.slice(zoneAt + 1)
  } else {
    self.hostKind = NetAddress.isIpv4Address(host) ? "ipv4" : "ipv6"
    self.zone = undefined
  }
  self.port = port
  self.path = undefined
  self.abstract = undefined
  return Object.freeze(self)
}

/** @internal Builds a unix URL from an already validated OS path. */
export const makeUnix = (scheme: Scheme, path: string): UnixTransportUrl => {
  const self = Object.create(Proto)
  self.scheme = scheme
  self.kind = "unix"
  self.host = undefined
  self.hostname = undefined
  self.hostKind = undefined
  self.zone = undefined
  self.port = undefined
  self.path = path
  self.abstract = path.charCodeAt(0) === 0
  return Object.freeze(self)
}

/**
 * The host as it goes in a URL: IPv6 in brackets, a zone in the RFC 6874 form (`[fe80::1%25eth0]`), which reads back
 * unambiguously whatever the zone is called.
 */
export const formatUrlHost = (url: InetTransportUrl): string => {
  if (url.hostKind !== "ipv6") return url.hostname
  if (url.zone === undefined) return `[${url.hostname}]`
  const at = url.hostname.indexOf("%")
  return `[${url.hostname.slice(0, at)}%25${url.zone}]`
}

/**
 * The canonical string: always with its scheme, lower-case host, IPv6 bracketed, port without padding;
 * unix paths verbatim, abstract names as `@name`. `parse(format(u))` equals `u`.
 */
export const format = (url: TransportUrl): string =>
  url.kind === "inet"
    ? `${url.scheme}://${formatUrlHost(url)}:${url.port}`
    : `${url.scheme}://${url.abstract ? `@${url.path.slice(1)}` : url.path}`
