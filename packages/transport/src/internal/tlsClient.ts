/**
 * The client side of TLS: from decoded `TlsClientOptions` to `tls.connect` options, then the handshake as an Effect
 * with netdial's checks on top of Node's (a self-signed leaf allowance, fingerprint pins, a name check that does not
 * depend on what Node thinks the host is).
 *
 * Two steps, so that bad options fail before any packet is sent:
 * 1. `tlsClientConnectOptions(opts, context)` reads `{ file }`/`{ directory }` material (asynchronously), validates
 *    it (a PEM that does not parse, a key without its passphrase or not matching `cert`, a cipher list OpenSSL
 *    rejects, an empty version range: each a `BadOption` naming the option) and builds the `SecureContext` once.
 * 2. `handshake(socket, opts, context)` waits for the handshake of the `tls.connect(...)` socket and verifies.
 */
import { constants, createPrivateKey, X509Certificate } from "node:crypto"
import { readdir, readFile } from "node:fs/promises"
import { isIP } from "node:net"
import { join } from "node:path"
import type { Duplex } from "node:stream"
import * as tls from "node:tls"
import { Effect } from "effect"
import {
  describeTls,
  peerDerOf,
  peerX509Of,
  primePeerCertificate,
  rememberResumedPeer,
  type TlsDetails,
  trackSessions,
  unwrapSession
} from "../TlsInfo.ts"
import {
  type CaOption,
  type CaSource,
  type CertificateSource,
  includesLegacyVersions,
  isEmptyRange,
  type KeySource,
  refusedScheme,
  type TlsClientOptions,
  type TlsVersionRange,
  tlsVersionRange
} from "../TlsOptions.ts"
import { TransportError } from "../TransportError.ts"
import { classify, optional } from "./classify.ts"
import { expectedFingerprints, fingerprintMismatch, fingerprintsOf, matchesFingerprints } from "./fingerprint.ts"

// -- Errors ------------------------------------------------------------------------------------------------------

export interface TlsErrorContext {
  /** The transport URL, for error messages. */
  readonly url?: string | undefined
  /** The address dialed (`127.0.0.1:443`), for error messages. */
  readonly address?: string | undefined
}

export const badOption = (message: string, context: TlsErrorContext = {}, cause?: unknown): TransportError =>
  new TransportError({
    reason: "BadOption",
    message,
    ...optional({ url: context.url, address: context.address }),
    ...(typeof (cause as { code?: unknown } | undefined)?.code === "string"
      ? { code: (cause as { code: string }).code }
      : {}),
    ...(cause === undefined ? {} : { cause })
  })

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

// -- Material ----------------------------------------------------------------------------------------------------

const readText = (path: string, option: string, context: TlsErrorContext) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) => badOption(`\`${option}\`: cannot read ${path}: ${messageOf(error)}`, context, error)
  })

/** PEM text as given, or the contents of `{ file }`. */
export const loadPem = (
  source: CertificateSource | KeySource,
  option: string,
  context: TlsErrorContext = {}
): Effect.Effect<string, TransportError> =>
  typeof source === "string" ? Effect.succeed(source) : readText(source.file, option, context)

const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificate blocks of a PEM text (other blocks, e.g. a key or `TRUSTED CERTIFICATE`, are not CAs for Node). */
export const certificateBlocks = (pem: string): ReadonlyArray<string> =>
  Array.from(pem.matchAll(certificateBlock), (match) => `${match[0]}\n`)

/** Names a CA directory may hold: `*.pem`, `*.crt`, and c_rehash's `<8 hex>.<n>` links (CRLs are `.r<n>`). */
const caFileName = /\.(pem|crt)$|^[0-9a-f]{8}\.\d+$/i

