/**
 * What a finished TLS handshake negotiated, in one plain object: PHP's `stream_get_meta_data()["crypto"]` plus the
 * verification result, the SNI name, the session for resumption and (on request) the peer's certificates.
 */
import { X509Certificate } from "node:crypto"
import { isIP } from "node:net"
import type * as tls from "node:tls"
import { type Fingerprints, fingerprintsOf } from "./internal/fingerprint.ts"

export interface PeerCertificate {
  /** Distinguished name as OpenSSL prints it, one `KEY=value` per RDN joined by ", " (`CN=localhost, O=netdial`). */
  readonly subject: string
  readonly issuer: string
  /** `DNS:name`, `IP:address` (IPv6 compressed, `IP:::1`), `email:…`, `URI:…`, in certificate order. */
  readonly subjectAltNames: ReadonlyArray<string>
  readonly validFrom: Date
  readonly validTo: Date
  /** Lower-case hex, as `openssl x509 -serial` prints it minus case. */
  readonly serialNumber: string
  /** Digests of the DER certificate, lower-case hex without colons. */
  readonly fingerprints: Fingerprints
  readonly pem: string
}

export interface TlsCipher {
  /** OpenSSL's name (`ECDHE-ECDSA-AES128-GCM-SHA256`, `TLS_AES_256_GCM_SHA384`). */
  readonly name: string
  /** The IANA name (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`). */
  readonly standardName: string
  /** The lowest protocol version the cipher belongs to (`TLSv1.2`, `TLSv1.3`, `TLSv1/SSLv3`). */
  readonly version: string
  /**
   * Symmetric key size. Node does not report it, so it is read off the cipher name: AES128/AES256 → 128/256,
   * CHACHA20 → 256, CAMELLIA/ARIA by their number, 3DES → 112 (its effective strength, as OpenSSL reports),
   * NULL → 0; undefined for anything else.
   */
  readonly bits: number | undefined
}

export interface TlsDetails {
  /** `TLSv1.3`, `TLSv1.2`, `TLSv1.1`, `TLSv1`. */
  readonly protocol: string
  readonly cipher: TlsCipher
  /** The ALPN protocol both sides agreed on, if any. */
  readonly alpnProtocol: string | undefined
  /**
   * Clients only: the key-exchange group of the handshake, by its TLS name: `X25519MLKEM768` (post-quantum hybrid),
   * `X25519`, `P-256`, `P-384`, `P-521`, `ffdhe2048`…, or `DH-2048` for a TLS 1.2 finite-field exchange without a
   * named group. Undefined on servers (Node does not report it there) and on resumed sessions without a new exchange.
   */
  readonly keyExchange: string | undefined
  /**
   * True when the peer's certificate chain verified against the trusted CAs and (for clients) matched the name
   * checked. It reports the facts even when a check was switched off: with `verifyPeer: false` and a good
   * certificate it is still true.
   */
  readonly authorized: boolean
  /**
   * Why `authorized` is false: an OpenSSL/Node code (`DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`,
   * `ERR_TLS_CERT_ALTNAME_INVALID`, …), `"no peer certificate"`, or `"verification disabled"` on a server that did
   * not ask for client certificates.
   */
  readonly authorizationError: string | undefined
  /** Clients: the SNI name sent (none for IP literals). Servers: the SNI name the client sent. */
  readonly servername: string | undefined
  readonly sessionReused: boolean
  /**
   * Clients only: the latest session to pass as `session` for resumption. TLS 1.3 delivers sessions (tickets) after
   * the handshake, so right after connecting this may still be undefined; it is read each time it is accessed.
   */
  readonly session: Uint8Array | undefined
  /** With `capturePeerCertificate` (clients) or when client certificates were asked for (servers). */
  readonly peerCertificate: PeerCertificate | undefined
  /**
   * With `capturePeerCertificateChain`: leaf first, then its issuers as Node reports them (what the peer sent,
   * completed from our trust store), each certificate once.
   */
  readonly peerCertificateChain: ReadonlyArray<PeerCertificate> | undefined
}

// -- Certificates ------------------------------------------------------------------------------------------------

/** Node prints one RDN per line; a comma-joined single line reads better in messages and logs. */
const distinguishedName = (multiline: string): string =>
  multiline
    .split("\n")
    .filter((line) => line.length > 0)
    .join(", ")

