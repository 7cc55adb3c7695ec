/**
 * The server side of TLS: from decoded `TlsServerOptions` to options for `tls.createServer` or for
 * `new tls.TLSSocket(raw, { isServer: true, ...options })`, and the handshake of an accepted socket as an Effect.
 *
 * As PHP, servers verify client certificates only when asked (`requestClientCertificate`,
 * `requireClientCertificate`). Unlike PHP, a server without a certificate is refused when it is configured, with a
 * message that says so, instead of failing every handshake with "no shared cipher".
 */
import { constants, createHash } from "node:crypto"
import type * as tls from "node:tls"
import { Effect } from "effect"
import { describeTls, peerDerOf, type TlsDetails } from "../TlsInfo.ts"
import type { TlsServerOptions } from "../TlsOptions.ts"
import { type TlsVersionRange, tlsVersionRange } from "../TlsOptions.ts"
import type { TransportError } from "../TransportError.ts"
import { classify, optional } from "./classify.ts"
import {
  badOption,
  cipherList,
  groupList,
  guardLateErrors,
  loadCa,
  loadPem,
  makeSecureContext,
  type TlsErrorContext
} from "./tlsClient.ts"

/** Any constant works: it only has to be the same for every connection of one context (at most 32 bytes). */
const sessionIdContext = "netdial"

export interface TlsServerContext extends TlsErrorContext {
  /** The listen URL's scheme: `tlsv1.2` … pin the version as for clients; `tls`/`ssl` use the default range. */
  readonly scheme?: string | undefined
}

