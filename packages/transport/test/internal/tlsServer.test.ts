import * as net from "node:net"
import * as tls from "node:tls"
import { describe, expect, it } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import { Effect, Exit, Option } from "effect"
import { handshake, lateError, tlsClientConnectOptions } from "../../src/internal/tlsClient.ts"
import {
  type ServerHandshakeOptions,
  secureServerHandshake,
  sniSelector,
  tlsServerSecureContextOptions
} from "../../src/internal/tlsServer.ts"
import type { TlsDetails } from "../../src/TlsInfo.ts"
import type { TlsClientOptions, TlsServerOptions } from "../../src/TlsOptions.ts"
import type { TransportError } from "../../src/TransportError.ts"

const pki = await makeTestPki()
const rsa = await makeTestPki({ algorithm: "rsa" })

const serverCert = { cert: pki.server.certPem, key: pki.server.keyPem }

// -- Helpers ------------------------------------------------------------------------------------------------------

/** Polls a condition on the real clock: at most 250 × 20 ms. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250 && !condition(); i++) yield* Effect.sleep("20 millis")
    expect(condition()).toBe(true)
  })

interface Accepted {
  readonly port: number
  /** One settled handshake per accepted connection, in order. */
  readonly results: Array<Promise<Exit.Exit<TlsDetails, TransportError>>>
}

/**
 * The pull-style accept path: a net.Server whose connections are wrapped in `new tls.TLSSocket(raw, { isServer:
 * true, ...options })` and handed to `secureServerHandshake` (bounded by a timeout). Everything is closed at scope end.
 */
const acceptingServer = (opts: TlsServerOptions, handshakeOptions: ServerHandshakeOptions = opts, scheme = "tls") =>
  Effect.gen(function* () {
    const options = yield* tlsServerSecureContextOptions(opts, { scheme })
    return yield* Effect.acquireRelease(
      Effect.callback<{ server: net.Server; sockets: Set<net.Socket>; accepted: Accepted }>((resume) => {
        const sockets = new Set<net.Socket>()
        const results: Accepted["results"] = []
        const server = net.createServer((raw) => {
          const socket = new tls.TLSSocket(raw, { ...options, isServer: true })
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          sockets.add(raw)
          raw.on("close", () => sockets.delete(raw))
          results.push(
            Effect.runPromiseExit(
              secureServerHandshake(socket, handshakeOptions).pipe(
                Effect.timeout("10 seconds"),
                Effect.tap(() => Effect.sync(() => socket.on("error", () => {}))),
                Effect.catchTag("TimeoutError", () => Effect.die("server handshake timed out"))
              )
            )
          )
        })
        server.listen(0, "127.0.0.1", () =>
          resume(
            Effect.succeed({ server, sockets, accepted: { port: (server.address() as net.AddressInfo).port, results } })
          )
        )
      }),
      ({ server, sockets }) =>
        Effect.callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    ).pipe(Effect.map(({ accepted }) => accepted))
  })

/** The n-th accepted handshake's outcome. */
const acceptedExit = (accepted: Accepted, index = 0) =>
  Effect.gen(function* () {
    yield* eventually(() => accepted.results.length > index)
    return yield* Effect.promise(() => accepted.results[index]!)
  })

const acceptedDetails = (accepted: Accepted, index = 0) =>
  acceptedExit(accepted, index).pipe(
    Effect.map((exit) => {
      if (Exit.isFailure(exit)) throw new Error(`server handshake failed: ${String(exit.cause)}`)
      return exit.value
    })
  )

const acceptedError = (accepted: Accepted, index = 0) =>
  acceptedExit(accepted, index).pipe(
    Effect.map((exit) => {
      if (Exit.isSuccess(exit)) throw new Error("server handshake succeeded")
      const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
      if (error === undefined || error._tag !== "Fail") throw new Error(`server handshake died: ${String(exit.cause)}`)
      return error.error
    })
  )

/** Our client path to 127.0.0.1; late socket errors are collected instead of thrown. */
const dial = (port: number, opts: TlsClientOptions, host = "127.0.0.1", scheme = "tls") =>
  Effect.gen(function* () {
    const context = { host, isIpLiteral: net.isIP(host) !== 0, scheme }
    const options = yield* tlsClientConnectOptions(opts, context)
    const socket = tls.connect({ ...options, host: "127.0.0.1", port })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    const details = yield* handshake(socket, opts, context).pipe(Effect.timeout("10 seconds"))
    // Errors after the handshake (a TLS 1.3 server refusing our certificate) are kept by the handshake's guard.
    return { socket, details, late: () => lateError(socket) as (Error & { code?: string }) | undefined }
  })

/** A raw TCP client for peers that are not TLS clients at all. */
const rawClient = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<net.Socket>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => resume(Effect.succeed(socket)))
      socket.on("error", () => {})
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

