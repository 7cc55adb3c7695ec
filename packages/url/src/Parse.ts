/**
 * `parse` (the `stream_socket_client` form, `scheme://host:port`) and `fromHostPort` (the `fsockopen` form, host and
 * port apart). Both return a `Result` and never throw. Where PHP is lax (atoi ports, ignored `/path`, unbracketed
 * IPv6, inet_aton IPv4 spellings, silent truncation of long unix paths) they refuse with a `TransportUrlError` that
 * says what to write instead.
 */
import { Result } from "effect"
import { Host, NetAddress } from "effect/net"
import { fastDomainName, fastIpv6, isStrictIpv4 } from "./internal/fastHost.ts"
import { legacyIpv4Octets } from "./internal/legacyIpv4.ts"
import { defaultScheme, isKnownScheme, isSchemeToken, type Scheme } from "./Scheme.ts"
import { describeHost, type HostKind, makeInet, makeUnix, type TransportUrl } from "./TransportUrl.ts"
import { TransportUrlError, type TransportUrlErrorReason } from "./TransportUrlError.ts"

export interface ParseOptions {
  /** Port to use when the input has none (`tcp://example.com`). Without it a missing port is an error. */
  readonly defaultPort?: number | undefined
  /** Accept port 0, which asks the OS for an ephemeral port: for servers that bind. Default `false`. */
  readonly allowPortZero?: boolean | undefined
  /**
   * Accept the inet_aton IPv4 spellings (`127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433`) and normalise them to
   * dotted decimal. Default `false`: they are a well-known way to slip past address filters (SSRF).
   */
  readonly allowLegacyIpv4?: boolean | undefined
  /** Scheme for input without one. Default `tcp`, as in PHP. */
  readonly defaultScheme?: string | undefined
  /** Extra schemes whose address is a path rather than `host:port` (`unix` and `udg` always are). */
  readonly pathSchemes?: ReadonlyArray<string> | undefined
  /**
   * Longest unix socket path, in UTF-8 bytes, not counting the terminating NUL. Default 107, Linux's limit
   * (`sun_path` is 108 bytes); macOS and the BSDs allow 103. PHP silently truncates longer paths; netdial refuses.
   */
  readonly maxUnixPathBytes?: number | undefined
}

/** Linux's `sizeof(sun_path) - 1`. */
export const defaultMaxUnixPathBytes = 107

type Fail = Result.Failure<never, TransportUrlError>

/** Internal steps return their value or a `Fail`, so the common path allocates no intermediate `Result`s. */
type Outcome<A> = A | Fail

// None of the internal values has a `_tag`, so this is all it takes (cheaper than Result.isResult).
const isFail = (u: unknown): u is Fail => typeof u === "object" && (u as { _tag?: unknown })._tag === "Failure"

const fail = (
  reason: TransportUrlErrorReason,
  input: string,
  position: number,
  message: string,
  suggestion?: string
): Fail =>
  Result.fail(
    new TransportUrlError(
      suggestion === undefined
        ? { reason, input, position, message }
        : { reason, input, position, message: `${message}: ${suggestion}`, suggestion }
    )
  ) as Fail

/** What the scheme step found: the scheme, and where the address starts. */
interface SchemePart {
  readonly scheme: Scheme
  readonly start: number
  readonly explicit: boolean
}

/**
 * Parses a transport URL: `[scheme://]address`, where the address is `host:port` or, for unix/udg, a path.
 *
 * @example
 * parse("tcp://[::1]:80")          // Success: scheme tcp, hostname "::1", port 80
 * parse("127.0.0.1:80")            // Success: scheme tcp (the default)
 * parse("unix:///run/app.sock")    // Success: kind unix, path "/run/app.sock"
 * parse("tcp://::1:80")            // Failure: UnbracketedIpv6, suggests tcp://[::1]:80
 */
export const parse = (input: string, options?: ParseOptions): Result.Result<TransportUrl, TransportUrlError> => {
  const result = parseUnchecked(input, options)
  return Result.isSuccess(result) ? result : checkSuggestion(result, (text) => parseUnchecked(text, options))
}