/** Lower case without a trailing dot: SNI names and patterns compare case-insensitively (RFC 4343). */
const normalizeHost = (name: string): string => (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase()

export type SniSelector = (servername: string) => tls.SecureContext | undefined

/**
 * Exact names first, then `*.domain` for a name with exactly one more label in front (`a.domain`, not `domain` or
 * `a.b.domain`), as PHP's SNI_server_certs and RFC 6125 wildcards.
 */
export const sniSelector = (contexts: ReadonlyMap<string, tls.SecureContext>): SniSelector => {
  const exact = new Map<string, tls.SecureContext>()
  const wildcard = new Map<string, tls.SecureContext>()
  for (const [pattern, context] of contexts) {
    const name = normalizeHost(pattern)
    if (name.startsWith("*.")) wildcard.set(name.slice(2), context)
    else exact.set(name, context)
  }
  return (servername) => {
    const name = normalizeHost(servername)
    const found = exact.get(name)
    if (found !== undefined) return found
    const dot = name.indexOf(".")
    return dot > 0 ? wildcard.get(name.slice(dot + 1)) : undefined
  }
}

/**
 * Options for `tls.createServer(options)` (which builds its context from `cert`/`key`/`ca`/…) and for
 * `new tls.TLSSocket(raw, { isServer: true, ...options })` (which uses the prebuilt `secureContext`, so its ticket
 * keys are shared by every accepted socket and resumption works). All material is loaded and checked here: a bad
 * PEM, passphrase or cipher list fails now, as a `BadOption`, not at the first client.
 */
export const tlsServerSecureContextOptions = (
  opts: TlsServerOptions,
  context: TlsServerContext = {}
): Effect.Effect<tls.TlsOptions, TransportError> =>
  Effect.gen(function* () {
    if (opts.cert === undefined) {
      return yield* Effect.fail(
        badOption(
          'a TLS server needs `cert` and `key` (its certificate chain and private key, as PEM text or { file }); without them every handshake would fail with OpenSSL\'s "no shared cipher"',
          context
        )
      )
    }
    const range = tlsVersionRange(context.scheme, opts)
    const requireCert = opts.requireClientCertificate === true
    const requestCert = requireCert || opts.requestClientCertificate === true
    const ca = opts.ca === undefined ? undefined : yield* loadCa(opts.ca, context)
    const cert = yield* loadPem(opts.cert, "cert", context)
    const key = opts.key === undefined ? undefined : yield* loadPem(opts.key, "key", context)
    const sniEntries: Array<SniMaterial> = []
    for (const [pattern, entry] of Object.entries(opts.sniCertificates ?? {})) {
      const option = `sniCertificates[${JSON.stringify(pattern)}]`
      sniEntries.push({
        pattern,
        option,
        cert: yield* loadPem(entry.cert, `${option}.cert`, context),
        key: yield* loadPem(entry.key, `${option}.key`, context),
        passphrase: entry.passphrase
      })
    }
    const material: ServerMaterial = {
      ca,
      cert,
      key,
      passphrase: opts.passphrase,
      ciphers: opts.ciphers,
      securityLevel: opts.securityLevel,
      groups: opts.groups,
      range,
      requestCert,
      requireCert,
      alpn: opts.alpn,
      sni: sniEntries
    }
    // A STARTTLS server calls this for every connection (Tls.upgrade with role "server"); validating the material
    // and building its SecureContexts costs more server CPU than the rest of the handshake, so options built from
    // the same material (read again each time, so a changed file is picked up) are shared, as a tls.Server shares
    // its one context (and with it its ticket keys) between all its connections.
    const cacheKey = createHash("sha256").update(JSON.stringify(material)).digest("base64")
    const cached = serverContextOptions.get(cacheKey)
    if (cached !== undefined) {
      // Most recently used last, so that eviction drops the coldest entry.
      serverContextOptions.delete(cacheKey)
      serverContextOptions.set(cacheKey, cached)
      return cached
    }
    const built = yield* buildServerContextOptions(material, context)
    if (serverContextOptions.size >= 64) serverContextOptions.delete(serverContextOptions.keys().next().value!)
    serverContextOptions.set(cacheKey, built)
    return built
  })

interface SniMaterial {
  readonly pattern: string
  readonly option: string
  readonly cert: string
  readonly key: string
  readonly passphrase: string | undefined
}

interface ServerMaterial {
  readonly ca: ReadonlyArray<string> | undefined
  readonly cert: string
  readonly key: string | undefined
  readonly passphrase: string | undefined
  readonly ciphers: string | undefined
  readonly securityLevel: number | undefined
  readonly groups: ReadonlyArray<string> | undefined
  readonly range: TlsVersionRange
  readonly requestCert: boolean
  readonly requireCert: boolean
  readonly alpn: ReadonlyArray<string> | undefined
  readonly sni: ReadonlyArray<SniMaterial>
}

/** Recently built server options, by a digest of their material and settings (bounded; coldest evicted first). */
const serverContextOptions = new Map<string, tls.TlsOptions>()

const buildServerContextOptions = (
  material: ServerMaterial,
  context: TlsServerContext
): Effect.Effect<tls.TlsOptions, TransportError> =>
  Effect.gen(function* () {
    const { ca, cert, key, range, requestCert, requireCert } = material
    // A resumed session carries no client certificate (Node then refuses the client, as `tls.Server` does), so a
    // server that requires one issues no tickets: clients fall back to a full handshake instead of being dropped.
    const shared = {
      ca,
      ciphers: material.ciphers,
      securityLevel: material.securityLevel,
      groups: material.groups,
      range,
      sessionIdContext,
      noTickets: requireCert
    }
    const secureContext = yield* makeSecureContext({ ...shared, cert, key, passphrase: material.passphrase }, context)

    const sniContexts = new Map<string, tls.SecureContext>()
    for (const entry of material.sni) {
      // The SNI context replaces the default one for the connection, so it carries the same CAs, ciphers and versions.
      const sniContext = yield* makeSecureContext(
        {
          ...shared,
          cert: entry.cert,
          key: entry.key,
          passphrase: entry.passphrase,
          certOption: `${entry.option}.cert`,
          keyOption: `${entry.option}.key`
        },
        context
      )
      sniContexts.set(entry.pattern, sniContext)
    }
    const select = sniContexts.size > 0 ? sniSelector(sniContexts) : undefined

    const options: tls.TlsOptions = {
      secureContext,
      cert,
      minVersion: range.minVersion,
      maxVersion: range.maxVersion,
      requestCert,
      rejectUnauthorized: requireCert,
      sessionIdContext,
      ...(requireCert ? { secureOptions: constants.SSL_OP_NO_TICKET } : {}),
      ...optional({
        key: key ?? cert,
        passphrase: material.passphrase,
        ca: ca === undefined ? undefined : [...ca],
        ciphers: cipherList(material.ciphers, material.securityLevel),
        ecdhCurve: groupList(material.groups),
        ALPNProtocols: material.alpn !== undefined && material.alpn.length > 0 ? [...material.alpn] : undefined,
        // Unmatched names (and clients that send no SNI) get the default context.
        SNICallback:
          select === undefined
            ? undefined
            : (servername: string, callback: (error: Error | null, context?: tls.SecureContext) => void) =>
                callback(null, select(servername))
      })
    }
    return options
  })

// -- Handshake of an accepted socket -----------------------------------------------------------------------------

/** Node internals read with care: they have kept these names for years, and each use has a public fallback. */
interface TlsSocketInternals {
  /** Set when the handshake completed (a `tls.Server` hands out sockets only after it). */
  readonly _secureEstablished?: boolean
  /** The native TLSWrap; `verifyError()` is the chain verification result (null when it verified). */
  readonly ssl?: { readonly verifyError?: () => (Error & { code?: string }) | null } | null
}

const codedError = (code: string, message: string): Error & { readonly code: string } =>
  Object.assign(new Error(message), { code })

interface ClientVerification {
  readonly authorized: boolean
  readonly authorizationError: string | undefined
}

/**
 * The client certificate's verification. A `tls.Server` fills `authorized`/`authorizationError`; a standalone
 * `TLSSocket` does not (Node does that in the server's `secure` handler), so the native result is read instead.
 */
const verifyClient = (socket: tls.TLSSocket, requested: boolean): ClientVerification => {
  if (!requested) return { authorized: false, authorizationError: "verification disabled" }
  if (peerDerOf(socket) === undefined) return { authorized: false, authorizationError: "no peer certificate" }
  if (socket.authorized) return { authorized: true, authorizationError: undefined }
  const reported: unknown = socket.authorizationError
  if (typeof reported === "string" && reported.length > 0) return { authorized: false, authorizationError: reported }
  const native = (socket as unknown as TlsSocketInternals).ssl?.verifyError
  if (typeof native !== "function") return { authorized: false, authorizationError: "verification result unavailable" }
  const error = native.call((socket as unknown as TlsSocketInternals).ssl)
  return error === null || error === undefined
    ? { authorized: true, authorizationError: undefined }
    : { authorized: false, authorizationError: error.code ?? error.message }
}

export interface ServerHandshakeOptions {
  readonly requestClientCertificate?: boolean | undefined
  readonly requireClientCertificate?: boolean | undefined
}

/**
 * Waits for the handshake of an accepted server socket (made with `new tls.TLSSocket(raw, { isServer: true,
 * ...tlsServerSecureContextOptions })`, or handed out by a `tls.Server`, whose handshake is already done), then
 * describes it. With `requireClientCertificate`, a client whose certificate does not verify is refused here
 * (OpenSSL itself only refuses a client without one). Failures are classified (operation `handshake`) and destroy
 * the socket; interruption destroys it too; the listeners it adds are removed on every path (except the recorder of
 * `guardLateErrors`, see `lateError`). No timeout of its own: bound it with `Effect.timeout`.
 */
export const secureServerHandshake = (
  socket: tls.TLSSocket,
  opts: ServerHandshakeOptions = {},
  context: TlsErrorContext = {}
): Effect.Effect<TlsDetails, TransportError> =>
  Effect.callback<TlsDetails, TransportError>((resume) => {
    const errorContext = { ...optional({ url: context.url, address: context.address }), operation: "handshake" }
    const required = opts.requireClientCertificate === true
    const requested = required || opts.requestClientCertificate === true
    let settled = false

    const cleanup = () => {
      socket.off("secure", onSecure)
      socket.off("error", onError)
      socket.off("_tlsError", onError)
      socket.off("close", onClose)
    }
    const fail = (error: unknown) => {
      if (settled) return
      settled = true
      cleanup()
      socket.destroy()
      resume(Effect.fail(classify(error, errorContext)))
    }
    function onError(error: Error) {
      fail(error)
    }
    function onClose() {
      fail(codedError("ECONNRESET", "the client closed the connection before the TLS handshake finished"))
    }
    function onSecure() {
      if (settled) return
      const verification = verifyClient(socket, requested)
      if (required && !verification.authorized) {
        const code =
          verification.authorizationError === "no peer certificate"
            ? "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
            : (verification.authorizationError ?? "CERT_REJECTED")
        return fail(codedError(code, `client certificate refused: ${verification.authorizationError}`))
      }
      if (socket.destroyed) {
        return fail(codedError("ECONNRESET", "the socket was closed during the TLS handshake"))
      }
      settled = true
      cleanup()
      guardLateErrors(socket)
      try {
        resume(
          Effect.succeed(
            describeTls(socket, {
              role: "server",
              capturePeerCertificate: requested,
              capturePeerCertificateChain: requested,
              verification
            })
          )
        )
      } catch (error) {
        socket.destroy()
        resume(Effect.fail(classify(error, errorContext)))
      }
    }

    if ((socket as unknown as TlsSocketInternals)._secureEstablished === true) {
      onSecure()
      return
    }
    // A standalone server TLSSocket reports handshake errors as `_tlsError` only (its `error` events are swallowed
    // until Node "releases control", which only a tls.Server does), so both are listened to.
    socket.once("secure", onSecure)
    socket.on("error", onError)
    socket.on("_tlsError", onError)
    socket.once("close", onClose)
    if (socket.destroyed) onClose()

    return Effect.sync(() => {
      if (settled) return
      settled = true
      cleanup()
      socket.destroy()
    })
  })
