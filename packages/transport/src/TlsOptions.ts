/**
 * TLS options as Effect schemas. They follow PHP's `ssl` context options (`verify_peer`, `peer_name`, `cafile`,
 * `local_cert`, `peer_fingerprint`, `SNI_server_certs`, …) under camelCase names, with safe defaults and without
 * PHP's traps: a 64-hex `peerFingerprint` string works, an IP literal is never sent as SNI, TLS 1.3 is always in
 * the default range, and PEM text is told apart from a path (`{ file }`), so a path passed as text fails at decode
 * time instead of as an OpenSSL "no start line".
 *
 * The fields are exported as records (`TlsClientFields`, `TlsServerFields`) so that the connect and listen options
 * can spread them into their own structs; decode those with `{ onExcessProperty: "error" }`.
 */
import { Schema } from "effect"

/** TLS protocol versions, spelled as Node and OpenSSL spell them. */
export const tlsVersions = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const

export const TlsVersion = Schema.Literals(tlsVersions)
export type TlsVersion = typeof TlsVersion.Type

/** The range when neither the scheme nor the options say otherwise: TLS 1.0 and 1.1 are off (RFC 8996). */
export const defaultMinVersion: TlsVersion = "TLSv1.2"
export const defaultMaxVersion: TlsVersion = "TLSv1.3"

// -- PEM material -----------------------------------------------------------------------------------------------

/** A PEM block starts like this; anything else given as text is most likely a path meant for `{ file }`. */
const looksLikePem = (what: string) =>
  Schema.makeFilter<string>((text) =>
    text.includes("-----BEGIN ")
      ? undefined
      : `expected PEM text (${what}, "-----BEGIN …"); to read a file write { file: "/path/to/it.pem" }`
  )

export const PemFile = Schema.Struct({ file: Schema.NonEmptyString })
export type PemFile = typeof PemFile.Type

/** A certificate (optionally followed by its intermediates), as PEM text or `{ file }`. */
export const CertificateSource = Schema.Union([Schema.String.check(looksLikePem("a certificate")), PemFile])
export type CertificateSource = typeof CertificateSource.Type

/** A private key, as PEM text (PKCS#8, PKCS#1, SEC1, encrypted or not) or `{ file }`. */
export const KeySource = Schema.Union([Schema.String.check(looksLikePem("a private key")), PemFile])
export type KeySource = typeof KeySource.Type

/** Every `*.pem` / `*.crt` file (and OpenSSL's hashed `xxxxxxxx.N` names) in the directory is read. */
export const CaDirectory = Schema.Struct({ directory: Schema.NonEmptyString })
export type CaDirectory = typeof CaDirectory.Type

export const CaSource = Schema.Union([Schema.String.check(looksLikePem("CA certificates")), PemFile, CaDirectory])
export type CaSource = typeof CaSource.Type

/** Trusted CAs. Given, they replace Node's default store (as PHP's `cafile`/`capath` replace OpenSSL's paths). */
export const CaOption = Schema.Union([CaSource, Schema.Array(CaSource)])
export type CaOption = typeof CaOption.Type

// -- Fingerprints -----------------------------------------------------------------------------------------------

const hexDigitsByAlgorithm = { md5: 32, sha1: 40, sha256: 64 } as const

const fingerprintHex = (digits?: number) =>
  Schema.String.check(
    Schema.makeFilter<string>((text) => {
      const hex = text.replaceAll(":", "")
      const okLength =
        digits === undefined ? hex.length === 32 || hex.length === 40 || hex.length === 64 : hex.length === digits
      return /^[0-9a-fA-F]+$/.test(hex) && okLength
        ? undefined
        : digits === undefined
          ? "expected a fingerprint of 32 (md5), 40 (sha1) or 64 (sha256) hex digits, colons allowed"
          : `expected ${digits} hex digits, colons allowed`
    })
  )

/** All given digests must match the peer's certificate (DER). */
export const FingerprintSet = Schema.Struct({
  sha256: Schema.optional(fingerprintHex(hexDigitsByAlgorithm.sha256)),
  sha1: Schema.optional(fingerprintHex(hexDigitsByAlgorithm.sha1)),
  md5: Schema.optional(fingerprintHex(hexDigitsByAlgorithm.md5))
}).check(
  Schema.makeFilter((set) =>
    set.sha256 !== undefined || set.sha1 !== undefined || set.md5 !== undefined
      ? undefined
      : "give at least one of sha256, sha1, md5"
  )
)
export type FingerprintSet = typeof FingerprintSet.Type