const parseUnchecked = (input: string, options?: ParseOptions): Result.Result<TransportUrl, TransportUrlError> => {
  if (typeof input !== "string") {
    return fail("NotAString", String(input), 0, `A transport URL must be a string, not ${describe(input)}`)
  }
  const opts = checkOptions(input, options)
  if (isFail(opts)) return opts
  const bad = scanCharacters(input, opts)
  if (bad !== undefined) return bad
  const scheme = splitScheme(input, opts)
  if (isFail(scheme)) return scheme
  const { scheme: name, start } = scheme
  if (isPathScheme(name, opts)) return parsePath(input, name, start, opts)
  return parseAuthority(input, name, start, opts, scheme.explicit)
}

/**
 * The `fsockopen(host, port)` form: the host (optionally with a scheme, as in `ssl://mail.example.com`) and the port
 * apart. A raw IPv6 host works without brackets (`::1`, `fe80::1%eth0`), unlike PHP, which builds `::1:80` and fails.
 * With `port` undefined the host must carry its own port (PHP's port -1). unix/udg paths take no port.
 */
export const fromHostPort = (
  host: string,
  port: number | undefined,
  options?: ParseOptions
): Result.Result<TransportUrl, TransportUrlError> =>
  checkSuggestion(fromHostPortUnchecked(host, port, options), (text) => fromHostPortUnchecked(text, port, options))

const fromHostPortUnchecked = (
  host: string,
  port: number | undefined,
  options?: ParseOptions
): Result.Result<TransportUrl, TransportUrlError> => {
  if (typeof host !== "string") {
    return fail("NotAString", String(host), 0, `The host must be a string, not ${describe(host)}`)
  }
  if (port === undefined) return parseUnchecked(host, options)
  const opts = checkOptions(host, options)
  if (isFail(opts)) return opts
  const bad = scanCharacters(host, opts)
  if (bad !== undefined) return bad
  const scheme = splitScheme(host, opts)
  if (isFail(scheme)) return scheme
  const { scheme: name, start } = scheme
  if (isPathScheme(name, opts)) {
    return fail(
      "PortNotAllowed",
      host,
      start,
      `${name}:// sockets are addressed by path and take no port (PHP would look for a file named "path:${port}"); pass no port`
    )
  }
  const checkedPort = checkPortNumber(host, port, opts)
  if (isFail(checkedPort)) return checkedPort
  const rest = host.slice(start)
  if (rest.length === 0) return fail("MissingHost", host, start, "The host is empty; give a host name or an IP address")
  const special = findSpecial(host, start, host.length)
  if (special !== undefined) return special
  if (rest.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf("]", start)
    if (close !== -1 && close + 1 < host.length) {
      if (host.charCodeAt(close + 1) === 0x3a) return portConflict(host, close + 1, port)
      return fail(
        "InvalidIpv6",
        host,
        close + 1,
        `Nothing may follow the closing "]" of the host; remove "${host.slice(close + 1)}"`
      )
    }
    return parseBracketed(host, name, start, host.length, opts, port)
  }
  const firstColon = host.indexOf(":", start)
  if (firstColon !== -1) {
    if (host.indexOf(":", firstColon + 1) === -1) return portConflict(host, firstColon, port)
    // Two or more colons: a raw IPv6 address, the case PHP gets wrong.
    return toUrl(name, parseIpv6Text(host, start, host.length, rest), port)
  }
  return toUrl(name, parseHost(host, start, host.length, opts), port)
}

/**
 * A suggestion is only offered if it is itself accepted (with the same options); otherwise the message still says
 * what is wrong, without a fix that would fail in turn.
 */
