/**
 * The TLS and dial options of the transport layer as flags, shared by `connect`, `probe` and `listen`. This module
 * imports only types from the packages: flags are parsed before any socket code is loaded.
 */
import type { ConnectOptions, ListenOptions, TlsClientOptions, TlsServerOptions } from "@netdial/transport"
import { Option, Redacted } from "effect"
import { Flag } from "effect/cli"

const versionNames = { "1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2", "1.3": "TLSv1.3" } as const
const versionChoices = ["1.0", "1.1", "1.2", "1.3"] as const

const optionalString = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const seconds = (name: string, description: string) =>
  Flag.Finite(name).pipe(
    Flag.withDescription(description),
    Flag.filter(
      (n) => n > 0 && n <= 86_400,
      (n) => `--${name} takes seconds, more than 0 and at most 86400 (got ${n})`
    ),
    Flag.optional
  )

/** Flags of every client that dials (connect, probe). */
export const dialFlags = {
  timeout: seconds("timeout", "Seconds allowed to connect (all addresses tried; default 10)"),
  ipv4: Flag.Boolean("ipv4").pipe(
    Flag.withAlias("4"),
    Flag.withDescription("Use IPv4 addresses only"),
    Flag.withDefault(false)
  ),
  ipv6: Flag.Boolean("ipv6").pipe(
    Flag.withAlias("6"),
    Flag.withDescription("Use IPv6 addresses only"),
    Flag.withDefault(false)
  )
}

/** TLS flags of a client: what `Tls.upgrade` and `tls://` connections take. */
export const tlsClientFlags = {
  ca: optionalString("ca", "Trusted CA certificates: a PEM file or a directory of them (replaces the system store)"),
  cert: optionalString("cert", "Client certificate (PEM file), for servers that ask for one"),
  key: optionalString("key", "Private key of --cert (PEM file)"),
  passphrase: Flag.Redacted("passphrase").pipe(Flag.withDescription("Passphrase of an encrypted --key"), Flag.optional),
  insecure: Flag.Boolean("insecure").pipe(
    Flag.withAlias("k"),
    Flag.withDescription("Do not verify the certificate chain or the host name (the result still says what was wrong)"),
    Flag.withDefault(false)
  ),
  peerName: optionalString("peer-name", "Name to verify and send as SNI (default: the host of the URL)"),
  tlsMin: Flag.Literals("tls-min", versionChoices).pipe(
    Flag.withDescription("Lowest TLS version (default 1.2; 1.0/1.1 also need --security-level 0)"),
    Flag.optional
  ),
  tlsMax: Flag.Literals("tls-max", versionChoices).pipe(
    Flag.withDescription("Highest TLS version (default 1.3)"),
    Flag.optional
  ),
  ciphers: optionalString("ciphers", "OpenSSL cipher list (TLS 1.2 names and TLS 1.3 suites)"),
  securityLevel: Flag.Int("security-level").pipe(
    Flag.withDescription("OpenSSL security level 0–5 (0 allows TLS 1.0/1.1 and weak keys)"),
    Flag.optional
  ),
  groups: optionalString(
    "groups",
    "Key-exchange groups to offer, comma-separated, in order of preference (X25519MLKEM768,X25519,P-256)"
  ),
  alpn: optionalString("alpn", "ALPN protocols to offer, comma-separated, in order of preference (h2,http/1.1)"),
  pin: Flag.String("pin").pipe(
    Flag.withDescription(
      "Require the certificate's fingerprint: sha256:HEX (also sha1:, md5:; colons allowed); repeatable"
    ),
    Flag.atLeast(0)
  ),
  handshakeTimeout: seconds("handshake-timeout", "Seconds allowed for the TLS handshake (default 60)")
}