const loadCaDirectory = (directory: string, context: TlsErrorContext) =>
  Effect.gen(function* () {
    const names = yield* Effect.tryPromise({
      try: () => readdir(directory),
      catch: (error) => badOption(`\`ca\`: cannot read the directory ${directory}: ${messageOf(error)}`, context, error)
    })
    const blocks: Array<string> = []
    for (const name of names.filter((name) => caFileName.test(name)).sort()) {
      // A subdirectory or a dangling link named like a certificate is skipped, not fatal: /etc/ssl/certs has both.
      const text = yield* Effect.tryPromise(() => readFile(join(directory, name), "utf8")).pipe(
        Effect.orElseSucceed(() => "")
      )
      blocks.push(...certificateBlocks(text))
    }
    if (blocks.length === 0) {
      return yield* Effect.fail(
        badOption(`\`ca\`: no PEM certificate in ${directory} (read *.pem, *.crt and hashed names)`, context)
      )
    }
    return blocks
  })

const loadCaSource = (
  source: CaSource,
  context: TlsErrorContext
): Effect.Effect<ReadonlyArray<string>, TransportError> => {
  if (typeof source !== "string" && "directory" in source) return loadCaDirectory(source.directory, context)
  const where = typeof source === "string" ? "the PEM text" : source.file
  return loadPem(source, "ca", context).pipe(
    Effect.flatMap((text) => {
      const blocks = blocksOf(text)
      return blocks.length > 0
        ? Effect.succeed(blocks)
        : Effect.fail(badOption(`\`ca\`: no "-----BEGIN CERTIFICATE-----" block in ${where}`, context))
    })
  )
}

/** The blocks of recently seen CA texts: a client passes the same `ca` on every connect (bounded, oldest evicted). */
const caBlocks = new Map<string, ReadonlyArray<string>>()

const blocksOf = (text: string): ReadonlyArray<string> => {
  const known = caBlocks.get(text)
  if (known !== undefined) return known
  const blocks = certificateBlocks(text)
  if (caBlocks.size >= 16) caBlocks.delete(caBlocks.keys().next().value!)
  caBlocks.set(text, blocks)
  return blocks
}

/** Every CA certificate of the option, one PEM block each, duplicates dropped (hashed links repeat files). */
export const loadCa = (
  ca: CaOption,
  context: TlsErrorContext = {}
): Effect.Effect<ReadonlyArray<string>, TransportError> =>
  Effect.forEach(Array.isArray(ca) ? (ca as ReadonlyArray<CaSource>) : [ca as CaSource], (source) =>
    loadCaSource(source, context)
  ).pipe(Effect.map((lists) => Array.from(new Set(lists.flat()))))

// -- Secure context ----------------------------------------------------------------------------------------------

export interface SecureContextSettings {
  readonly ca?: ReadonlyArray<string> | undefined
  readonly cert?: string | undefined
  readonly key?: string | undefined
  readonly passphrase?: string | undefined
  readonly ciphers?: string | undefined
  readonly securityLevel?: number | undefined
  /** Key-exchange groups (OpenSSL names), in order of preference; undefined = OpenSSL's default list. */
  readonly groups?: ReadonlyArray<string> | undefined
  readonly range: TlsVersionRange
  /**
   * Servers only. OpenSSL refuses to resume a session on a server that verifies clients unless a session id context
   * is set (it answers with an internal_error alert); `tls.Server` sets one itself, a bare `TLSSocket` does not.
   */
  readonly sessionIdContext?: string | undefined
  /** Servers only: issue no session tickets, so that every client makes a full handshake. */
  readonly noTickets?: boolean | undefined
  /** Option names for messages: `cert` or `sniCertificates["*.example.com"].cert`. */
  readonly certOption?: string
  readonly keyOption?: string
}

const isEncryptedPem = (pem: string): boolean =>
  pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem.includes("Proc-Type: 4,ENCRYPTED")