/** A hex string (the digest is chosen by its length: 32 md5, 40 sha1, 64 sha256) or a set of digests. */
export const PeerFingerprint = Schema.Union([fingerprintHex(), FingerprintSet])
export type PeerFingerprint = typeof PeerFingerprint.Type

// -- Scalars ----------------------------------------------------------------------------------------------------

/** OpenSSL security level; applied as `@SECLEVEL=n` after the cipher list. 0 re-enables TLS 1.0/1.1 on OpenSSL 3. */
export const SecurityLevel = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))

/** An ALPN protocol name is 1–255 bytes on the wire (RFC 7301). */
export const AlpnProtocol = Schema.String.check(
  Schema.makeFilter<string>((name) => {
    const bytes = Buffer.byteLength(name, "utf8")
    return bytes >= 1 && bytes <= 255 ? undefined : `an ALPN protocol name must be 1 to 255 bytes, got ${bytes}`
  })
)

/** An OpenSSL cipher string (TLS 1.2 names and TLS 1.3 `TLS_…` suites may be mixed, as Node allows). */
export const Ciphers = Schema.NonEmptyString

/**
 * A key-exchange group by its OpenSSL name: `X25519MLKEM768` (the post-quantum hybrid Node 24 offers first),
 * `X25519`, `P-256`, `P-384`, `P-521`, `ffdhe2048`… Whether OpenSSL knows the name is checked when the options are
 * used, and the error names the one it does not know.
 */
export const KeyExchangeGroup = Schema.String.check(
  Schema.makeFilter<string>((name) =>
    /^[A-Za-z0-9_-]{1,64}$/.test(name)
      ? undefined
      : `a key-exchange group is one OpenSSL name such as X25519 or P-256 (letters, digits, - and _), got ${JSON.stringify(name)}`
  )
)

/** Groups in order of preference; at least one. */
export const KeyExchangeGroups = Schema.Array(KeyExchangeGroup).check(Schema.isMinLength(1))

/** A host name pattern of `sniCertificates`: `example.com` or `*.example.com` (the `*` stands for one label). */
export const SniPattern = Schema.String.check(
  Schema.makeFilter<string>((pattern) =>
    /^(\*\.)?[^\s*.]+(\.[^\s*.]+)*\.?$/.test(pattern)
      ? undefined
      : `expected a host name or "*.domain" (the "*" only as the whole first label), got ${JSON.stringify(pattern)}`
  )
)

export const SniCertificate = Schema.Struct({
  cert: CertificateSource,
  key: KeySource,
  passphrase: Schema.optional(Schema.String)
})
export type SniCertificate = typeof SniCertificate.Type

// -- Client ------------------------------------------------------------------------------------------------------

export const TlsClientFields = {
  /** Verify the peer's chain against `ca` (or Node's store). Default true. */
  verifyPeer: Schema.optional(Schema.Boolean),
  /**
   * Verify that the certificate is valid for `peerName` (or the URL host). Default true. Independent of
   * `verifyPeer`, as in PHP: turning `verifyPeer` off still checks the name.
   */
  verifyPeerName: Schema.optional(Schema.Boolean),
  /** The name to verify and to send as SNI (not sent when it is an IP literal); a trailing dot is dropped. */
  peerName: Schema.optional(Schema.NonEmptyString),
  /** Forgive a self-signed leaf (depth 0) and nothing else. Default false. */
  allowSelfSigned: Schema.optional(Schema.Boolean),
  ca: Schema.optional(CaOption),
  /** Client certificate (chain) for servers that ask for one; needs `key` unless the PEM holds the key too. */
  cert: Schema.optional(CertificateSource),
  key: Schema.optional(KeySource),
  /** Passphrase of an encrypted `key`. */
  passphrase: Schema.optional(Schema.String),
  ciphers: Schema.optional(Ciphers),
  /** Default TLSv1.2 (a `tlsvX.Y://` scheme pins both ends; these override the pin, as in PHP). */
  minVersion: Schema.optional(TlsVersion),
  /** Default TLSv1.3. */
  maxVersion: Schema.optional(TlsVersion),
  securityLevel: Schema.optional(SecurityLevel),
  /**
   * Key-exchange groups to offer, in order of preference (OpenSSL's `-groups`). Default: OpenSSL's own list, which
   * with Node 24 starts with the post-quantum hybrid X25519MLKEM768.
   */
  groups: Schema.optional(KeyExchangeGroups),
  peerFingerprint: Schema.optional(PeerFingerprint),
  capturePeerCertificate: Schema.optional(Schema.Boolean),
  capturePeerCertificateChain: Schema.optional(Schema.Boolean),
  /** ALPN protocols to offer, in our order of preference. */
  alpn: Schema.optional(Schema.Array(AlpnProtocol)),
  /** `TlsDetails.session` of an earlier connection to the same peer, to resume it. */
  session: Schema.optional(Schema.Uint8Array)
}

