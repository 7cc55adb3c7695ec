/**
 * The parsed form of a transport URL, and its canonical string.
 *
 * Values are immutable and compare structurally with `Equal.equals`, so `parse(format(u))` equals `u`.
 */
import { Equal, Hash, Result } from "effect"
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

/**
 * Shared behaviour of both kinds. Instances are not frozen: freezing cost 50 ns per parse, a sixth of the budget;
 * every field is `readonly` in the types, and values are only made by `parse` and `fromHostPort`.
 */
abstract class UrlBase {
  declare readonly [TypeId]: typeof TypeId;
  [Equal.symbol](this: TransportUrl, that: unknown): boolean {
    return (
      isTransportUrl(that) &&
      this.kind === that.kind &&
      this.scheme === that.scheme &&
      this.port === that.port &&
      this.path === that.path &&
      this.hostname === that.hostname
    )
  }
  [Hash.symbol](this: TransportUrl): number {
    return Hash.string(format(this))
  }
  toString(this: TransportUrl): string {
    return format(this)
  }
  toJSON(this: TransportUrl): unknown {
    return this.kind === "inet"
      ? { scheme: this.scheme, kind: this.kind, hostname: this.hostname, hostKind: this.hostKind, port: this.port }
      : { scheme: this.scheme, kind: this.kind, path: this.path, abstract: this.abstract }
  }
  [Symbol.for("nodejs.util.inspect.custom")](this: TransportUrl): string {
    return `TransportUrl(${format(this)})`
  }
}

// Fields are assigned, not defined (`declare`), and constants live on the prototypes: both keep parse cheap.
class Inet extends UrlBase implements InetTransportUrl {
  declare readonly scheme: Scheme
  declare readonly kind: "inet"
  declare readonly hostname: string
  declare readonly hostKind: HostKind
  declare readonly zone: string | undefined
  declare readonly port: number
  declare readonly path: undefined
  declare readonly abstract: undefined
  #host: Host.Host | undefined
  constructor(scheme: Scheme, host: Host.Host | undefined, hostname: string, hostKind: HostKind, port: number) {
    super()
    this.scheme = scheme
    this.#host = host
    this.hostname = hostname
    this.hostKind = hostKind
    this.port = port
    const zoneAt = hostKind === "ipv6" ? hostname.indexOf("%") : -1
    this.zone = zoneAt === -1 ? undefined : hostname.slice(zoneAt + 1)
  }
  /**
   * The effect/net value, built on first use from the canonical text (which the parser has validated), so that a
   * parse that only needs the text does not pay for it.
   */
  get host(): Host.Host {
    if (this.#host === undefined) this.#host = Result.getOrThrow(hostFromCanonical(this.hostname, this.hostKind))
    return this.#host
  }
}

const hostFromCanonical = (hostname: string, kind: HostKind): Result.Result<Host.Host, NetAddress.NetAddressError> =>
  kind === "ipv4"
    ? NetAddress.ipv4FromString(hostname)
    : kind === "domain"
      ? Host.domainNameFromString(hostname)
      : hostname.includes("%")
        ? NetAddress.scopedIpv6LiteralFromString(hostname)
        : NetAddress.ipv6FromString(hostname)

class Unix extends UrlBase implements UnixTransportUrl {
  declare readonly scheme: Scheme
  declare readonly kind: "unix"
  declare readonly host: undefined
  declare readonly hostname: undefined
  declare readonly hostKind: undefined
  declare readonly zone: undefined
  declare readonly port: undefined
  declare readonly path: string
  declare readonly abstract: boolean
  constructor(scheme: Scheme, path: string) {
    super()
    this.scheme = scheme
    this.path = path
    this.abstract = path.charCodeAt(0) === 0
  }
}

const constants = (target: object, values: Record<PropertyKey, unknown>) => {
  for (const key of Reflect.ownKeys(values)) {
    Object.defineProperty(target, key, { value: values[key as string], enumerable: false, writable: false })
  }
}
constants(UrlBase.prototype, { [TypeId]: TypeId })
constants(Inet.prototype, { kind: "inet", path: undefined, abstract: undefined })
constants(Unix.prototype, {
  kind: "unix",
  host: undefined,
  hostname: undefined,
  hostKind: undefined,
  zone: undefined,
  port: undefined
})

export const isTransportUrl = (u: unknown): u is TransportUrl =>
  typeof u === "object" && u !== null && (u as { [TypeId]?: unknown })[TypeId] === TypeId

/** @internal Builds an inet URL from an already validated host, its canonical text and the port. */
export const makeInet = (
  scheme: Scheme,
  host: Host.Host | undefined,
  hostname: string,
  hostKind: HostKind,
  port: number
): InetTransportUrl => new Inet(scheme, host, hostname, hostKind, port)

/** @internal The canonical text and kind of an effect/net host (the slow, general path). */
export const describeHost = (host: Host.Host): { readonly hostname: string; readonly hostKind: HostKind } => {
  const hostname = Host.formatHost(host)
  const hostKind: HostKind =
    typeof host === "string"
      ? hostname.includes("%")
        ? "ipv6"
        : "domain"
      : NetAddress.isIpv4Address(host)
        ? "ipv4"
        : "ipv6"
  return { hostname, hostKind }
}

/** @internal Builds a unix URL from an already validated OS path. */
export const makeUnix = (scheme: Scheme, path: string): UnixTransportUrl => new Unix(scheme, path)

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