/** TLS flags of a server (`listen tls://…`). */
export const tlsServerFlags = {
  cert: optionalString("cert", "Server certificate chain (PEM file); required for tls:// listeners"),
  key: optionalString("key", "Private key of --cert (PEM file)"),
  passphrase: Flag.Redacted("passphrase").pipe(Flag.withDescription("Passphrase of an encrypted --key"), Flag.optional),
  ca: optionalString("ca", "CAs that client certificates must chain to (PEM file or directory)"),
  requireClientCert: Flag.Boolean("require-client-cert").pipe(
    Flag.withDescription("Reject clients without a certificate that chains to --ca"),
    Flag.withDefault(false)
  ),
  tlsMin: Flag.Literals("tls-min", versionChoices).pipe(
    Flag.withDescription("Lowest TLS version (default 1.2)"),
    Flag.optional
  ),
  tlsMax: Flag.Literals("tls-max", versionChoices).pipe(
    Flag.withDescription("Highest TLS version (default 1.3)"),
    Flag.optional
  ),
  groups: optionalString("groups", "Key-exchange groups accepted, comma-separated, in order of preference"),
  alpn: optionalString("alpn", "ALPN protocols accepted, comma-separated, in order of preference")
}

type Values<F> = { readonly [K in keyof F]: F[K] extends Flag.Flag<infer A> ? A : never }
export type DialValues = Values<typeof dialFlags>
export type TlsClientValues = Values<typeof tlsClientFlags>
export type TlsServerValues = Values<typeof tlsServerFlags>

/** The dial and client TLS values out of a command's parsed config (which holds other flags too). */
export const pickClientValues = (config: DialValues & TlsClientValues): { dial: DialValues; tls: TlsClientValues } => ({
  dial: { timeout: config.timeout, ipv4: config.ipv4, ipv6: config.ipv6 },
  tls: {
    ca: config.ca,
    cert: config.cert,
    key: config.key,
    passphrase: config.passphrase,
    insecure: config.insecure,
    peerName: config.peerName,
    tlsMin: config.tlsMin,
    tlsMax: config.tlsMax,
    ciphers: config.ciphers,
    securityLevel: config.securityLevel,
    groups: config.groups,
    alpn: config.alpn,
    pin: config.pin,
    handshakeTimeout: config.handshakeTimeout
  }
})

const some = <A>(o: Option.Option<A>): A | undefined => (Option.isSome(o) ? o.value : undefined)

/** A path on the command line is a file, or a directory for --ca. */
const caSource = (path: string, isDirectory: (p: string) => boolean) =>
  isDirectory(path) ? { directory: path } : { file: path }

/** `sha256:AB:CD…` / `sha1:…` / `md5:…` / bare hex → the transport's fingerprint option; undefined if none given. */
export const pinsOf = (pins: ReadonlyArray<string>): TlsClientOptions["peerFingerprint"] | string => {
  if (pins.length === 0) return undefined
  const set: { sha256?: string; sha1?: string; md5?: string } = {}
  for (const pin of pins) {
    const match = /^(?:(sha256|sha1|md5)[:/])?([0-9a-fA-F:]+)$/i.exec(pin.trim())
    if (match === null) {
      return `--pin ${JSON.stringify(pin)} is not a fingerprint: write sha256: followed by 64 hex digits (colons allowed), as \`openssl x509 -noout -fingerprint -sha256\` prints it`
    }
    const hex = match[2]!.replaceAll(":", "").toLowerCase()
    const algorithm = (match[1]?.toLowerCase() ??
      (hex.length === 64 ? "sha256" : hex.length === 40 ? "sha1" : hex.length === 32 ? "md5" : undefined)) as
      | "sha256"
      | "sha1"
      | "md5"
      | undefined
    const want = { sha256: 64, sha1: 40, md5: 32 }
    if (algorithm === undefined || hex.length !== want[algorithm]) {
      return `--pin ${JSON.stringify(pin)}: ${algorithm ?? "a fingerprint"} has ${algorithm === undefined ? "32, 40 or 64" : want[algorithm]} hex digits, this has ${hex.length}`
    }
    if (set[algorithm] !== undefined && set[algorithm] !== hex) {
      return `two different --pin ${algorithm} values: a certificate has one ${algorithm} fingerprint`
    }
    set[algorithm] = hex
  }
  return set
}

/** A comma-separated flag value as a list (`--alpn`, `--groups`); undefined if the flag was not given. */
const listOf = (text: string | undefined): ReadonlyArray<string> | undefined =>
  text === undefined
    ? undefined
    : text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")

/**
 * `--groups`: OpenSSL's own colon syntax is accepted too; an empty list is a usage error. The names themselves are
 * the transport's to check (its error names the one OpenSSL does not know).
 */
const groupsOf = (text: string | undefined): ReadonlyArray<string> | undefined | string => {
  const groups = listOf(text?.replaceAll(":", ","))
  if (groups === undefined) return undefined
  return groups.length > 0 ? groups : "--groups needs at least one group name, such as X25519 or P-256"
}

