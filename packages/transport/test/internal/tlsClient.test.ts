import { mkdtemp, rm } from "node:fs/promises"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import { describe, expect, it } from "@effect/vitest"
import { makeTestPki, type TestPki, writeTestPki } from "@netdial/testkit"
import { Effect, Option } from "effect"
import { tlsProblemOf } from "../../src/internal/classify.ts"
import { handshake, lateError, peerIdentity, tlsClientConnectOptions } from "../../src/internal/tlsClient.ts"
import type { TlsClientOptions } from "../../src/TlsOptions.ts"
import type { TransportError } from "../../src/TransportError.ts"

const pki = await makeTestPki()
const rsa = await makeTestPki({ algorithm: "rsa" })

// -- Helpers: a real node:tls server on 127.0.0.1, and our client path over tls.connect ---------------------------

interface Seen {
  readonly servername: string | false | null
  readonly authorized: boolean
  readonly authorizationError: unknown
  readonly protocol: string | null
  readonly alpnProtocol: string | false | null
}

interface TestServer {
  readonly port: number
  readonly seen: Array<Seen>
  readonly clientErrors: Array<Error & { code?: string }>
}

/** A TLS server that records what each client negotiated, then writes a line; closed (with its sockets) at scope end. */
const tlsServer = (options: tls.TlsOptions) =>
  Effect.acquireRelease(
    Effect.callback<{ server: tls.Server; sockets: Set<net.Socket>; info: TestServer }>((resume) => {
      const seen: Array<Seen> = []
      const clientErrors: Array<Error & { code?: string }> = []
      const sockets = new Set<net.Socket>()
      const server = tls.createServer(options, (socket) => {
        seen.push({
          servername: socket.servername,
          authorized: socket.authorized,
          authorizationError: socket.authorizationError,
          protocol: socket.getProtocol(),
          alpnProtocol: socket.alpnProtocol
        })
        socket.on("error", () => {})
        socket.end("hello\n")
      })
      server.on("connection", (raw: net.Socket) => {
        sockets.add(raw)
        raw.on("close", () => sockets.delete(raw))
      })
      server.on("tlsClientError", (error) => clientErrors.push(error))
      server.listen(0, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            server,
            sockets,
            info: { port: (server.address() as net.AddressInfo).port, seen, clientErrors }
          })
        )
      )
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ info }) => info))

/** A plain TCP server with a handler per connection (plaintext peers, silent peers, rude peers). */
const netServer = (onConnection: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; sockets: Set<net.Socket>; port: number }>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        onConnection(socket)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, sockets, port: (server.address() as net.AddressInfo).port }))
      )
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ port }) => port))

interface DialTarget {
  /** The URL host: decides SNI and the name verified; the TCP connection always goes to 127.0.0.1. */
  readonly host?: string
  readonly scheme?: string
}

/** Our client path: options → tls.connect → handshake, bounded by a timeout; the socket is destroyed at scope end. */
const dial = (port: number, opts: TlsClientOptions, target: DialTarget = {}) =>
  Effect.gen(function* () {
    const host = target.host ?? "127.0.0.1"
    const context = { host, isIpLiteral: net.isIP(host) !== 0, scheme: target.scheme ?? "tls" }
    const options = yield* tlsClientConnectOptions(opts, context)
    const socket = tls.connect({ ...options, host: "127.0.0.1", port })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    const details = yield* handshake(socket, opts, context).pipe(Effect.timeout("10 seconds"))
    // Errors after the handshake (a TLS 1.3 server refusing our certificate) are kept by the handshake's guard.
    return { socket, details, late: () => lateError(socket) as (Error & { code?: string }) | undefined }
  })

const dialError = (port: number, opts: TlsClientOptions, target: DialTarget = {}) =>
  Effect.flip(dial(port, opts, target)).pipe(
    Effect.map((error) => error as TransportError),
    Effect.tap((error) => Effect.sync(() => expect(error._tag).toBe("TransportError")))
  )