/** Checks each piece on its own first, so that the error names the option at fault (OpenSSL's would not). */
const validateMaterial = (settings: SecureContextSettings, context: TlsErrorContext): TransportError | undefined => {
  const certOption = settings.certOption ?? "cert"
  const keyOption = settings.keyOption ?? "key"
  for (const [index, block] of (settings.ca ?? []).entries()) {
    try {
      new X509Certificate(block)
    } catch (error) {
      return badOption(`\`ca\`: certificate #${index + 1} does not parse: ${messageOf(error)}`, context, error)
    }
  }
  if (settings.cert === undefined) {
    return settings.key === undefined
      ? undefined
      : badOption(`\`${keyOption}\` is given without \`${certOption}\`: give both`, context)
  }
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(settings.cert)
  } catch (error) {
    return badOption(`\`${certOption}\` is not a PEM certificate: ${messageOf(error)}`, context, error)
  }
  // As PHP's local_pk: without a key, the key is looked for in the certificate's PEM.
  const keyPem = settings.key ?? settings.cert
  if (isEncryptedPem(keyPem) && settings.passphrase === undefined) {
    return badOption(`\`${keyOption}\` is encrypted: give its \`passphrase\``, context)
  }
  try {
    const key = createPrivateKey({ key: keyPem, ...optional({ passphrase: settings.passphrase }) })
    if (!certificate.checkPrivateKey(key)) {
      return badOption(`\`${keyOption}\` is not the private key of \`${certOption}\` (${certificate.subject})`, context)
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code
    const why =
      code === "ERR_OSSL_BAD_DECRYPT"
        ? "cannot decrypt it: wrong `passphrase`"
        : settings.key === undefined
          ? `no private key in \`${certOption}\`'s PEM; give \`${keyOption}\``
          : `not a PEM private key: ${messageOf(error)}`
    return badOption(`\`${keyOption}\`: ${why}`, context, error)
  }
  return undefined
}

/** The cipher list with the security level appended (OpenSSL reads `@SECLEVEL=n` from the cipher string). */
export const cipherList = (ciphers: string | undefined, securityLevel: number | undefined): string | undefined =>
  securityLevel === undefined ? ciphers : `${ciphers ?? tls.DEFAULT_CIPHERS}:@SECLEVEL=${securityLevel}`

/** OpenSSL's group list syntax (`X25519:P-256`). */
export const groupList = (groups: ReadonlyArray<string> | undefined): string | undefined =>
  groups === undefined ? undefined : groups.join(":")

/**
 * OpenSSL refuses a group list as a whole ("Failed to set ECDH curve"); trying the names one by one finds the one it
 * does not know, so that the error can name it. Only runs on that error path.
 */
const unknownGroupOf = (groups: ReadonlyArray<string>): string | undefined =>
  groups.find((group) => {
    try {
      tls.createSecureContext({ ecdhCurve: group })
      return false
    } catch {
      return true
    }
  })

/** Builds a `SecureContext`, or a `BadOption` that names the option OpenSSL or Node refused. */
export const makeSecureContext = (
  settings: SecureContextSettings,
  context: TlsErrorContext = {}
): Effect.Effect<tls.SecureContext, TransportError> =>
  Effect.suspend(() => {
    if (isEmptyRange(settings.range)) {
      return Effect.fail(
        badOption(
          `no TLS version is left: minVersion ${settings.range.minVersion} is above maxVersion ${settings.range.maxVersion} (a tlsvX.Y:// scheme pins both; an explicit minVersion/maxVersion overrides one end)`,
          context
        )
      )
    }
    const invalid = validateMaterial(settings, context)
    if (invalid !== undefined) return Effect.fail(invalid)
    const ciphers = cipherList(settings.ciphers, settings.securityLevel)
    return Effect.try({
      try: () =>
        tls.createSecureContext({
          ...optional({
            ca: settings.ca === undefined ? undefined : [...settings.ca],
            cert: settings.cert,
            key: settings.cert === undefined ? undefined : (settings.key ?? settings.cert),
            passphrase: settings.passphrase,
            ciphers,
            ecdhCurve: groupList(settings.groups),
            sessionIdContext: settings.sessionIdContext,
            secureOptions: settings.noTickets === true ? constants.SSL_OP_NO_TICKET : undefined
          }),
          minVersion: settings.range.minVersion,
          maxVersion: settings.range.maxVersion
        }),
      catch: (error) => {
        const code = (error as { code?: unknown }).code
        if (code === "ERR_SSL_NO_CIPHER_MATCH") {
          return badOption(
            `\`ciphers\`: OpenSSL knows no cipher in ${JSON.stringify(settings.ciphers)}`,
            context,
            error
          )
        }
        const unknownGroup = settings.groups === undefined ? undefined : unknownGroupOf(settings.groups)
        return unknownGroup !== undefined
          ? badOption(
              `\`groups\`: OpenSSL ${process.versions.openssl} knows no key-exchange group ${JSON.stringify(unknownGroup)} (names such as X25519MLKEM768, X25519, P-256, P-384, P-521, ffdhe2048)`,
              context,
              error
            )
          : badOption(`OpenSSL refused the TLS options: ${messageOf(error)}`, context, error)
      }
    })
  })