/** Client TLS flags → the transport's options; a string is a usage error to report. */
export const tlsClientOptionsOf = (
  v: TlsClientValues,
  isDirectory: (p: string) => boolean
): (TlsClientOptions & { handshakeTimeout?: number }) | string => {
  const pins = pinsOf(v.pin)
  if (typeof pins === "string") return pins
  const options: Record<string, unknown> = {}
  const ca = some(v.ca)
  if (ca !== undefined) options.ca = caSource(ca, isDirectory)
  const cert = some(v.cert)
  const key = some(v.key)
  if (key !== undefined && cert === undefined) return "--key needs --cert (the certificate the key belongs to)"
  if (cert !== undefined) options.cert = { file: cert }
  if (key !== undefined) options.key = { file: key }
  const passphrase = some(v.passphrase)
  if (passphrase !== undefined) options.passphrase = passphraseText(passphrase)
  if (v.insecure) {
    options.verifyPeer = false
    options.verifyPeerName = false
  }
  const peerName = some(v.peerName)
  if (peerName !== undefined) options.peerName = peerName
  const min = some(v.tlsMin)
  const max = some(v.tlsMax)
  if (min !== undefined && max !== undefined && Number(min) > Number(max)) {
    return `--tls-min ${min} is above --tls-max ${max}`
  }
  if (min !== undefined) options.minVersion = versionNames[min]
  if (max !== undefined) options.maxVersion = versionNames[max]
  const ciphers = some(v.ciphers)
  if (ciphers !== undefined) options.ciphers = ciphers
  const level = some(v.securityLevel)
  if (level !== undefined) options.securityLevel = level
  const groups = groupsOf(some(v.groups))
  if (typeof groups === "string") return groups
  if (groups !== undefined) options.groups = groups
  const alpn = listOf(some(v.alpn))
  if (alpn !== undefined) options.alpn = alpn
  if (pins !== undefined) options.peerFingerprint = pins
  const handshake = some(v.handshakeTimeout)
  if (handshake !== undefined) options.handshakeTimeout = handshake * 1000
  return options as TlsClientOptions
}

/** Server TLS flags → the transport's listen options; a string is a usage error to report. */
export const tlsServerOptionsOf = (
  v: TlsServerValues,
  isDirectory: (p: string) => boolean
): TlsServerOptions | string => {
  const options: Record<string, unknown> = {}
  const cert = some(v.cert)
  const key = some(v.key)
  if ((cert === undefined) !== (key === undefined)) return "--cert and --key go together"
  if (cert !== undefined) options.cert = { file: cert }
  if (key !== undefined) options.key = { file: key }
  const passphrase = some(v.passphrase)
  if (passphrase !== undefined) options.passphrase = passphraseText(passphrase)
  const ca = some(v.ca)
  if (ca !== undefined) options.ca = caSource(ca, isDirectory)
  if (v.requireClientCert) {
    if (ca === undefined) return "--require-client-cert needs --ca (the CAs client certificates must chain to)"
    options.requireClientCertificate = true
  }
  const min = some(v.tlsMin)
  const max = some(v.tlsMax)
  if (min !== undefined) options.minVersion = versionNames[min]
  if (max !== undefined) options.maxVersion = versionNames[max]
  const groups = groupsOf(some(v.groups))
  if (typeof groups === "string") return groups
  if (groups !== undefined) options.groups = groups
  const alpn = listOf(some(v.alpn))
  if (alpn !== undefined) options.alpn = alpn
  return options as TlsServerOptions
}

/** Dial flags → the transport's connect options (without TLS). */
export const dialOptionsOf = (v: DialValues): ConnectOptions | string => {
  if (v.ipv4 && v.ipv6) return "-4 and -6 exclude each other"
  const options: Record<string, unknown> = {}
  const timeout = some(v.timeout)
  options.connectTimeout = (timeout ?? 10) * 1000
  if (v.ipv4) options.family = "ipv4"
  if (v.ipv6) options.family = "ipv6"
  return options as ConnectOptions
}

export type { ListenOptions }

/** Redacted keeps the passphrase out of logs and error output; the value is needed only for the key. */
const passphraseText = (r: Redacted.Redacted<string>): string => Redacted.value(r)