/** IPv6 addresses come out of OpenSSL uncompressed (`0:0:0:0:0:0:0:1`); the URL parser canonicalizes them. */
const compressIpv6 = (address: string): string => {
  if (isIP(address) !== 6) return address
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch {
    return address
  }
}

/**
 * Splits Node's `subjectAltName` (`DNS:a, IP Address:1.2.3.4, …`). Since CVE-2021-44532 Node quotes an entry that
 * contains a comma or quote as a JSON string (`DNS:"a,b"`), so the split respects quotes.
 */
export const parseSubjectAltNames = (text: string | undefined): ReadonlyArray<string> => {
  if (text === undefined || text.length === 0) return []
  const entries: Array<string> = []
  let index = 0
  while (index < text.length) {
    const colon = text.indexOf(":", index)
    if (colon < 0) break
    const rawType = text.slice(index, colon)
    let value: string
    let next: number
    if (text[colon + 1] === '"') {
      // A JSON string: find its closing quote, skipping escaped characters.
      let end = colon + 2
      while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1
      value = JSON.parse(text.slice(colon + 1, end + 1)) as string
      next = end + 1
    } else {
      const comma = text.indexOf(", ", colon + 1)
      next = comma < 0 ? text.length : comma
      value = text.slice(colon + 1, next)
    }
    const type = rawType === "IP Address" ? "IP" : rawType
    entries.push(`${type}:${type === "IP" ? compressIpv6(value) : value}`)
    index = text.startsWith(", ", next) ? next + 2 : next
  }
  return entries
}

export const peerCertificateOf = (certificate: X509Certificate): PeerCertificate => ({
  subject: distinguishedName(certificate.subject),
  issuer: distinguishedName(certificate.issuer),
  subjectAltNames: parseSubjectAltNames(certificate.subjectAltName),
  validFrom: certificate.validFromDate,
  validTo: certificate.validToDate,
  serialNumber: certificate.serialNumber.toLowerCase(),
  fingerprints: fingerprintsOf(certificate.raw),
  pem: certificate.toString()
})

/** The peer's chain from `getPeerCertificate(true)`, which links each certificate to its issuer (a root to itself). */
const peerChainOf = (socket: tls.TLSSocket): ReadonlyArray<PeerCertificate> => {
  const chain: Array<PeerCertificate> = []
  const seen = new Set<string>()
  let current: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true)
  // Bounded: a chain longer than OpenSSL's maximum verify depth (100) is not one we were given.
  for (let depth = 0; depth < 100 && current?.raw !== undefined; depth++) {
    const certificate = new X509Certificate(current.raw)
    const described = peerCertificateOf(certificate)
    if (seen.has(described.fingerprints.sha256)) break
    seen.add(described.fingerprints.sha256)
    chain.push(described)
    current = current.issuerCertificate
  }
  if (chain.length === 0) {
    // A resumed connection: only the leaf is known (from the session).
    const leaf = peerX509Of(socket)
    if (leaf !== undefined) chain.push(peerCertificateOf(leaf))
  }
  return chain
}

/** Leaf certificates of resumed connections, which Node does not expose (see `unwrapSession`). */
const resumedPeers = new WeakMap<tls.TLSSocket, Buffer>()

/** Called by the handshake of a resumed connection with the certificate carried by the session it resumed. */
export const rememberResumedPeer = (socket: tls.TLSSocket, der: Buffer): void => {
  resumedPeers.set(socket, der)
}

/**
 * The peer's leaf certificate, parsed from `getPeerCertificate(true).raw` (or, for a resumed session, from the
 * session). Deliberately not `getPeerX509Certificate()`: on Node 24.21 its first call empties the socket's peer
 * certificate, so a second call returns undefined and `getPeerCertificate()` returns `{}` (which then makes
 * `tls.checkServerIdentity` fail).
 */
export const peerX509Of = (socket: tls.TLSSocket): X509Certificate | undefined => {
  // Parsed once per socket: the verification, each session ticket and the description all ask for it, and
  // getPeerCertificate(true) + X509 parsing cost about 200 µs a time.
  const cached = peerX509s.get(socket)
  if (cached !== undefined) return cached
  const raw = peerDerOf(socket)
  if (raw === undefined) return undefined
  const x509 = new X509Certificate(raw)
  peerX509s.set(socket, x509)
  return x509
}