// -- Peer identity -----------------------------------------------------------------------------------------------

export interface TlsClientContext extends TlsErrorContext {
  /** The URL's host: a name (IDNs already in punycode) or an IP literal without brackets (a zone is allowed). */
  readonly host: string
  readonly isIpLiteral: boolean
  /** The URL scheme: `tls`, `ssl`, `tlsv1.0` … `tlsv1.3` (which pin the version), or `tcp` for a STARTTLS upgrade. */
  readonly scheme: string
  /** An already connected socket to run TLS over (STARTTLS, or a TCP connection dialed by Happy Eyeballs). */
  readonly socket?: Duplex | undefined
}

export interface PeerIdentity {
  /** The name the certificate must be valid for. */
  readonly verifyName: string
  /** The SNI name, or undefined for an IP literal (RFC 6066 §3 forbids IP literals in SNI). */
  readonly servername: string | undefined
}

/** `peerName` overrides the host for both; a trailing dot (`example.com.`) and an IPv6 zone are dropped. */
export const peerIdentity = (
  opts: Pick<TlsClientOptions, "peerName">,
  context: Pick<TlsClientContext, "host" | "isIpLiteral">
): PeerIdentity => {
  const raw = opts.peerName ?? context.host
  const unbracketed = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw
  const withoutZone = isIP(unbracketed.split("%")[0]!) === 6 ? unbracketed.split("%")[0]! : unbracketed
  const name = withoutZone.endsWith(".") ? withoutZone.slice(0, -1) : withoutZone
  const isIpName = opts.peerName === undefined ? context.isIpLiteral || isIP(name) !== 0 : isIP(name) !== 0
  return { verifyName: name, servername: isIpName ? undefined : name }
}

// -- Connect options ---------------------------------------------------------------------------------------------

/**
 * What Node's own name check saw: the peer certificate Node read for it (`getPeerCertificate(true)`, the costliest
 * call of a client handshake after the key exchange) and our check's verdict. `handshake` reuses both instead of
 * reading and checking the certificate a second time.
 */
export interface PeerCheck {
  /** The name checked. */
  readonly name: string
  /** Set when Node ran the check (a new session whose chain verified). */
  certificate: tls.PeerCertificate | undefined
  error: Error | undefined
}

const peerChecks = new WeakMap<tls.ConnectionOptions, PeerCheck>()

/** The record of the name check of options made by `tlsClientConnectOptions` (pass it to `handshake`). */
export const peerCheckOf = (options: tls.ConnectionOptions): PeerCheck | undefined => peerChecks.get(options)

/**
 * Node's own name check, against our name whatever `host`/`servername` Node is given. The check always runs (the
 * verdict is reported in `TlsDetails.authorized`), but fails the handshake only when `enforce` is on.
 */
const checkIdentityOf =
  (check: PeerCheck, enforce: boolean) =>
  (_host: string, certificate: tls.PeerCertificate): Error | undefined => {
    const error = tls.checkServerIdentity(check.name, certificate)
    check.certificate = certificate
    check.error = error
    return enforce ? error : undefined
  }

/**
 * `tls.connect` options for the decoded options: a prebuilt `secureContext` plus the per-connection settings. The
 * caller adds `socket` (or `host`/`port` to let Node dial) and passes the result to `tls.connect`, then runs
 * `handshake` on the returned socket in the same tick.
 *
 * Verification, as PHP: `verifyPeer: false` turns off the chain check (`rejectUnauthorized: false`);
 * `verifyPeerName: false` turns off the name check; `allowSelfSigned` lets Node complete the handshake and
 * `handshake` then accepts `DEPTH_ZERO_SELF_SIGNED_CERT` alone; pins are checked by `handshake` too.
 */