const checkSuggestion = (
  result: Result.Result<TransportUrl, TransportUrlError>,
  retry: (text: string) => Result.Result<TransportUrl, TransportUrlError>
): Result.Result<TransportUrl, TransportUrlError> => {
  if (Result.isSuccess(result) || result.failure.suggestion === undefined) return result
  const { reason, input, position, message, suggestion } = result.failure
  if (Result.isSuccess(retry(suggestion))) return result
  const base = message.slice(0, message.length - suggestion.length - 2)
  return Result.fail(new TransportUrlError({ reason, input, position, message: base }))
}

// ---------------------------------------------------------------------------------------------------------------
// options

interface Options {
  readonly defaultPort: number | undefined
  readonly allowPortZero: boolean
  readonly allowLegacyIpv4: boolean
  readonly defaultScheme: string
  readonly pathSchemes: ReadonlyArray<string> | undefined
  readonly maxUnixPathBytes: number
}

const defaults: Options = {
  defaultPort: undefined,
  allowPortZero: false,
  allowLegacyIpv4: false,
  defaultScheme,
  pathSchemes: undefined,
  maxUnixPathBytes: defaultMaxUnixPathBytes
}

const checkOptions = (input: string, options: ParseOptions | undefined): Outcome<Options> => {
  if (options === undefined) return defaults
  const allowPortZero = options.allowPortZero === true
  const opts: Options = {
    defaultPort: options.defaultPort,
    allowPortZero,
    allowLegacyIpv4: options.allowLegacyIpv4 === true,
    defaultScheme: options.defaultScheme ?? defaultScheme,
    pathSchemes: options.pathSchemes,
    maxUnixPathBytes: options.maxUnixPathBytes ?? defaultMaxUnixPathBytes
  }
  const port = opts.defaultPort
  if (port !== undefined && !(Number.isInteger(port) && port >= (allowPortZero ? 0 : 1) && port <= 65535)) {
    return fail("InvalidOption", input, 0, `Option defaultPort must be an integer from 1 to 65535, got ${port}`)
  }
  if (!isSchemeToken(opts.defaultScheme)) {
    return fail(
      "InvalidOption",
      input,
      0,
      `Option defaultScheme must be a scheme of two or more letters, digits, "+", "-" or ".", got "${opts.defaultScheme}"`
    )
  }
  if (!(Number.isInteger(opts.maxUnixPathBytes) && opts.maxUnixPathBytes > 0)) {
    return fail(
      "InvalidOption",
      input,
      0,
      `Option maxUnixPathBytes must be a positive integer, got ${opts.maxUnixPathBytes}`
    )
  }
  return opts
}

const isPathScheme = (scheme: string, opts: Options): boolean =>
  scheme === "unix" || scheme === "udg" || opts.pathSchemes?.some((s) => s.toLowerCase() === scheme) === true

// ---------------------------------------------------------------------------------------------------------------
// characters

const isUnicodeSpace = (c: number): boolean =>
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000 ||
  c === 0xfeff

/**
 * Control characters (C0, DEL, C1) are refused everywhere; so is whitespace, except that a unix path may hold plain
 * spaces between other characters (`/Library/Application Support/…` is a real socket location). That exception is
 * checked in `parsePath`; here a space is only recorded.
 */
const notPrintableAscii = /[^\x21-\x7e]/

const scanCharacters = (input: string, opts: Options): Fail | undefined => {
  if (input.length === 0) {
    return fail("Empty", input, 0, 'The transport URL is empty; write one such as "tcp://127.0.0.1:80"')
  }
  // The common case, printable ASCII only, is one native regex scan.
  if (!notPrintableAscii.test(input)) return undefined
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i)
    if (c > 0x20 && c < 0x7f) continue
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      const what = c === 0 ? "a NUL byte" : `the control character U+${c.toString(16).toUpperCase().padStart(4, "0")}`
      const hint =
        c === 0
          ? "; for a Linux abstract unix socket write unix://@name"
          : "; remove it (was the text pasted from a terminal or a file with line endings?)"
      return fail("ControlCharacter", input, i, `The URL contains ${what} at position ${i}${hint}`)
    }
    if (c === 0x20 || isUnicodeSpace(c)) {
      if (c === 0x20 && allowsSpaces(input, opts)) continue
      return fail(
        "Whitespace",
        input,
        i,
        `The URL contains whitespace at position ${i}; remove it`,
        stripWhitespace(input)
      )
    }
  }
  return undefined
}