const trusting: TlsClientOptions = { ca: pki.ca.certPem }

// -- Tests --------------------------------------------------------------------------------------------------------

describe("tlsServerSecureContextOptions", () => {
  it.live("refuses a server without a certificate, saying that cert and key are needed", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(tlsServerSecureContextOptions({ alpn: ["h2"] }))
      expect(error.reason).toBe("BadOption")
      expect(error.message).toContain("`cert` and `key`")
      expect(error.message).toContain("no shared cipher")
      const keyless = yield* Effect.flip(tlsServerSecureContextOptions({ cert: pki.server.certPem }))
      expect(keyless.reason).toBe("BadOption")
    })
  )

  it.live("names the SNI entry at fault", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        tlsServerSecureContextOptions({
          ...serverCert,
          sniCertificates: { "*.netdial.test": { cert: pki.wrongHost.certPem, key: pki.server.keyPem } }
        })
      )
      expect(error.reason).toBe("BadOption")
      expect(error.message).toContain('sniCertificates["*.netdial.test"].key')
    })
  )

  it.live("maps client-certificate options onto requestCert / rejectUnauthorized (verification only when asked)", () =>
    Effect.gen(function* () {
      const plain = yield* tlsServerSecureContextOptions(serverCert)
      expect([plain.requestCert, plain.rejectUnauthorized]).toEqual([false, false])
      expect(plain.SNICallback).toBeUndefined()
      const requested = yield* tlsServerSecureContextOptions({ ...serverCert, requestClientCertificate: true })
      expect([requested.requestCert, requested.rejectUnauthorized]).toEqual([true, false])
      const required = yield* tlsServerSecureContextOptions({ ...serverCert, requireClientCertificate: true })
      expect([required.requestCert, required.rejectUnauthorized]).toEqual([true, true])
      const pinned = yield* tlsServerSecureContextOptions(serverCert, { scheme: "tlsv1.2" })
      expect([pinned.minVersion, pinned.maxVersion]).toEqual(["TLSv1.2", "TLSv1.2"])
      const legacy = yield* tlsServerSecureContextOptions({ ...serverCert, securityLevel: 0 })
      expect(legacy.ciphers).toBe(`${tls.DEFAULT_CIPHERS}:@SECLEVEL=0`)
    })
  )
})

describe("sniSelector", () => {
  it("matches exact names case-insensitively, then `*.domain` for exactly one more label", () => {
    const exact = tls.createSecureContext(serverCert)
    const wildcard = tls.createSecureContext(serverCert)
    const select = sniSelector(
      new Map([
        ["Netdial.TEST", exact],
        ["*.netdial.test", wildcard]
      ])
    )
    expect(select("netdial.test")).toBe(exact)
    expect(select("NETDIAL.test.")).toBe(exact)
    expect(select("a.netdial.test")).toBe(wildcard)
    expect(select("A.NetDial.Test")).toBe(wildcard)
    expect(select("a.b.netdial.test")).toBeUndefined()
    expect(select("other.example")).toBeUndefined()
    expect(select(".netdial.test")).toBeUndefined()
  })
})