/** Recently built client contexts, by their material and settings (bounded; oldest evicted first). */
const secureContexts = new Map<string, tls.SecureContext>()

export const tlsClientConnectOptions = (
  opts: TlsClientOptions,
  context: TlsClientContext
): Effect.Effect<tls.ConnectionOptions, TransportError> =>
  Effect.gen(function* () {
    const refused = refusedScheme(context.scheme)
    if (refused !== undefined) {
      return yield* Effect.fail(
        new TransportError({
          reason: "UnsupportedTransport",
          message: `${context.scheme}:// is refused: ${refused}`,
          ...optional({ url: context.url })
        })
      )
    }
    const ca = opts.ca === undefined ? undefined : yield* loadCa(opts.ca, context)
    const cert = opts.cert === undefined ? undefined : yield* loadPem(opts.cert, "cert", context)
    const key = opts.key === undefined ? undefined : yield* loadPem(opts.key, "key", context)
    const settings = {
      ca,
      cert,
      key,
      passphrase: opts.passphrase,
      ciphers: opts.ciphers,
      securityLevel: opts.securityLevel,
      groups: opts.groups,
      range: tlsVersionRange(context.scheme, opts)
    }
    // Building a SecureContext (parsing the CA, checking the key) costs more than the rest of a handshake's CPU on
    // the client; connections with the same material share one, as Node's own https.Agent does.
    const cacheKey = JSON.stringify(settings)
    let secureContext = secureContexts.get(cacheKey)
    if (secureContext === undefined) {
      secureContext = yield* makeSecureContext(settings, context)
      if (secureContexts.size >= 64) secureContexts.delete(secureContexts.keys().next().value!)
      secureContexts.set(cacheKey, secureContext)
    }
    const verifyPeer = opts.verifyPeer ?? true
    const { verifyName, servername } = peerIdentity(opts, context)
    const check: PeerCheck = { name: verifyName, certificate: undefined, error: undefined }
    const options: tls.ConnectionOptions = {
      secureContext,
      // allowSelfSigned needs the handshake to complete so that `handshake` can look at the one error it forgives.
      rejectUnauthorized: verifyPeer && opts.allowSelfSigned !== true,
      checkServerIdentity: checkIdentityOf(check, opts.verifyPeerName ?? true),
      ...optional({
        servername,
        ALPNProtocols: opts.alpn !== undefined && opts.alpn.length > 0 ? [...opts.alpn] : undefined,
        // Node only accepts a Buffer here (it checks Buffer.isBuffer before unwrapping its own session envelope).
        session: opts.session === undefined ? undefined : unwrapSession(opts.session).nodeSession,
        socket: context.socket
      })
    }
    peerChecks.set(options, check)
    return options
  })

// -- Handshake ---------------------------------------------------------------------------------------------------

const nameErrorCodes = new Set(["ERR_TLS_CERT_ALTNAME_INVALID", "HOSTNAME_MISMATCH"])

const codedError = (code: string, message: string): Error & { readonly code: string } =>
  Object.assign(new Error(message), { code })

interface Verification {
  readonly authorized: boolean
  readonly authorizationError: string | undefined
  /** The first check that must fail the connection, as a Node-style error for `classify`. */
  readonly failure: (Error & { readonly code?: string }) | undefined
}

const authorizationCodeOf = (socket: tls.TLSSocket): string | undefined => {
  if (socket.authorized) return undefined
  const value: unknown = socket.authorizationError
  if (typeof value === "string") return value
  if (value instanceof Error) return (value as Error & { code?: string }).code ?? value.message
  return undefined
}

/** A self-signed leaf is forgiven only inside its validity period (OpenSSL may report a later error in its place). */
const selfSignedStillValid = (certificate: X509Certificate): boolean => {
  const now = Date.now()
  return certificate.validFromDate.getTime() <= now && now <= certificate.validToDate.getTime()
}