/**
 * The DER of the peer's leaf certificate, without parsing it when it is already known (primed by the handshake,
 * or parsed before); else read as `peerX509Of` does. Kept once read, so it stays available after the socket closed.
 */
export const peerDerOf = (socket: tls.TLSSocket): Buffer | undefined => {
  const known = peerDers.get(socket) ?? peerX509s.get(socket)?.raw
  if (known !== undefined) return known
  const raw = socket.getPeerCertificate(true)?.raw ?? resumedPeers.get(socket)
  if (raw === undefined || raw.length === 0) return undefined
  peerDers.set(socket, raw)
  return raw
}

const peerX509s = new WeakMap<tls.TLSSocket, X509Certificate>()
const peerDers = new WeakMap<tls.TLSSocket, Buffer>()

/**
 * Gives `peerDerOf`/`peerX509Of` the leaf's DER when the caller already holds it (the client handshake gets it
 * from Node's own name check), so that the certificate is neither read from the socket again nor parsed unless
 * someone needs its fields. Ignored once the socket has one.
 */
export const primePeerCertificate = (socket: tls.TLSSocket, der: Buffer): void => {
  if (!peerDers.has(socket) && !peerX509s.has(socket)) peerDers.set(socket, der)
}

// -- Key exchange ------------------------------------------------------------------------------------------------

/** OpenSSL's curve names where TLS (RFC 8446 §4.2.7) names the group differently. */
const tlsGroupNames: Record<string, string> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521"
}

/** The key-exchange group of a client socket's handshake (see `TlsDetails.keyExchange`). */
export const keyExchangeOf = (socket: tls.TLSSocket): string | undefined => {
  const info = socket.getEphemeralKeyInfo() as {
    readonly name?: string
    readonly type?: string
    readonly size?: number
  } | null
  if (info === null || info === undefined) return undefined
  if (typeof info.name === "string" && info.name !== "") return tlsGroupNames[info.name] ?? info.name
  // Node gives finite-field groups no name: TLS 1.3 allows only the named ffdhe groups, TLS 1.2 any DH parameters.
  if (info.type === "DH" && typeof info.size === "number") {
    return socket.getProtocol() === "TLSv1.3" ? `ffdhe${info.size}` : `DH-${info.size}`
  }
  return undefined
}

// -- Cipher strength ---------------------------------------------------------------------------------------------

export const cipherBits = (name: string): number | undefined => {
  const upper = name.toUpperCase()
  const sized = /(?:AES|CAMELLIA|ARIA)[-_]?(128|192|256)/.exec(upper)
  if (sized !== null) return Number(sized[1])
  if (upper.includes("CHACHA20")) return 256
  if (upper.includes("3DES") || upper.includes("DES-CBC3") || upper.includes("DES_EDE3")) return 112
  if (/(^|[-_])NULL([-_]|$)/.test(upper)) return 0
  return undefined
}

// -- Sessions ----------------------------------------------------------------------------------------------------

/**
 * Node exposes no peer certificate on a resumed connection (OpenSSL does not resend it), so the name and pin checks
 * would have nothing to look at. A session handed out by netdial therefore carries the peer's DER certificate in
 * front of Node's own session bytes: resumption proves the server still holds the secret it shared with the server
 * that showed this certificate, so checking it again is sound.
 * Layout: magic `netdial:tls-session:1\0`, u32 big-endian DER length, DER, Node's session.
 */
const sessionMagic = Buffer.from("netdial:tls-session:1\0", "latin1")

export const wrapSession = (nodeSession: Buffer, peerDer: Uint8Array | undefined): Uint8Array => {
  const der = peerDer ?? new Uint8Array(0)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(der.byteLength, 0)
  return Buffer.concat([sessionMagic, length, der, nodeSession])
}

/** Splits a `session` option; bytes without the envelope (from elsewhere) pass through as Node's session. */
export const unwrapSession = (
  session: Uint8Array
): { readonly nodeSession: Buffer; readonly peerDer: Buffer | undefined } => {
  const bytes = Buffer.from(session.buffer, session.byteOffset, session.byteLength)
  const headerEnd = sessionMagic.length + 4
  if (bytes.length < headerEnd || !bytes.subarray(0, sessionMagic.length).equals(sessionMagic)) {
    return { nodeSession: bytes, peerDer: undefined }
  }
  const derLength = bytes.readUInt32BE(sessionMagic.length)
  if (bytes.length < headerEnd + derLength) return { nodeSession: bytes, peerDer: undefined }
  const der = bytes.subarray(headerEnd, headerEnd + derLength)
  return { nodeSession: bytes.subarray(headerEnd + derLength), peerDer: der.length > 0 ? der : undefined }
}