export const TlsClientOptions = Schema.Struct(TlsClientFields)
export type TlsClientOptions = typeof TlsClientOptions.Type

// -- Server ------------------------------------------------------------------------------------------------------

export const TlsServerFields = {
  /** The default certificate (chain). Required for a TLS server, together with `key`. */
  cert: Schema.optional(CertificateSource),
  key: Schema.optional(KeySource),
  passphrase: Schema.optional(Schema.String),
  /** CAs that client certificates must chain to (also sent to clients as the acceptable CA list). */
  ca: Schema.optional(CaOption),
  /** Certificates chosen by the SNI name; case-insensitive; unmatched names get `cert`. */
  sniCertificates: Schema.optional(Schema.Record(SniPattern, SniCertificate)),
  /** Ask clients for a certificate but accept them without one (`TlsDetails.authorized` tells). Default false. */
  requestClientCertificate: Schema.optional(Schema.Boolean),
  /** Reject clients without a certificate that chains to `ca`. Default false (PHP's server default). */
  requireClientCertificate: Schema.optional(Schema.Boolean),
  ciphers: Schema.optional(Ciphers),
  minVersion: Schema.optional(TlsVersion),
  maxVersion: Schema.optional(TlsVersion),
  securityLevel: Schema.optional(SecurityLevel),
  /** Key-exchange groups to accept, in order of preference. Default: OpenSSL's own list. */
  groups: Schema.optional(KeyExchangeGroups),
  /** ALPN protocols we accept, in our order of preference (the server's order wins). */
  alpn: Schema.optional(Schema.Array(AlpnProtocol))
}

export const TlsServerOptions = Schema.Struct(TlsServerFields)
export type TlsServerOptions = typeof TlsServerOptions.Type

// -- Schemes -----------------------------------------------------------------------------------------------------

const pinnedVersions: Record<string, TlsVersion> = {
  "tlsv1.0": "TLSv1",
  "tlsv1.1": "TLSv1.1",
  "tlsv1.2": "TLSv1.2",
  "tlsv1.3": "TLSv1.3"
}

/**
 * The version a `tlsvX.Y://` scheme pins (minimum and maximum both), or undefined for `ssl://`, `tls://` and every
 * other scheme, which use the default range. Unlike PHP before 7.2, `tls://` is not TLS 1.0 only.
 */
export const versionOfScheme = (scheme: string): TlsVersion | undefined => pinnedVersions[scheme.toLowerCase()]

/** Why a scheme is refused outright, or undefined if it is not. */
export const refusedScheme = (scheme: string): string | undefined => {
  switch (scheme.toLowerCase()) {
    case "sslv2":
      return "SSL 2.0 is prohibited (RFC 6176) and no TLS library still speaks it; use tls:// (TLS 1.2 and 1.3)"
    case "sslv3":
      return "SSL 3.0 is deprecated (RFC 7568, POODLE) and OpenSSL 3 no longer builds it; use tls:// (TLS 1.2 and 1.3)"
    default:
      return undefined
  }
}

export interface TlsVersionRange {
  readonly minVersion: TlsVersion
  readonly maxVersion: TlsVersion
}

/**
 * The range to ask OpenSSL for: explicit options first, then the scheme's pin, then TLS 1.2–1.3. The result may be
 * empty (min above max); `isEmptyRange` tells, and the TLS builders refuse it as a `BadOption`.
 */
export const tlsVersionRange = (
  scheme: string | undefined,
  options: { readonly minVersion?: TlsVersion | undefined; readonly maxVersion?: TlsVersion | undefined }
): TlsVersionRange => {
  const pinned = scheme === undefined ? undefined : versionOfScheme(scheme)
  return {
    minVersion: options.minVersion ?? pinned ?? defaultMinVersion,
    maxVersion: options.maxVersion ?? pinned ?? defaultMaxVersion
  }
}

export const isEmptyRange = (range: TlsVersionRange): boolean =>
  tlsVersions.indexOf(range.minVersion) > tlsVersions.indexOf(range.maxVersion)

/** True when the range reaches below TLS 1.2, which OpenSSL 3 only negotiates at security level 0. */
export const includesLegacyVersions = (range: TlsVersionRange): boolean => tlsVersions.indexOf(range.minVersion) < 2