/**
 * The checks after Node's, in PHP's order: chain (with the self-signed allowance), pin, name. Node checks the name
 * only when the chain verified and the session is new; here it is checked whenever `verifyPeerName` is on.
 */
export const verifyServer = (
  socket: tls.TLSSocket,
  opts: TlsClientOptions,
  identity: PeerIdentity,
  check?: PeerCheck
): Verification => {
  const reused = socket.isSessionReused()
  // Node's name check already read the certificate (and we checked the name then): reuse both.
  const checked = check !== undefined && check.name === identity.verifyName ? check.certificate : undefined
  const reusable = checked?.raw !== undefined && checked.raw.length > 0
  if (reusable) primePeerCertificate(socket, checked.raw)
  // The DER only: parsing the certificate is left to the checks that need its fields.
  const der = peerDerOf(socket)
  const nodeCode = authorizationCodeOf(socket)
  const chainCode = nodeCode !== undefined && !nameErrorCodes.has(nodeCode) ? nodeCode : undefined
  const unknownPeer = reused
    ? "the peer's certificate is unknown (a resumed session that did not come from TlsDetails.session)"
    : "the peer sent no certificate"
  const nameError =
    der === undefined
      ? codedError("ERR_TLS_CERT_ALTNAME_INVALID", unknownPeer)
      : reusable
        ? check!.error
        : tls.checkServerIdentity(identity.verifyName, peerX509Of(socket)!.toLegacyObject())
  const nameCode =
    nameError === undefined ? undefined : ((nameError as Error & { code?: string }).code ?? nameError.message)
  const authorized = der !== undefined && chainCode === undefined && nameError === undefined
  const authorizationError = der === undefined ? "no peer certificate" : (chainCode ?? nameCode)
  const result = (failure: Verification["failure"]): Verification => ({ authorized, authorizationError, failure })

  if (opts.verifyPeer ?? true) {
    // A resumed session keeps the chain verdict of the connection that made it; Node reports that one.
    if (der === undefined && !reused) return result(codedError("UNABLE_TO_GET_ISSUER_CERT", unknownPeer))
    if (chainCode !== undefined) {
      const forgiven =
        opts.allowSelfSigned === true &&
        chainCode === "DEPTH_ZERO_SELF_SIGNED_CERT" &&
        der !== undefined &&
        selfSignedStillValid(peerX509Of(socket)!)
      if (!forgiven) return result(codedError(chainCode, `certificate verification failed: ${chainCode}`))
    }
  }
  if (opts.peerFingerprint !== undefined) {
    const expected = expectedFingerprints(opts.peerFingerprint)
    if (der === undefined || !matchesFingerprints(der, expected)) {
      return result(fingerprintMismatch(der === undefined ? undefined : fingerprintsOf(der), expected))
    }
  }
  if ((opts.verifyPeerName ?? true) && nameError !== undefined) return result(nameError)
  return result(undefined)
}

/** OpenSSL 3 refuses TLS 1.0/1.1 at its default security level, with errors that do not say so. */
const legacyHint = (error: TransportError, opts: TlsClientOptions, range: TlsVersionRange): TransportError =>
  error.reason === "TlsHandshakeFailed" &&
  includesLegacyVersions(range) &&
  opts.securityLevel !== 0 &&
  !error.message.includes("securityLevel: 0")
    ? withMessage(error, `${error.message}; TLS 1.0/1.1 need \`securityLevel: 0\` (on both sides) with OpenSSL 3`)
    : error

/** A copy of the error with another message (a TaggedError is immutable). */
export const withMessage = (error: TransportError, message: string): TransportError =>
  new TransportError({
    reason: error.reason,
    message,
    ...optional({
      url: error.url,
      address: error.address,
      code: error.code,
      errno: error.errno,
      operation: error.operation,
      tlsProblem: error.tlsProblem,
      attempts: error.attempts,
      cause: error.cause
    })
  })

// -- Errors after the handshake ----------------------------------------------------------------------------------

const lateErrors = new WeakMap<Duplex, Error>()

function rememberLateError(this: Duplex, error: Error): void {
  if (!lateErrors.has(this)) lateErrors.set(this, error)
}