/** A session as Node delivered it, with the peer certificate it belongs to; wrapped when first read. */
interface LatestSession {
  readonly nodeSession: Buffer
  readonly peerDer: Buffer | undefined
  wrapped: Uint8Array | undefined
}

const latestSessions = new WeakMap<tls.TLSSocket, LatestSession>()

/**
 * Records the latest session a client socket receives. Call it before the handshake completes: TLS 1.3 tickets may
 * arrive with the server's last flight. The listener stays for the socket's life on purpose (later tickets replace
 * earlier ones) and goes away with the socket.
 */
export const trackSessions = (socket: tls.TLSSocket): void => {
  if (!socket.listeners("session").includes(rememberSession)) socket.on("session", rememberSession)
}

function rememberSession(this: tls.TLSSocket, session: Buffer): void {
  // Node emits sessions only after its own verification, when the peer certificate is readable. TLS 1.3 tickets
  // arrive around the server's first reply, so this runs on the way to it: only note the session here (the
  // envelope is built when `TlsDetails.session` is read).
  latestSessions.set(this, { nodeSession: session, peerDer: peerDerOf(this), wrapped: undefined })
}

const sessionOf = (socket: tls.TLSSocket): Uint8Array | undefined => {
  const latest = latestSessions.get(socket)
  if (latest !== undefined) {
    latest.wrapped ??= wrapSession(latest.nodeSession, latest.peerDer)
    return latest.wrapped
  }
  // getSession() gives a usable session only up to TLS 1.2; a TLS 1.3 one without a ticket cannot resume.
  if (socket.getProtocol() === "TLSv1.3") return undefined
  const session = socket.getSession()
  return session === undefined || session === null ? undefined : wrapSession(session, peerDerOf(socket))
}

// -- Description -------------------------------------------------------------------------------------------------

export interface DescribeTlsOptions {
  readonly role: "client" | "server"
  readonly capturePeerCertificate?: boolean | undefined
  readonly capturePeerCertificateChain?: boolean | undefined
  /** The verification result when the caller computed it (it knows which checks ran); default: Node's fields. */
  readonly verification?: { readonly authorized: boolean; readonly authorizationError: string | undefined } | undefined
}

/** Node types `authorizationError` as an Error but stores the code string (`verifyError.code`). */
const authorizationErrorOf = (socket: tls.TLSSocket): string | undefined => {
  const value: unknown = socket.authorizationError
  if (typeof value === "string") return value
  if (value instanceof Error) return (value as Error & { code?: string }).code ?? value.message
  return undefined
}

/** Describes a socket whose handshake has completed. */
export const describeTls = (socket: tls.TLSSocket, options: DescribeTlsOptions): TlsDetails => {
  if (options.role === "client") trackSessions(socket)
  const cipher = socket.getCipher()
  const peer = options.capturePeerCertificate === true ? peerX509Of(socket) : undefined
  const verification = options.verification ?? {
    authorized: socket.authorized,
    authorizationError: socket.authorized ? undefined : authorizationErrorOf(socket)
  }
  const details: Omit<TlsDetails, "session"> = {
    protocol: socket.getProtocol() ?? "unknown",
    cipher: {
      name: cipher.name,
      standardName: cipher.standardName,
      version: cipher.version,
      bits: cipherBits(cipher.name)
    },
    alpnProtocol: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : undefined,
    keyExchange: options.role === "client" ? keyExchangeOf(socket) : undefined,
    authorized: verification.authorized,
    authorizationError: verification.authorizationError,
    servername: typeof socket.servername === "string" && socket.servername.length > 0 ? socket.servername : undefined,
    sessionReused: socket.isSessionReused(),
    peerCertificate: peer === undefined ? undefined : peerCertificateOf(peer),
    peerCertificateChain: options.capturePeerCertificateChain === true ? peerChainOf(socket) : undefined
  }
  return options.role === "client"
    ? (Object.defineProperty(details, "session", { enumerable: true, get: () => sessionOf(socket) }) as TlsDetails)
    : { ...details, session: undefined }
}