/** Polls a condition on the real clock: at most 250 × 20 ms. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250 && !condition(); i++) yield* Effect.sleep("20 millis")
    expect(condition()).toBe(true)
  })

const serverOf = (cert: { certPem: string; keyPem: string }, extra: tls.TlsOptions = {}): tls.TlsOptions => ({
  cert: cert.certPem,
  key: cert.keyPem,
  ...extra
})

const trusting = (p: TestPki = pki): TlsClientOptions => ({ ca: p.ca.certPem })

// -- Tests --------------------------------------------------------------------------------------------------------

describe("peerIdentity", () => {
  it("sends no SNI for IP literals, strips trailing dots and zones, and lets peerName override", () => {
    expect(peerIdentity({}, { host: "127.0.0.1", isIpLiteral: true })).toEqual({
      verifyName: "127.0.0.1",
      servername: undefined
    })
    expect(peerIdentity({}, { host: "fe80::1%eth0", isIpLiteral: true })).toEqual({
      verifyName: "fe80::1",
      servername: undefined
    })
    expect(peerIdentity({}, { host: "example.com.", isIpLiteral: false })).toEqual({
      verifyName: "example.com",
      servername: "example.com"
    })
    expect(peerIdentity({ peerName: "netdial.test." }, { host: "127.0.0.1", isIpLiteral: true })).toEqual({
      verifyName: "netdial.test",
      servername: "netdial.test"
    })
    expect(peerIdentity({ peerName: "::1" }, { host: "localhost", isIpLiteral: false })).toEqual({
      verifyName: "::1",
      servername: undefined
    })
  })
})

describe("tlsClientConnectOptions", () => {
  it.live("maps verification switches onto rejectUnauthorized and checkServerIdentity", () =>
    Effect.gen(function* () {
      const context = { host: "localhost", isIpLiteral: false, scheme: "tls" }
      const strict = yield* tlsClientConnectOptions({}, context)
      expect(strict.rejectUnauthorized).toBe(true)
      expect(strict.servername).toBe("localhost")
      expect(strict.secureContext).toBeDefined()
      expect(strict.checkServerIdentity?.("localhost", {} as tls.PeerCertificate)).toBeInstanceOf(Error)
      const lax = yield* tlsClientConnectOptions({ verifyPeer: false, verifyPeerName: false }, context)
      expect(lax.rejectUnauthorized).toBe(false)
      expect(lax.checkServerIdentity?.("localhost", {} as tls.PeerCertificate)).toBeUndefined()
      const selfSigned = yield* tlsClientConnectOptions({ allowSelfSigned: true }, context)
      expect(selfSigned.rejectUnauthorized).toBe(false)
    })
  )

  it.live("reads ca, cert and key from files and directories", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "netdial-tls-"))),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      )
      const files = yield* Effect.promise(() => writeTestPki(pki, dir))
      const server = yield* tlsServer(serverOf(pki.server))
      const byFile = yield* dial(server.port, {
        ca: { file: files.ca.cert },
        cert: { file: files.client.cert },
        key: { file: files.client.key }
      })
      expect(byFile.details.authorized).toBe(true)
      // The directory holds every test certificate, CAs and leaves alike; the CA among them is what matters.
      const byDirectory = yield* dial(server.port, { ca: { directory: dir } })
      expect(byDirectory.details.authorized).toBe(true)
      const mixed = yield* dial(server.port, { ca: [pki.otherCa.certPem, { file: files.ca.cert }] })
      expect(mixed.details.authorized).toBe(true)
    })
  )

  it.live("refuses bad material before dialing, naming the option", () =>
    Effect.gen(function* () {
      const context = { host: "localhost", isIpLiteral: false, scheme: "tls" }
      const fail = (opts: TlsClientOptions, scheme = "tls") =>
        Effect.flip(tlsClientConnectOptions(opts, { ...context, scheme }))
      const missing = yield* fail({ ca: { file: "/nonexistent/ca.pem" } })
      expect(missing.reason).toBe("BadOption")
      expect(missing.message).toContain("/nonexistent/ca.pem")
      const emptyDir = yield* fail({ ca: { directory: "/nonexistent-dir" } })
      expect(emptyDir.reason).toBe("BadOption")
      const noCert = yield* fail({ ca: pki.ca.keyPem })
      expect(noCert.message).toContain('no "-----BEGIN CERTIFICATE-----" block')
      const mismatch = yield* fail({ cert: pki.client.certPem, key: pki.server.keyPem })
      expect(mismatch.reason).toBe("BadOption")
      expect(mismatch.message).toContain("is not the private key of `cert`")
      const noPassphrase = yield* fail({ cert: pki.client.certPem, key: pki.client.encryptedKeyPem })
      expect(noPassphrase.message).toContain("give its `passphrase`")
      const wrongPassphrase = yield* fail({
        cert: pki.client.certPem,
        key: pki.client.encryptedKeyPem,
        passphrase: "wrong"
      })
      expect(wrongPassphrase.message).toContain("wrong `passphrase`")
      const keyOnly = yield* fail({ key: pki.client.keyPem })
      expect(keyOnly.message).toContain("`key` is given without `cert`")
      const certWithoutKey = yield* fail({ cert: pki.client.certPem })
      expect(certWithoutKey.message).toContain("no private key in `cert`'s PEM")
      const ciphers = yield* fail({ ciphers: "NO-SUCH-CIPHER" })
      expect(ciphers.message).toContain("`ciphers`")
      expect(ciphers.code).toBe("ERR_SSL_NO_CIPHER_MATCH")
      const emptyRange = yield* fail({ maxVersion: "TLSv1.2" }, "tlsv1.3")
      expect(emptyRange.reason).toBe("BadOption")
      expect(emptyRange.message).toContain("minVersion TLSv1.3 is above maxVersion TLSv1.2")
      const sslv3 = yield* fail({}, "sslv3")
      expect(sslv3.reason).toBe("UnsupportedTransport")
      expect(sslv3.message).toContain("RFC 7568")
    })
  )

  it.live("accepts a certificate whose PEM also holds the key (PHP's local_cert without local_pk)", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server, { ca: pki.ca.certPem, requestCert: true }))
      const { details } = yield* dial(server.port, {
        ...trusting(),
        cert: pki.client.certPem + pki.client.keyPem
      })
      expect(details.authorized).toBe(true)
      yield* eventually(() => server.seen.length === 1)
      expect(server.seen[0]!.authorized).toBe(true)
    })
  )
})

describe("handshake: verification", () => {
  it.live("succeeds with the right CA and describes the connection", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const { details, socket } = yield* dial(server.port, trusting())
      expect(details.protocol).toBe("TLSv1.3")
      expect(details.authorized).toBe(true)
      expect(details.authorizationError).toBeUndefined()
      expect(details.cipher.version).toBe("TLSv1.3")
      expect(details.cipher.bits).toBeOneOf([128, 256])
      expect(details.alpnProtocol).toBeUndefined()
      expect(details.sessionReused).toBe(false)
      expect(details.peerCertificate).toBeUndefined()
      // The handshake removed its listeners; only ours (added after it) and Node's own remain.
      expect(socket.listeners("secureConnect")).toHaveLength(0)
      expect(socket.listeners("close").some((listener) => listener.name === "onClose")).toBe(false)
    })
  )

  it.live("Expired", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.expired))
      const error = yield* dialError(server.port, trusting())
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.tlsProblem).toBe("Expired")
      expect(error.code).toBe("CERT_HAS_EXPIRED")
      expect(error.operation).toBe("handshake")
    })
  )

  it.live("NotYetValid", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.notYetValid))
      const error = yield* dialError(server.port, trusting())
      expect(error.tlsProblem).toBe("NotYetValid")
      expect(error.code).toBe("CERT_NOT_YET_VALID")
    })
  )

  it.live("SelfSigned, and allowSelfSigned forgives exactly that", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.selfSigned))
      const error = yield* dialError(server.port, trusting())
      expect(error.tlsProblem).toBe("SelfSigned")
      expect(error.code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT")
      expect(error.message).toContain("allowSelfSigned")
      const { details } = yield* dial(server.port, { ...trusting(), allowSelfSigned: true })
      expect(details.authorized).toBe(false)
      expect(details.authorizationError).toBe("DEPTH_ZERO_SELF_SIGNED_CERT")
      // The name is still checked for a forgiven self-signed certificate (Node would skip it).
      const wrongName = yield* dialError(
        server.port,
        { ...trusting(), allowSelfSigned: true },
        { host: "netdial.test" }
      )
      expect(wrongName.tlsProblem).toBe("HostnameMismatch")
    })
  )

  it.live("allowSelfSigned does not forgive an unknown CA, an expired or a misnamed certificate", () =>
    Effect.gen(function* () {
      const untrusted = yield* tlsServer(serverOf(pki.untrusted))
      const unknownCa = yield* dialError(untrusted.port, { ...trusting(), allowSelfSigned: true })
      expect(unknownCa.tlsProblem).toBe("UnknownCa")
      const expired = yield* tlsServer(serverOf(pki.expired))
      const expiredError = yield* dialError(expired.port, { ...trusting(), allowSelfSigned: true })
      expect(expiredError.tlsProblem).toBe("Expired")
      const wrongHost = yield* tlsServer(serverOf(pki.wrongHost))
      const misnamed = yield* dialError(wrongHost.port, { ...trusting(), allowSelfSigned: true })
      expect(misnamed.tlsProblem).toBe("HostnameMismatch")
    })
  )

  it.live("UnknownCa for a certificate from another CA", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.untrusted))
      const error = yield* dialError(server.port, trusting())
      expect(error.tlsProblem).toBe("UnknownCa")
      expect(error.code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      // The same certificate is fine once its CA is trusted.
      const { details } = yield* dial(server.port, { ca: pki.otherCa.certPem })
      expect(details.authorized).toBe(true)
    })
  )

  it.live("HostnameMismatch, and verifyPeerName: false lets it pass", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.wrongHost))
      const error = yield* dialError(server.port, trusting(), { host: "localhost" })
      expect(error.tlsProblem).toBe("HostnameMismatch")
      expect(error.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID")
      const { details } = yield* dial(server.port, { ...trusting(), verifyPeerName: false }, { host: "localhost" })
      expect(details.authorized).toBe(false)
      expect(details.authorizationError).toBe("ERR_TLS_CERT_ALTNAME_INVALID")
      // The certificate's own name verifies.
      const right = yield* dial(server.port, trusting(), { host: "wrong.example" })
      expect(right.details.authorized).toBe(true)
    })
  )

  it.live("verifyPeer: false skips the chain but, as in PHP, still checks the name", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.untrusted))
      const { details } = yield* dial(server.port, { verifyPeer: false })
      expect(details.authorized).toBe(false)
      expect(details.authorizationError).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      const misnamed = yield* dialError(server.port, { verifyPeer: false }, { host: "netdial.test" })
      expect(misnamed.tlsProblem).toBe("HostnameMismatch")
      const off = yield* dial(server.port, { verifyPeer: false, verifyPeerName: false }, { host: "netdial.test" })
      expect(off.details.authorized).toBe(false)
    })
  )

  it.live("an IP-only certificate verifies for its IP and not for a name", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.ipOnly))
      const { details } = yield* dial(server.port, trusting(), { host: "127.0.0.1" })
      expect(details.authorized).toBe(true)
      const error = yield* dialError(server.port, trusting(), { host: "localhost" })
      expect(error.tlsProblem).toBe("HostnameMismatch")
    })
  )
})

describe("handshake: fingerprint pinning", () => {
  it.live("FingerprintMismatch for a wrong pin; the right pin passes, in every spelling", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const error = yield* dialError(server.port, { ...trusting(), peerFingerprint: pki.client.fingerprints.sha256 })
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.tlsProblem).toBe("FingerprintMismatch")
      expect(error.code).toBe("ERR_NETDIAL_FINGERPRINT_MISMATCH")
      expect(error.message).toContain(pki.server.fingerprints.sha256)
      const colons = pki.server.fingerprints.sha256.toUpperCase().replace(/(..)(?!$)/g, "$1:")
      for (const peerFingerprint of [
        pki.server.fingerprints.sha256,
        colons,
        pki.server.fingerprints.sha1,
        pki.server.fingerprints.md5,
        { sha256: pki.server.fingerprints.sha256, md5: pki.server.fingerprints.md5 }
      ]) {
        const { details } = yield* dial(server.port, { ...trusting(), peerFingerprint })
        expect(details.authorized).toBe(true)
      }
      // All digests of a set must match.
      const half = yield* dialError(server.port, {
        ...trusting(),
        peerFingerprint: { sha256: pki.server.fingerprints.sha256, sha1: pki.client.fingerprints.sha1 }
      })
      expect(half.tlsProblem).toBe("FingerprintMismatch")
    })
  )

  it.live("a pin with verifyPeer: false accepts a self-signed certificate, and a wrong pin still fails", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.selfSigned))
      const { details } = yield* dial(server.port, {
        verifyPeer: false,
        peerFingerprint: pki.selfSigned.fingerprints.sha256
      })
      expect(details.authorized).toBe(false)
      const error = yield* dialError(server.port, { verifyPeer: false, peerFingerprint: pki.server.fingerprints.sha1 })
      expect(error.tlsProblem).toBe("FingerprintMismatch")
      // With verifyPeer on, the chain check comes first (as PHP): a pin does not make a self-signed leaf trusted.
      const chain = yield* dialError(server.port, { peerFingerprint: pki.selfSigned.fingerprints.sha256 })
      expect(chain.tlsProblem).toBe("SelfSigned")
    })
  )
})

describe("handshake: SNI", () => {
  it.live("an IP literal sends no SNI, a name sends it, and peerName overrides both SNI and the name verified", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const byIp = yield* dial(server.port, trusting(), { host: "127.0.0.1" })
      expect(byIp.details.servername).toBeUndefined()
      yield* eventually(() => server.seen.length === 1)
      expect(server.seen[0]!.servername).toBe(false)

      const byName = yield* dial(server.port, trusting(), { host: "localhost." })
      expect(byName.details.servername).toBe("localhost")
      yield* eventually(() => server.seen.length === 2)
      expect(server.seen[1]!.servername).toBe("localhost")

      const overridden = yield* dial(server.port, { ...trusting(), peerName: "netdial.test" }, { host: "127.0.0.1" })
      expect(overridden.details.servername).toBe("netdial.test")
      yield* eventually(() => server.seen.length === 3)
      expect(server.seen[2]!.servername).toBe("netdial.test")

      const wrong = yield* dialError(server.port, { ...trusting(), peerName: "wrong.example" }, { host: "localhost" })
      expect(wrong.tlsProblem).toBe("HostnameMismatch")
    })
  )
})

describe("handshake: versions", () => {
  it.live("server max TLSv1.2 and client min TLSv1.3 → ProtocolVersion", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server, { maxVersion: "TLSv1.2" }))
      const error = yield* dialError(server.port, { ...trusting(), minVersion: "TLSv1.3" })
      expect(error.tlsProblem).toBe("ProtocolVersion")
      expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION")
    })
  )

  it.live("tlsv1.2:// pins TLSv1.2 against a server offering TLSv1.3; maxVersion overrides the pin", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const pinned = yield* dial(server.port, trusting(), { scheme: "tlsv1.2" })
      expect(pinned.details.protocol).toBe("TLSv1.2")
      expect(pinned.details.cipher.name).toMatch(/^ECDHE-ECDSA-/)
      const widened = yield* dial(server.port, { ...trusting(), maxVersion: "TLSv1.3" }, { scheme: "tlsv1.2" })
      expect(widened.details.protocol).toBe("TLSv1.3")
      const pinned13 = yield* dial(server.port, trusting(), { scheme: "tlsv1.3" })
      expect(pinned13.details.protocol).toBe("TLSv1.3")
    })
  )

  it.live("TLS 1.0 and 1.1 fail at OpenSSL 3's default security level, with a hint about securityLevel: 0", () =>
    Effect.gen(function* () {
      // The server allows TLS 1.0 at level 0, so the refusal comes from the client's default level.
      const server = yield* tlsServer(
        serverOf(rsa.server, { minVersion: "TLSv1", ciphers: `${tls.DEFAULT_CIPHERS}:@SECLEVEL=0` })
      )
      for (const scheme of ["tlsv1.0", "tlsv1.1"]) {
        const error = yield* dialError(server.port, trusting(rsa), { scheme })
        expect(error.reason).toBe("TlsHandshakeFailed")
        // Node 24 / OpenSSL 3.5: above level 0 OpenSSL 3 disables TLS 1.0/1.1 (their handshake signatures need
        // SHA-1/MD5), so a client pinned to one of them has no protocol left to offer.
        expect(error.code).toBe("ERR_SSL_NO_PROTOCOLS_AVAILABLE")
        expect(error.tlsProblem).toBe("ProtocolVersion")
        expect(error.message).toContain("securityLevel: 0")
      }
    })
  )

  it.live("TLS 1.0 and 1.1 work with securityLevel: 0 on both sides (RSA certificates)", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(
        serverOf(rsa.server, { minVersion: "TLSv1", ciphers: `${tls.DEFAULT_CIPHERS}:@SECLEVEL=0` })
      )
      const v10 = yield* dial(server.port, { ...trusting(rsa), securityLevel: 0 }, { scheme: "tlsv1.0" })
      expect(v10.details.protocol).toBe("TLSv1")
      const v11 = yield* dial(server.port, { ...trusting(rsa), securityLevel: 0 }, { scheme: "tlsv1.1" })
      expect(v11.details.protocol).toBe("TLSv1.1")
      // A server at the default level refuses a TLS 1.0 client even at level 0.
      const strict = yield* tlsServer(serverOf(rsa.server, { minVersion: "TLSv1" }))
      const error = yield* dialError(strict.port, { ...trusting(rsa), securityLevel: 0 }, { scheme: "tlsv1.0" })
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.tlsProblem).toBe("ProtocolVersion")
      expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION")
    })
  )
})

describe("handshake: ciphers", () => {
  it.live("no common TLS 1.2 cipher fails with the server's handshake_failure alert", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(
        serverOf(pki.server, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" })
      )
      const error = yield* dialError(server.port, {
        ...trusting(),
        maxVersion: "TLSv1.2",
        ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"
      })
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.code).toBe("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE")
      expect(error.tlsProblem).toBe(tlsProblemOf(error.code))
      yield* eventually(() => server.clientErrors.length === 1)
      expect(server.clientErrors[0]!.code).toBe("ERR_SSL_NO_SHARED_CIPHER")
    })
  )

  it.live("the negotiated cipher follows `ciphers` and reports its key size", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const { details } = yield* dial(server.port, {
        ...trusting(),
        maxVersion: "TLSv1.2",
        ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384"
      })
      expect(details.cipher.name).toBe("ECDHE-ECDSA-AES256-GCM-SHA384")
      expect(details.cipher.standardName).toBe("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
      expect(details.cipher.bits).toBe(256)
    })
  )
})

describe("handshake: ALPN", () => {
  it.live("negotiates in the server's order of preference", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server, { ALPNProtocols: ["h2", "http/1.1"] }))
      const { details } = yield* dial(server.port, { ...trusting(), alpn: ["http/1.1", "h2"] })
      expect(details.alpnProtocol).toBe("h2")
      const only = yield* dial(server.port, { ...trusting(), alpn: ["http/1.1"] })
      expect(only.details.alpnProtocol).toBe("http/1.1")
      const none = yield* dial(server.port, trusting())
      expect(none.details.alpnProtocol).toBeUndefined()
    })
  )

  it.live("no common protocol fails the handshake", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server, { ALPNProtocols: ["h2"] }))
      const error = yield* dialError(server.port, { ...trusting(), alpn: ["smtp"] })
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL")
    })
  )
})

describe("handshake: client certificates", () => {
  const requiring = (extra: tls.TlsOptions = {}) =>
    serverOf(pki.server, { ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true, ...extra })

  it.live("TLS 1.2 without a certificate → PeerCertificateRequired during the handshake", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(requiring({ maxVersion: "TLSv1.2" }))
      const error = yield* dialError(server.port, trusting())
      expect(error.reason).toBe("TlsHandshakeFailed")
      // The server's alert is a bare handshake_failure (40): the client cannot tell it from other refusals. OpenSSL
      // 3.2+ spells it "ssl/tls alert handshake failure" (was "sslv3 alert …"), hence the slash in Node's code.
      expect(error.code).toBe("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE")
      expect(error.tlsProblem).toBe(tlsProblemOf(error.code))
      yield* eventually(() => server.clientErrors.length === 1)
      expect(server.clientErrors[0]!.code).toBe("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE")
    })
  )

  it.live("TLS 1.3 without a certificate: our side finishes, then the server's alert arrives as a socket error", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(requiring())
      // No error listener of ours: the handshake's guard keeps the error (Node would otherwise throw it).
      const { late, socket } = yield* dial(server.port, trusting())
      yield* eventually(() => late() !== undefined)
      expect(late()!.code).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED")
      expect(socket.destroyed).toBe(true)
      yield* eventually(() => server.clientErrors.length === 1)
      expect(server.clientErrors[0]!.code).toBe("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE")
    })
  )

  it.live("with a certificate and its encrypted key + passphrase, the server sees authorized: true", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(requiring())
      const { details } = yield* dial(server.port, {
        ...trusting(),
        cert: pki.client.certPem,
        key: pki.client.encryptedKeyPem,
        passphrase: pki.passphrase
      })
      expect(details.authorized).toBe(true)
      yield* eventually(() => server.seen.length === 1)
      expect(server.seen[0]!.authorized).toBe(true)
    })
  )

  it.live("a certificate from an unknown CA: a tls.Server drops the client after the TLS 1.3 handshake", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(requiring())
      // Node checks the client's chain in JS once the handshake is done, then destroys the socket without an alert;
      // in TLS 1.3 our side has finished by then, so the drop shows as an end of stream.
      const { details, socket } = yield* dial(server.port, {
        ...trusting(),
        cert: pki.untrusted.certPem,
        key: pki.untrusted.keyPem
      })
      expect(details.authorized).toBe(true)
      socket.resume()
      yield* eventually(() => socket.destroyed || socket.readableEnded)
      yield* eventually(() => server.clientErrors.length === 1)
      expect(server.clientErrors[0]!.code).toBe("ECONNRESET")
      expect(server.seen).toHaveLength(0)
    })
  )
})

describe("handshake: peer certificate capture", () => {
  it.live("captures the leaf and the chain with testkit's subjects, SANs and fingerprints", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf({ certPem: pki.server.chainPem, keyPem: pki.server.keyPem }))
      const { details } = yield* dial(server.port, {
        ...trusting(),
        capturePeerCertificate: true,
        capturePeerCertificateChain: true
      })
      const leaf = details.peerCertificate!
      expect(leaf.subject).toBe("CN=localhost, O=netdial")
      expect(leaf.issuer).toBe("CN=netdial Test CA, O=netdial")
      expect(leaf.subjectAltNames).toEqual(["DNS:localhost", "DNS:netdial.test", "IP:127.0.0.1", "IP:::1"])
      expect(leaf.fingerprints).toEqual(pki.server.fingerprints)
      expect(leaf.serialNumber).toBe(pki.server.serialNumber)
      expect(leaf.validTo.getTime()).toBe(pki.server.notAfter.getTime())
      expect(leaf.pem).toContain("-----BEGIN CERTIFICATE-----")
      const chain = details.peerCertificateChain!
      expect(chain.map((cert) => cert.subject)).toEqual(["CN=localhost, O=netdial", "CN=netdial Test CA, O=netdial"])
      expect(chain.map((cert) => cert.fingerprints.sha256)).toEqual([
        pki.server.fingerprints.sha256,
        pki.ca.fingerprints.sha256
      ])
    })
  )
})

describe("handshake: sessions", () => {
  it.live("TLS 1.2: the session of a first connection resumes a second one", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const first = yield* dial(server.port, trusting(), { scheme: "tlsv1.2" })
      expect(first.details.sessionReused).toBe(false)
      const session = first.details.session
      expect(session).toBeInstanceOf(Uint8Array)
      const second = yield* dial(
        server.port,
        { ...trusting(), session: new Uint8Array(session!) },
        { scheme: "tlsv1.2" }
      )
      expect(second.details.sessionReused).toBe(true)
      expect(second.details.authorized).toBe(true)
    })
  )

  it.live("TLS 1.3: the ticket arrives after the handshake and resumes a second connection", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const first = yield* dial(server.port, trusting())
      yield* eventually(() => first.details.session !== undefined)
      const second = yield* dial(server.port, { ...trusting(), session: first.details.session! })
      expect(second.details.protocol).toBe("TLSv1.3")
      expect(second.details.sessionReused).toBe(true)
    })
  )
})

describe("handshake: checks on resumed sessions", () => {
  it.live("the session carries the certificate, so pins, names and capture still work when Node resumes", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const first = yield* dial(server.port, trusting(), { scheme: "tlsv1.2", host: "localhost" })
      const session = first.details.session!
      const pinned = yield* dial(
        server.port,
        { ...trusting(), session, peerFingerprint: pki.server.fingerprints.sha256, capturePeerCertificate: true },
        { scheme: "tlsv1.2", host: "localhost" }
      )
      expect(pinned.details.sessionReused).toBe(true)
      expect(pinned.details.authorized).toBe(true)
      expect(pinned.details.peerCertificate?.fingerprints).toEqual(pki.server.fingerprints)
      const wrongPin = yield* dialError(
        server.port,
        { ...trusting(), session, peerFingerprint: pki.client.fingerprints.sha256 },
        { scheme: "tlsv1.2", host: "localhost" }
      )
      expect(wrongPin.tlsProblem).toBe("FingerprintMismatch")
      // Node binds a session to the name it was made for: dialing another name makes a full handshake.
      const other = yield* dial(server.port, { ...trusting(), session }, { scheme: "tlsv1.2", host: "netdial.test" })
      expect(other.details.sessionReused).toBe(false)
    })
  )

  it.live("Node's own session bytes resume, but then no certificate is known: the name check fails closed", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.server))
      const first = yield* dial(server.port, trusting(), { scheme: "tlsv1.2" })
      const nodeSession = first.socket.getSession()!
      const error = yield* dialError(server.port, { ...trusting(), session: nodeSession }, { scheme: "tlsv1.2" })
      expect(error.tlsProblem).toBe("HostnameMismatch")
      expect(error.message).toContain("resumed session that did not come from TlsDetails.session")
      const unchecked = yield* dial(
        server.port,
        { ...trusting(), session: nodeSession, verifyPeerName: false },
        { scheme: "tlsv1.2" }
      )
      expect(unchecked.details.sessionReused).toBe(true)
      expect(unchecked.details.authorized).toBe(false)
      expect(unchecked.details.authorizationError).toBe("no peer certificate")
    })
  )
})

describe("handshake: peers that do not speak TLS", () => {
  it.live("a plaintext greeting → NotTls", () =>
    Effect.gen(function* () {
      const port = yield* netServer((socket) => socket.write("220 hello\r\n"))
      const error = yield* dialError(port, trusting())
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.tlsProblem).toBe("NotTls")
      expect(error.code).toBe("ERR_SSL_WRONG_VERSION_NUMBER")
    })
  )

  it.live("a peer that closes at once → ConnectionReset", () =>
    Effect.gen(function* () {
      const port = yield* netServer((socket) => socket.end())
      const error = yield* dialError(port, trusting())
      expect(error.reason).toBe("ConnectionReset")
      expect(error.code).toBe("ECONNRESET")
      expect(error.operation).toBe("handshake")
    })
  )

  it.live("a failed handshake destroys the socket and removes its listeners", () =>
    Effect.gen(function* () {
      const server = yield* tlsServer(serverOf(pki.expired))
      const context = { host: "127.0.0.1", isIpLiteral: true, scheme: "tls" }
      const options = yield* tlsClientConnectOptions(trusting(), context)
      const socket = tls.connect({ ...options, host: "127.0.0.1", port: server.port })
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      const before = { error: socket.listenerCount("error"), close: socket.listenerCount("close") }
      const error = yield* Effect.flip(handshake(socket, trusting(), context))
      expect(error.tlsProblem).toBe("Expired")
      expect(socket.destroyed).toBe(true)
      expect(socket.listenerCount("error")).toBe(before.error)
      expect(socket.listenerCount("close")).toBe(before.close)
      expect(socket.listenerCount("secureConnect")).toBe(0)
    })
  )

  it.live("a silent peer: the handshake is interruptible and the socket is destroyed", () =>
    Effect.gen(function* () {
      const port = yield* netServer(() => {})
      const context = { host: "127.0.0.1", isIpLiteral: true, scheme: "tls" }
      const options = yield* tlsClientConnectOptions(trusting(), context)
      const socket = tls.connect({ ...options, host: "127.0.0.1", port })
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      const errorsBefore = socket.listenerCount("error")
      const outcome = yield* handshake(socket, trusting(), context).pipe(Effect.timeoutOption("300 millis"))
      expect(Option.isNone(outcome)).toBe(true)
      expect(socket.destroyed).toBe(true)
      expect(socket.listenerCount("error")).toBe(errorsBefore)
      expect(socket.listenerCount("secureConnect")).toBe(0)
    })
  )
})