/** Spaces are only possible inside a unix/udg path; `parsePath` then refuses leading and trailing ones. */
const allowsSpaces = (input: string, opts: Options): boolean => {
  const sep = input.indexOf("://")
  return sep >= 2 && isPathScheme(input.slice(0, sep).toLowerCase(), opts)
}

const stripWhitespace = (input: string): string | undefined => {
  const stripped = input.replace(/[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+/g, "")
  return stripped.length > 0 ? stripped : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// scheme

const schemeChar = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x2b ||
  c === 0x2d ||
  c === 0x2e

const splitScheme = (input: string, opts: Options): Outcome<SchemePart> => {
  // Like PHP, a scheme is a run of [A-Za-z0-9+.-] directly followed by "://"; anything else is all address.
  let end = 0
  let upper = false
  for (; end < input.length; end++) {
    const c = input.charCodeAt(end)
    if (!schemeChar(c)) break
    if (c >= 0x41 && c <= 0x5a) upper = true
  }
  if (input.charCodeAt(end) === 0x3a && input.charCodeAt(end + 1) === 0x2f && input.charCodeAt(end + 2) === 0x2f) {
    const text = input.slice(0, end)
    if (end === 0) {
      return fail("InvalidScheme", input, 0, 'The scheme before "://" is missing', `tcp${input}`)
    }
    if (end === 1) {
      return fail(
        "InvalidScheme",
        input,
        0,
        `"${text}" is too short for a scheme (two characters at least; PHP would read "${text}" as a host name). Write a scheme such as tcp, udp or tls`,
        `tcp${input.slice(end)}`
      )
    }
    const first = input.charCodeAt(0)
    if (!((first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a))) {
      return fail(
        "InvalidScheme",
        input,
        0,
        `The scheme "${text}" must start with a letter (RFC 3986); use a known scheme such as tcp, udp, tls or unix`,
        `tcp${input.slice(end)}`
      )
    }
    return { scheme: upper ? text.toLowerCase() : text, start: end + 3, explicit: true }
  }
  if (end > 0 && input.charCodeAt(end) === 0x3a /* : */) {
    const text = input.slice(0, end).toLowerCase()
    const next = input.charCodeAt(end + 1)
    // "tcp:/host:80", "tcp:host:80", "unix:/tmp/s": a known scheme whose "//" went missing.
    if (next === 0x2f || isKnownScheme(text) || isPathScheme(text, opts)) {
      let from = end + 1
      while (input.charCodeAt(from) === 0x2f) from++
      const address = input.slice(from)
      const fixed =
        isPathScheme(text, opts) && next === 0x2f ? `${text}://${input.slice(end + 1)}` : `${text}://${address}`
      return fail(
        "MissingSlashes",
        input,
        end,
        `A scheme is followed by "://", not "${input.slice(end, from)}" (PHP would read "${input.slice(0, end)}" as a host name)`,
        fixed
      )
    }
  }
  return { scheme: opts.defaultScheme.toLowerCase(), start: 0, explicit: false }
}

// ---------------------------------------------------------------------------------------------------------------
// unix paths

const parsePath = (
  input: string,
  scheme: Scheme,
  start: number,
  opts: Options
): Result.Result<TransportUrl, TransportUrlError> => {
  if (start === input.length) {
    return fail("EmptyPath", input, start, `${scheme}:// needs a socket path`, `${scheme}:///run/app.sock`)
  }
  if (input.charCodeAt(start) === 0x20 || input.charCodeAt(input.length - 1) === 0x20) {
    const at = input.charCodeAt(start) === 0x20 ? start : input.length - 1
    return fail(
      "Whitespace",
      input,
      at,
      "A unix socket path may contain spaces, but not begin or end with one; remove it",
      `${scheme}://${input.slice(start).trim()}`
    )
  }
  const abstract = input.charCodeAt(start) === 0x40 /* @ */
  if (abstract && start + 1 === input.length) {
    return fail("EmptyPath", input, start + 1, "A Linux abstract socket needs a name after @", `${scheme}://@app`)
  }
  const name = abstract ? input.slice(start + 1) : input.slice(start)
  const bytes = utf8Length(name)
  if (bytes > opts.maxUnixPathBytes) {
    const what = abstract ? "abstract socket name" : "unix socket path"
    return fail(
      "PathTooLong",
      input,
      start + cutIndex(name, opts.maxUnixPathBytes) + (abstract ? 1 : 0),
      `The ${what} is ${bytes} bytes long; the limit is ${opts.maxUnixPathBytes} (PHP would silently cut it). Use a shorter path, e.g. in /run or /tmp`
    )
  }
  return Result.succeed(makeUnix(scheme, abstract ? `\u0000${name}` : name))
}

const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/** Index of the first character that no longer fits in `limit` bytes. */
const cutIndex = (text: string, limit: number): number => {
  let lo = 0
  let hi = text.length
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (utf8Length(text.slice(0, mid)) <= limit) lo = mid
    else hi = mid - 1
  }
  return lo
}

// ---------------------------------------------------------------------------------------------------------------
// host and port

/** `/`, `?`, `#` and `@` have no place in a transport address; PHP silently ignores or misreads them. */
const special = /[/?#@]/g

const findSpecial = (input: string, start: number, end: number): Fail | undefined => {
  // One native scan from `start` (the global flag makes the regex start at lastIndex); then find out which.
  special.lastIndex = start
  if (!special.test(input) || special.lastIndex > end) return undefined
  for (let i = start; i < end; i++) {
    const c = input.charCodeAt(i)
    if (c > 0x40) continue // letters and most punctuation: none of / ? # @
    if (c === 0x2f || c === 0x3f || c === 0x23) {
      const kind = c === 0x2f ? "Path" : c === 0x3f ? "Query" : "Fragment"
      const what = c === 0x2f ? "path" : c === 0x3f ? "query" : "fragment"
      const php = c === 0x2f ? " (PHP silently ignores it)" : ""
      const kept = input.slice(0, i)
      return fail(kind, input, i, `A transport address has no ${what}${php}; remove "${input.slice(i)}"`, kept)
    }
    if (c === 0x40) {
      const kept = input.slice(0, start) + input.slice(input.lastIndexOf("@", end - 1) + 1, end)
      return fail(
        "Userinfo",
        input,
        i,
        'A transport address has no user name or password (PHP would take the text before ":" as the host); remove the part up to "@"',
        kept
      )
    }
  }
  return undefined
}

const parseAuthority = (
  input: string,
  scheme: Scheme,
  start: number,
  opts: Options,
  explicitScheme: boolean
): Result.Result<TransportUrl, TransportUrlError> => {
  const end = input.length
  if (start === end) {
    return fail("MissingHost", input, start, `The host is missing: write ${input}HOST:PORT`)
  }
  const special = findSpecial(input, start, end)
  if (special !== undefined) return special
  if (input.charCodeAt(start) === 0x5b /* [ */) return parseBracketed(input, scheme, start, end, opts, undefined)
  const colon = input.indexOf(":", start)
  if (colon !== -1 && input.indexOf(":", colon + 1) !== -1) return unbracketedIpv6(input, scheme, start, explicitScheme)
  const hostEnd = colon === -1 ? end : colon
  if (hostEnd === start) {
    return fail(
      "MissingHost",
      input,
      start,
      `The host before ":" is missing: write ${input.slice(0, start)}HOST${input.slice(start)}`
    )
  }
  const port = colon === -1 ? missingPort(input, end, opts) : parsePort(input, colon + 1, opts)
  if (isFail(port)) return port
  return toUrl(scheme, parseHost(input, start, hostEnd, opts), port)
}

const parseBracketed = (
  input: string,
  scheme: Scheme,
  start: number,
  end: number,
  opts: Options,
  givenPort: number | undefined
): Result.Result<TransportUrl, TransportUrlError> => {
  const close = input.indexOf("]", start)
  if (close === -1 || close >= end) {
    return fail("InvalidIpv6", input, start, `The "[" that opens an IPv6 address has no closing "]"`)
  }
  let inner = input.slice(start + 1, close)
  if (inner.length === 0) {
    return fail("MissingHost", input, start + 1, 'The brackets hold no address; write an IPv6 address such as "[::1]"')
  }
  const zoneAt = inner.indexOf("%")
  // RFC 6874: in a URL the zone separator is written "%25"; a bare "%" (as getaddrinfo takes it) is accepted too.
  if (zoneAt !== -1 && inner.startsWith("25", zoneAt + 1) && zoneAt + 3 < inner.length) {
    inner = inner.slice(0, zoneAt + 1) + inner.slice(zoneAt + 3)
  }
  const addressText = zoneAt === -1 ? inner : inner.slice(0, zoneAt)
  if (!addressText.includes(":")) {
    const plain = Result.isSuccess(Host.hostFromString(addressText))
    const after = input.slice(close + 1)
    return fail(
      "BracketedNonIpv6",
      input,
      start,
      `Brackets are only for IPv6 addresses; "${addressText}" is not one (PHP accepts it unchecked), so write it without brackets`,
      plain && zoneAt === -1 ? `${input.slice(0, start)}${addressText}${after}` : undefined
    )
  }
  const host = parseIpv6Text(input, start + 1, close, inner)
  if (isFail(host)) return host
  let port: Outcome<number>
  if (givenPort !== undefined) port = givenPort
  else if (close + 1 === end) port = missingPort(input, end, opts)
  else if (input.charCodeAt(close + 1) === 0x3a) port = parsePort(input, close + 2, opts)
  else {
    return fail(
      "InvalidIpv6",
      input,
      close + 1,
      `After "]" comes ":" and the port, not "${input.slice(close + 1)}"`,
      /^\d+$/.test(input.slice(close + 1)) ? `${input.slice(0, close + 1)}:${input.slice(close + 1)}` : undefined
    )
  }
  if (isFail(port)) return port
  return Result.succeed(inet(scheme, host, port))
}

/** A host value with its canonical text and kind. */
interface ParsedHost {
  /** The effect/net value when the general path made it; fast paths leave it to be built on first use. */
  readonly host: Host.Host | undefined
  readonly hostname: string
  readonly hostKind: HostKind
}

const inet = (scheme: Scheme, h: ParsedHost, port: number) => makeInet(scheme, h.host, h.hostname, h.hostKind, port)

const toUrl = (scheme: Scheme, h: Outcome<ParsedHost>, port: number): Result.Result<TransportUrl, TransportUrlError> =>
  isFail(h) ? h : Result.succeed(inet(scheme, h, port))

const general = (host: Host.Host): ParsedHost => ({ host, ...describeHost(host) })

/** An IPv6 address, maybe with a zone, as the text between brackets or a raw fsockopen host. */
const parseIpv6Text = (input: string, start: number, end: number, text: string): Outcome<ParsedHost> => {
  const fast = fastIpv6(text)
  if (fast !== undefined) return { host: undefined, hostname: fast, hostKind: "ipv6" }
  const parsed: Result.Result<Host.Host, NetAddress.NetAddressError> = text.includes("%")
    ? NetAddress.scopedIpv6LiteralFromString(text)
    : NetAddress.ipv6FromString(text)
  if (Result.isSuccess(parsed)) return general(parsed.success)
  return fail(
    "InvalidIpv6",
    input,
    start,
    `"${input.slice(start, end)}" is not a valid IPv6 address (${parsed.failure.message}); write one such as ::1 or fe80::1%eth0`
  )
}

/** `::1:80`, `fe80::1%eth0:443`: which colon starts the port cannot be known, so brackets are required. */
const unbracketedIpv6 = (input: string, scheme: Scheme, start: number, explicitScheme: boolean): Fail => {
  const address = input.slice(start)
  const last = address.lastIndexOf(":")
  const head = address.slice(0, last)
  const tail = address.slice(last + 1)
  const prefix = explicitScheme ? `${scheme}://` : "tcp://"
  let suggestion: string | undefined
  if (/^[1-9]\d{0,4}$/.test(tail) && Number(tail) <= 65535 && isIpv6Text(head)) {
    suggestion = `${prefix}[${bracketZone(head)}]:${tail}`
  } else if (isIpv6Text(address)) {
    return fail(
      "UnbracketedIpv6",
      input,
      start,
      `IPv6 addresses go in brackets, followed by the port: write ${prefix}[${bracketZone(address)}]:PORT`
    )
  }
  if (suggestion === undefined) {
    return fail(
      "InvalidHost",
      input,
      input.indexOf(":", input.indexOf(":", start) + 1),
      'An address has one ":" before the port; for an IPv6 address put it in brackets, as in tcp://[::1]:80'
    )
  }
  return fail("UnbracketedIpv6", input, start, "IPv6 addresses need brackets when a port follows", suggestion)
}

const isIpv6Text = (text: string): boolean =>
  text.includes("%")
    ? Result.isSuccess(NetAddress.scopedIpv6LiteralFromString(text))
    : Result.isSuccess(NetAddress.ipv6FromString(text))

const bracketZone = (text: string): string => {
  const at = text.indexOf("%")
  return at === -1 ? text : `${text.slice(0, at)}%25${text.slice(at + 1)}`
}

/** A host that is not bracketed: dotted-quad IPv4 or a domain name (IDN to punycode, trailing dot kept). */
const parseHost = (input: string, start: number, end: number, opts: Options): Outcome<ParsedHost> => {
  const text = input.slice(start, end)
  if (isStrictIpv4(text)) return { host: undefined, hostname: text, hostKind: "ipv4" }
  const name = fastDomainName(text)
  if (name !== undefined) return { host: name as Host.DomainName, hostname: name, hostKind: "domain" }
  if (looksNumeric(text)) {
    const strict = NetAddress.ipv4FromString(text)
    if (Result.isSuccess(strict)) return general(strict.success)
    const octets = legacyIpv4Octets(text)
    if (octets !== undefined) {
      const dotted = octets.join(".")
      if (opts.allowLegacyIpv4) return general(NetAddress.ipv4FromString(dotted).pipe(Result.getOrThrow))
      return fail(
        "LegacyIpv4",
        input,
        start,
        `"${text}" is a legacy IPv4 spelling that means ${dotted} (inet_aton reads short, octal and hex forms); such forms slip past address filters, so they are refused. Write the address in dotted decimal, or pass { allowLegacyIpv4: true }`,
        `${input.slice(0, start)}${dotted}${input.slice(end)}`
      )
    }
    return fail(
      "InvalidHost",
      input,
      start,
      `"${text}" is neither an IPv4 address (four decimal numbers 0–255 without leading zeros) nor a host name`
    )
  }
  const domain = Host.domainNameFromString(text)
  if (Result.isSuccess(domain)) return general(domain.success)
  return fail("InvalidHost", input, start, `"${text}" is not a valid host name: ${domain.failure.message}`)
}

/** Digits, dots and hex spellings only: the text would be read as an address, never as a name. */
const looksNumeric = (text: string): boolean => {
  const last = text.endsWith(".") ? text.slice(0, -1) : text
  const label = last.slice(last.lastIndexOf(".") + 1)
  return /^(?:\d+|0[xX][0-9a-fA-F]*)$/.test(label)
}

const missingPort = (input: string, end: number, opts: Options): Outcome<number> =>
  opts.defaultPort !== undefined
    ? opts.defaultPort
    : fail("MissingPort", input, end, `A port is required: write ${input}:PORT (or pass { defaultPort })`)

/** Strict decimal, 1–65535: no sign, no padding, no trailing text (PHP's atoi takes `80abc`, `+80` and `080`). */
const parsePort = (input: string, start: number, opts: Options): Outcome<number> => {
  const end = input.length
  let value = 0
  let i = start
  for (; i < end && i - start < 6; i++) {
    const c = input.charCodeAt(i)
    if (c < 0x30 || c > 0x39) break
    value = value * 10 + (c - 0x30)
  }
  // The common case, decided without allocating: 1–5 digits, no leading zero, in range.
  if (i === end && i > start && (input.charCodeAt(start) !== 0x30 || i === start + 1) && value <= 65535) {
    if (value === 0 && !opts.allowPortZero) return portZero(input, start)
    return value
  }
  return badPort(input, start)
}

const portZero = (input: string, at: number): Fail =>
  fail(
    "PortZero",
    input,
    at,
    "Port 0 cannot be connected to; it asks the OS for an ephemeral port, so it is only valid for a server that binds (pass { allowPortZero: true })"
  )

/** Explains why the text after ":" is not a port. */
const badPort = (input: string, start: number): Fail => {
  const text = input.slice(start)
  const head = input.slice(0, start)
  if (text.length === 0) {
    return fail("MissingPort", input, start, `A port number must follow ":": write ${head}PORT`)
  }
  let digits = 0
  while (digits < text.length && text.charCodeAt(digits) >= 0x30 && text.charCodeAt(digits) <= 0x39) digits++
  if (digits < text.length) {
    const at = start + digits
    if (digits === 0 && (text[0] === "-" || text[0] === "+")) {
      const sign = text[0] === "-" ? "negative" : "signed"
      return fail(
        "InvalidPort",
        input,
        start,
        `The port "${text}" is ${sign}; a port is a number from 1 to 65535${text[0] === "-" ? " (PHP wraps -1 to 65535)" : ""}`,
        text[0] === "+" && /^\+[1-9]\d*$/.test(text) ? `${head}${text.slice(1)}` : undefined
      )
    }
    return fail(
      "InvalidPort",
      input,
      at,
      `The port "${text}" is not a decimal number${digits > 0 ? ` (PHP would read it as ${Number(text.slice(0, digits)) % 65536})` : ""}; a port is digits only, from 1 to 65535`,
      digits > 0 ? `${head}${text.slice(0, digits)}` : undefined
    )
  }
  if (text.length > 1 && text.charCodeAt(0) === 0x30) {
    const value = Number(text)
    return fail(
      "PortLeadingZero",
      input,
      start,
      `The port "${text}" has a leading zero; ports are written without padding (some parsers read 080 as octal)`,
      value > 0 && value <= 65535 ? `${head}${value}` : undefined
    )
  }
  return fail(
    "PortOutOfRange",
    input,
    start,
    `The port ${text} is out of range; ports go from 1 to 65535 (PHP would silently use ${Number(BigInt(text) % 65536n)})`
  )
}

const checkPortNumber = (input: string, port: number, opts: Options): Outcome<number> => {
  if (typeof port !== "number" || !Number.isInteger(port)) {
    return fail("InvalidPort", input, input.length, `The port must be an integer, not ${describe(port)}`)
  }
  if (port < 0 || port > 65535) {
    return fail("PortOutOfRange", input, input.length, `The port ${port} is out of range; ports go from 1 to 65535`)
  }
  if (port === 0 && !opts.allowPortZero) return portZero(input, input.length)
  return port
}

const portConflict = (input: string, at: number, port: number): Fail =>
  fail(
    "PortConflict",
    input,
    at,
    `The host "${input}" already carries a port and port ${port} was passed as well; give the port once (pass undefined as the port, or drop it from the host)`
  )

const describe = (u: unknown): string =>
  u === null ? "null" : typeof u === "number" || typeof u === "boolean" ? `${typeof u} ${String(u)}` : typeof u