describe("SNI certificates", () => {
  it.live("the client's SNI name picks the certificate; unmatched names and IP dials get the default", () =>
    Effect.gen(function* () {
      const options = yield* tlsServerSecureContextOptions({
        ...serverCert,
        sniCertificates: {
          "WRONG.example": { cert: pki.wrongHost.certPem, key: pki.wrongHost.keyPem },
          "*.netdial.test": { cert: pki.ipOnly.certPem, key: pki.ipOnly.keyPem }
        }
      })
      const server = yield* Effect.acquireRelease(
        Effect.callback<tls.Server>((resume) => {
          const server = tls.createServer(options, (socket) => socket.end())
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      )
      const port = (server.address() as net.AddressInfo).port
      const fingerprintFor = (host: string, extra: TlsClientOptions = {}) =>
        dial(port, { ...trusting, capturePeerCertificate: true, ...extra }, host).pipe(
          Effect.map(({ details }) => details.peerCertificate!.fingerprints.sha256)
        )
      // The certificate for wrong.example verifies for that name, so the full check passes.
      expect(yield* fingerprintFor("wrong.example")).toBe(pki.wrongHost.fingerprints.sha256)
      expect(yield* fingerprintFor("Wrong.Example")).toBe(pki.wrongHost.fingerprints.sha256)
      const unnamed = { verifyPeerName: false }
      expect(yield* fingerprintFor("a.netdial.test", unnamed)).toBe(pki.ipOnly.fingerprints.sha256)
      expect(yield* fingerprintFor("a.b.netdial.test", unnamed)).toBe(pki.server.fingerprints.sha256)
      expect(yield* fingerprintFor("netdial.test")).toBe(pki.server.fingerprints.sha256)
      expect(yield* fingerprintFor("127.0.0.1")).toBe(pki.server.fingerprints.sha256)
    })
  )
})

describe("secureServerHandshake", () => {
  it.live("describes an accepted connection: SNI, version, ALPN in the server's order, no client verification", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, alpn: ["h2", "http/1.1"] })
      const client = yield* dial(server.port, { ...trusting, alpn: ["http/1.1", "h2"] }, "localhost")
      const details = yield* acceptedDetails(server)
      expect(details.protocol).toBe("TLSv1.3")
      expect(details.servername).toBe("localhost")
      expect(details.alpnProtocol).toBe("h2")
      expect(client.details.alpnProtocol).toBe("h2")
      expect(details.authorized).toBe(false)
      expect(details.authorizationError).toBe("verification disabled")
      expect(details.peerCertificate).toBeUndefined()
      expect(details.session).toBeUndefined()
      expect(details.cipher.name).toBe(client.details.cipher.name)
    })
  )

  it.live("a tlsvX.Y scheme pins the server's version", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer(serverCert, {}, "tlsv1.2")
      const client = yield* dial(server.port, trusting)
      expect(client.details.protocol).toBe("TLSv1.2")
      expect((yield* acceptedDetails(server)).protocol).toBe("TLSv1.2")
    })
  )

  it.live("requireClientCertificate: without a certificate → PeerCertificateRequired", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, ca: pki.ca.certPem, requireClientCertificate: true })
      const client = yield* dial(server.port, trusting)
      const error = yield* acceptedError(server)
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.tlsProblem).toBe("PeerCertificateRequired")
      expect(error.code).toBe("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE")
      expect(error.message).toContain("pass `cert` and `key`")
      // TLS 1.3: the client learns it from the server's alert after its own side finished.
      yield* eventually(() => client.late() !== undefined)
      expect(client.late()!.code).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED")
    })
  )

  it.live("requireClientCertificate: a certificate from an unknown CA → UnknownCa, and the socket is destroyed", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, ca: pki.ca.certPem, requireClientCertificate: true })
      const client = yield* dial(server.port, { ...trusting, cert: pki.untrusted.certPem, key: pki.untrusted.keyPem })
      const error = yield* acceptedError(server)
      expect(error.tlsProblem).toBe("UnknownCa")
      expect(error.code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      client.socket.resume()
      yield* eventually(() => client.socket.destroyed || client.socket.readableEnded)
    })
  )

  it.live("requireClientCertificate: a good certificate with an encrypted key → authorized, subject captured", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, ca: pki.ca.certPem, requireClientCertificate: true })
      yield* dial(server.port, {
        ...trusting,
        cert: pki.client.certPem,
        key: pki.client.encryptedKeyPem,
        passphrase: pki.passphrase
      })
      const details = yield* acceptedDetails(server)
      expect(details.authorized).toBe(true)
      expect(details.authorizationError).toBeUndefined()
      expect(details.peerCertificate?.subject).toBe("CN=netdial client, O=netdial")
      expect(details.peerCertificate?.fingerprints).toEqual(pki.client.fingerprints)
      expect(details.peerCertificateChain?.map((cert) => cert.subject)).toEqual([
        "CN=netdial client, O=netdial",
        "CN=netdial Test CA, O=netdial"
      ])
    })
  )

  it.live("requestClientCertificate: clients without a valid certificate get in, marked unauthorized", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, ca: pki.ca.certPem, requestClientCertificate: true })
      yield* dial(server.port, trusting)
      const anonymous = yield* acceptedDetails(server, 0)
      expect(anonymous.authorized).toBe(false)
      expect(anonymous.authorizationError).toBe("no peer certificate")
      yield* dial(server.port, { ...trusting, cert: pki.untrusted.certPem, key: pki.untrusted.keyPem })
      const untrusted = yield* acceptedDetails(server, 1)
      expect(untrusted.authorized).toBe(false)
      expect(untrusted.authorizationError).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      expect(untrusted.peerCertificate?.fingerprints.sha256).toBe(pki.untrusted.fingerprints.sha256)
    })
  )

  it.live("TLS 1.2 and 1.3 sessions resume against an accepting server that asks for client certificates", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, ca: pki.ca.certPem, requestClientCertificate: true })
      const client = { ...trusting, cert: pki.client.certPem, key: pki.client.keyPem }
      for (const [index, scheme] of [
        [0, "tlsv1.2"],
        [2, "tlsv1.3"]
      ] as const) {
        const first = yield* dial(server.port, client, "localhost", scheme)
        yield* eventually(() => first.details.session !== undefined)
        const second = yield* dial(server.port, { ...client, session: first.details.session! }, "localhost", scheme)
        expect(second.details.sessionReused).toBe(true)
        expect((yield* acceptedDetails(server, index)).sessionReused).toBe(false)
        const resumed = yield* acceptedDetails(server, index + 1)
        expect(resumed.sessionReused).toBe(true)
      }
    })
  )

  it.live("requireClientCertificate: no tickets, so a client offering a session still gets a full handshake", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({ ...serverCert, ca: pki.ca.certPem, requireClientCertificate: true })
      const client = { ...trusting, cert: pki.client.certPem, key: pki.client.keyPem }
      for (const [index, scheme] of [
        [0, "tlsv1.2"],
        [2, "tlsv1.3"]
      ] as const) {
        const first = yield* dial(server.port, client, "localhost", scheme)
        expect((yield* acceptedDetails(server, index)).authorized).toBe(true)
        // TLS 1.2 still hands the client a session (without a ticket); TLS 1.3 sends none at all.
        const session = first.details.session
        const second = yield* dial(
          server.port,
          session === undefined ? client : { ...client, session },
          "localhost",
          scheme
        )
        expect(second.details.sessionReused).toBe(false)
        const again = yield* acceptedDetails(server, index + 1)
        expect(again.authorized).toBe(true)
        expect(again.peerCertificate?.subject).toBe("CN=netdial client, O=netdial")
      }
    })
  )

  it.live("a plaintext HTTP client → NotTls", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer(serverCert)
      const socket = yield* rawClient(server.port)
      socket.write("GET / HTTP/1.0\r\n\r\n")
      const error = yield* acceptedError(server)
      expect(error.reason).toBe("TlsHandshakeFailed")
      expect(error.tlsProblem).toBe("NotTls")
      expect(error.code).toBe("ERR_SSL_HTTP_REQUEST")
    })
  )

  it.live("a client that leaves before the handshake → ConnectionReset", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer(serverCert)
      const socket = yield* rawClient(server.port)
      socket.end()
      const error = yield* acceptedError(server)
      expect(error.reason).toBe("ConnectionReset")
      expect(error.operation).toBe("handshake")
    })
  )

  it.live("a silent client: the handshake is interruptible and the socket is destroyed", () =>
    Effect.gen(function* () {
      const options = yield* tlsServerSecureContextOptions(serverCert)
      const accepted: Array<tls.TLSSocket> = []
      const server = yield* Effect.acquireRelease(
        Effect.callback<net.Server>((resume) => {
          const server = net.createServer((raw) => {
            raw.on("error", () => {})
            accepted.push(new tls.TLSSocket(raw, { ...options, isServer: true }))
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            for (const socket of accepted) socket.destroy()
            server.close(() => resume(Effect.void))
          })
      )
      yield* rawClient((server.address() as net.AddressInfo).port)
      yield* eventually(() => accepted.length === 1)
      const socket = accepted[0]!
      const outcome = yield* secureServerHandshake(socket).pipe(Effect.timeoutOption("300 millis"))
      expect(Option.isNone(outcome)).toBe(true)
      expect(socket.destroyed).toBe(true)
      expect(socket.listeners("secure")).toHaveLength(0)
      expect(socket.listeners("_tlsError")).toHaveLength(0)
    })
  )

  it.live("a socket handed out by tls.Server (handshake already done) is described at once", () =>
    Effect.gen(function* () {
      const options = yield* tlsServerSecureContextOptions({ ...serverCert, alpn: ["h2"] })
      const results: Array<Promise<Exit.Exit<TlsDetails, unknown>>> = []
      const server = yield* Effect.acquireRelease(
        Effect.callback<tls.Server>((resume) => {
          const server = tls.createServer(options, (socket) => {
            socket.on("error", () => {})
            results.push(Effect.runPromiseExit(secureServerHandshake(socket).pipe(Effect.timeout("2 seconds"))))
            socket.end()
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      )
      yield* dial((server.address() as net.AddressInfo).port, { ...trusting, alpn: ["h2"] }, "netdial.test")
      yield* eventually(() => results.length === 1)
      const exit = yield* Effect.promise(() => results[0]!)
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) {
        expect(exit.value.servername).toBe("netdial.test")
        expect(exit.value.alpnProtocol).toBe("h2")
      }
    })
  )

  it.live("TLS 1.0 with securityLevel: 0 on both sides (RSA)", () =>
    Effect.gen(function* () {
      const server = yield* acceptingServer({
        cert: rsa.server.certPem,
        key: rsa.server.keyPem,
        minVersion: "TLSv1",
        securityLevel: 0
      })
      const client = yield* dial(server.port, { ca: rsa.ca.certPem, securityLevel: 0 }, "localhost", "tlsv1.0")
      expect(client.details.protocol).toBe("TLSv1")
      expect((yield* acceptedDetails(server)).protocol).toBe("TLSv1")
    })
  )
})