/**
 * Keeps the first `error` a socket emits after a successful handshake. A TLS 1.3 peer can still refuse us then (a
 * server rejecting our client certificate sends its alert after our side has finished), possibly before the caller
 * has added its own `error` listener; without one Node would throw the error as uncaught and end the process. The
 * listener stays for the socket's life (it only records); read what it kept with `lateError`.
 */
export const guardLateErrors = (socket: Duplex): void => {
  if (!socket.listeners("error").includes(rememberLateError)) socket.on("error", rememberLateError)
}

/** The first error the socket emitted after its handshake succeeded, if any (see `guardLateErrors`). */
export const lateError = (socket: Duplex): Error | undefined => lateErrors.get(socket)

export interface HandshakeContext extends TlsErrorContext {
  /** The record of Node's name check (`peerCheckOf(connectOptions)`), so that the certificate is read only once. */
  readonly peerCheck?: PeerCheck | undefined
  readonly host: string
  readonly isIpLiteral: boolean
  /** The scheme, for the version range in error hints. */
  readonly scheme?: string | undefined
}

/**
 * Waits for the handshake of a socket made by `tls.connect(tlsClientConnectOptions(...))`, then verifies. Fails with
 * a classified `TransportError` (operation `handshake`) and destroys the socket on any error, on a close before
 * the handshake ends, and when interrupted; every listener it adds for the handshake is removed on every path (the
 * `session` listener of `trackSessions` and the recorder of `guardLateErrors` stay on purpose). It has no timeout
 * of its own: bound it with `Effect.timeout`. Call it in the tick that created the socket. On success, check
 * `lateError(socket)` once your own `error` listener is in place: a TLS 1.3 server may reject our certificate only
 * after our side of the handshake has finished.
 */
export const handshake = (
  socket: tls.TLSSocket,
  opts: TlsClientOptions,
  context: HandshakeContext
): Effect.Effect<TlsDetails, TransportError> =>
  Effect.callback<TlsDetails, TransportError>((resume) => {
    const identity = peerIdentity(opts, context)
    const range = tlsVersionRange(context.scheme, opts)
    const errorContext = { ...optional({ url: context.url, address: context.address }), operation: "handshake" }
    let settled = false
    trackSessions(socket)

    const cleanup = () => {
      socket.off("secureConnect", onSecureConnect)
      socket.off("error", onError)
      socket.off("close", onClose)
    }
    const fail = (error: unknown) => {
      if (settled) return
      settled = true
      cleanup()
      socket.destroy()
      resume(Effect.fail(legacyHint(classify(error, errorContext), opts, range)))
    }
    function onError(error: Error) {
      fail(error)
    }
    function onClose() {
      // Node reports a close before the handshake as an ECONNRESET error first; this covers a socket closed quietly.
      fail(codedError("ECONNRESET", "the connection closed before the TLS handshake finished"))
    }
    function onSecureConnect() {
      if (settled) return
      if (opts.session !== undefined && socket.isSessionReused()) {
        const { peerDer } = unwrapSession(opts.session)
        if (peerDer !== undefined) rememberResumedPeer(socket, peerDer)
      }
      const verification = verifyServer(socket, opts, identity, context.peerCheck)
      if (verification.failure !== undefined) return fail(verification.failure)
      settled = true
      cleanup()
      guardLateErrors(socket)
      try {
        resume(
          Effect.succeed(
            describeTls(socket, {
              role: "client",
              capturePeerCertificate: opts.capturePeerCertificate,
              capturePeerCertificateChain: opts.capturePeerCertificateChain,
              verification
            })
          )
        )
      } catch (error) {
        // describeTls reads the socket; if it was torn down meanwhile, report that rather than throw into Node.
        socket.destroy()
        resume(Effect.fail(classify(error, errorContext)))
      }
    }

    socket.once("secureConnect", onSecureConnect)
    socket.on("error", onError)
    socket.once("close", onClose)
    if (socket.destroyed) onClose()

    return Effect.sync(() => {
      if (settled) return
      settled = true
      cleanup()
      socket.destroy()
    })
  })
