/**
 * TLS end to end through `Transports`: every certificate problem has its own reason, the tlsvX schemes pin a
 * version, sslv2/sslv3 are refused before any I/O, and handshake faults never hang.
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import { expect, layer } from "@effect/vitest"
import { makeTestPki, type TestCert, type TestPki } from "@netdial/testkit"
import { Duration, Effect, Exit, Fiber } from "effect"
import { type ListenOptions, type TlsProblem, Transports } from "../src/index.ts"

const serverWith = (cert: TestCert, extra: ListenOptions = {}) =>
  Effect.gen(function* () {
    const transports = yield* Transports
    const listener = yield* transports.listen("tls://127.0.0.1:0", { cert: cert.certPem, key: cert.keyPem, ...extra })
    yield* listener.serve(() => Effect.sleep(Duration.seconds(5))).pipe(Effect.forkScoped)
    return listener.url.port!
  })

let pki: TestPki

layer(Transports.layerNode, { excludeTestServices: true })("TLS through Transports", (it) => {
  it.effect("connects with the CA, reports the session, captures the peer certificate", () =>
    Effect.gen(function* () {
      pki = yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const port = yield* serverWith({ ...pki.server, certPem: pki.server.chainPem })
      const connection = yield* transports.connect(`tls://localhost:${port}`, {
        ca: pki.ca.certPem,
        capturePeerCertificate: true,
        capturePeerCertificateChain: true
      })
      const tls = connection.tls!
      expect(tls.protocol).toBe("TLSv1.3")
      expect(tls.authorized).toBe(true)
      expect(tls.cipher.bits).toBeGreaterThanOrEqual(128)
      expect(tls.peerCertificate?.fingerprints.sha256).toBe(pki.server.fingerprints.sha256)
      expect(tls.peerCertificate?.subjectAltNames).toContain("DNS:localhost")
      expect(tls.peerCertificateChain?.length).toBeGreaterThanOrEqual(1)
    }).pipe(Effect.scoped)
  )

  const problems: ReadonlyArray<[name: string, cert: (p: TestPki) => TestCert, host: string, problem: TlsProblem]> = [
    ["expired", (p) => p.expired, "localhost", "Expired"],
    ["not yet valid", (p) => p.notYetValid, "localhost", "NotYetValid"],
    ["self-signed", (p) => p.selfSigned, "localhost", "SelfSigned"],
    ["unknown CA", (p) => p.untrusted, "localhost", "UnknownCa"],
    ["wrong host", (p) => p.wrongHost, "localhost", "HostnameMismatch"]
  ]
  for (const [name, cert, host, problem] of problems) {
    it.effect(`${name} → TlsHandshakeFailed / ${problem}`, () =>
      Effect.gen(function* () {
        pki ??= yield* Effect.promise(() => makeTestPki())
        const transports = yield* Transports
        const port = yield* serverWith(cert(pki))
        const error = yield* transports.connect(`tls://${host}:${port}`, { ca: pki.ca.certPem }).pipe(Effect.flip)
        expect(error.reason).toBe("TlsHandshakeFailed")
        expect(error.tlsProblem).toBe(problem)
        expect(error.address).toBe(`127.0.0.1:${port}`)
        expect(error.message.length).toBeGreaterThan(40)
      }).pipe(Effect.scoped)
    )
  }

  it.effect("a client that closes right after the handshake still has its address on the accepted connection", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tls://127.0.0.1:0", {
        cert: pki.server.chainPem,
        key: pki.server.keyPem
      })
      const clientPort = yield* Effect.callback<number>((resume) => {
        const socket = Tls.connect({
          port: listener.url.port!,
          host: "127.0.0.1",
          ca: pki.ca.certPem,
          servername: "localhost"
        })
        socket.on("secureConnect", () => {
          const port = socket.localPort!
          socket.end() // close_notify + FIN, as `netdial probe` does
          resume(Effect.succeed(port))
        })
        socket.on("error", () => {})
      })
      // Give the close time to arrive before the connection object is made.
      yield* Effect.sleep(Duration.millis(100))
      const connection = yield* listener.accept.pipe(Effect.timeout(Duration.seconds(5)))
      expect(String(connection.remoteAddress)).toBe(`127.0.0.1:${clientPort}`)
      expect(String(connection.localAddress)).toBe(`127.0.0.1:${listener.url.port}`)
    }).pipe(Effect.scoped)
  )

  it.effect("fingerprint pinning: a wrong pin fails, the right one passes (even without a CA)", () =>
    Effect.gen(function* () {
      pki ??= yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const port = yield* serverWith(pki.selfSigned)
      const wrong = yield* transports
        .connect(`tls://localhost:${port}`, { verifyPeer: false, peerFingerprint: pki.server.fingerprints.sha256 })
        .pipe(Effect.flip)
      expect(wrong.tlsProblem).toBe("FingerprintMismatch")
      const right = yield* transports.connect(`tls://localhost:${port}`, {
        verifyPeer: false,
        peerFingerprint: { sha256: pki.selfSigned.fingerprints.sha256 }
      })
      expect(right.tls?.authorized).toBe(false)
    }).pipe(Effect.scoped)
  )

  it.effect("tlsv1.2:// and tlsv1.3:// pin the version; TLS 1.0 is refused by OpenSSL 3 with a reason", () =>
    Effect.gen(function* () {
      pki ??= yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const port = yield* serverWith(pki.server)
      expect((yield* transports.connect(`tlsv1.2://localhost:${port}`, { ca: pki.ca.certPem })).tls?.protocol).toBe(
        "TLSv1.2"
      )
      expect((yield* transports.connect(`tlsv1.3://localhost:${port}`, { ca: pki.ca.certPem })).tls?.protocol).toBe(
        "TLSv1.3"
      )
      const v10 = yield* transports.connect(`tlsv1.0://localhost:${port}`, { ca: pki.ca.certPem }).pipe(Effect.flip)
      expect(v10.reason).toBe("TlsHandshakeFailed")
      expect(v10.tlsProblem).toBe("ProtocolVersion")
      expect(v10.message).toContain("securityLevel")
    }).pipe(Effect.scoped)
  )

  it.effect(
    "key-exchange groups: the post-quantum hybrid by default, `groups` to choose, a clear error otherwise",
    () =>
      Effect.gen(function* () {
        pki ??= yield* Effect.promise(() => makeTestPki())
        const transports = yield* Transports
        const port = yield* serverWith(pki.server)
        const ca = pki.ca.certPem
        // Node 24's OpenSSL 3.5 offers X25519MLKEM768 first, and both ends here are Node 24.
        expect((yield* transports.connect(`tls://localhost:${port}`, { ca })).tls?.keyExchange).toBe("X25519MLKEM768")
        expect(
          (yield* transports.connect(`tls://localhost:${port}`, { ca, groups: ["X25519"] })).tls?.keyExchange
        ).toBe("X25519")
        // TLS names, not OpenSSL's curve names (prime256v1), in TLS 1.2 too.
        const p256 = yield* transports.connect(`tlsv1.2://localhost:${port}`, { ca, groups: ["P-256"] })
        expect(p256.tls?.protocol).toBe("TLSv1.2")
        expect(p256.tls?.keyExchange).toBe("P-256")

        const p384Only = yield* serverWith(pki.server, { groups: ["P-384"] })
        const accepted = yield* transports.connect(`tls://localhost:${p384Only}`, { ca, groups: ["X25519", "P-384"] })
        expect(accepted.tls?.keyExchange).toBe("P-384")
        const refused = yield* transports
          .connect(`tls://localhost:${p384Only}`, { ca, groups: ["X25519"] })
          .pipe(Effect.flip)
        expect(refused.reason).toBe("TlsHandshakeFailed")
        expect(refused.message).toContain("`groups`")

        const unknown = yield* transports
          .connect(`tls://localhost:${port}`, { ca, groups: ["X25519", "X9999"] })
          .pipe(Effect.flip)
        expect(unknown.reason).toBe("BadOption")
        expect(unknown.message).toContain("`groups`: OpenSSL")
        expect(unknown.message).toContain('"X9999"')
        const badServer = yield* transports
          .listen("tls://127.0.0.1:0", { cert: pki.server.certPem, key: pki.server.keyPem, groups: ["nope"] })
          .pipe(Effect.flip)
        expect(badServer.reason).toBe("BadOption")
        expect(badServer.message).toContain('"nope"')
      }).pipe(Effect.scoped)
  )

  it.effect("a peer that resets during the handshake: a typed error, no hang", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const server = Net.createServer((socket) => socket.once("data", () => socket.resetAndDestroy()))
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const port = (server.address() as Net.AddressInfo).port
      const error = yield* transports
        .connect(`tls://localhost:${port}`, { handshakeTimeout: "5 seconds" })
        .pipe(Effect.flip)
      expect(error.reason).toBe("ConnectionReset")
    }).pipe(Effect.scoped)
  )

  it.effect("interrupting a handshake that never finishes returns at once", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0") // accepts, never speaks TLS
      const fiber = yield* Effect.forkChild(transports.connect(`tls://localhost:${listener.url.port}`))
      yield* Effect.sleep(Duration.millis(100))
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      expect(Exit.hasInterrupts(yield* Fiber.await(fiber))).toBe(true)
      expect(Date.now() - started).toBeLessThan(1000)
    }).pipe(Effect.scoped)
  )

  it.effect("server: client certificates when required; an SNI map picks the certificate", () =>
    Effect.gen(function* () {
      pki ??= yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const listener = yield* transports.listen("tls://127.0.0.1:0", {
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        ca: pki.ca.certPem,
        requireClientCertificate: true
      })
      const url = `tls://localhost:${listener.url.port}`
      const withCert = yield* transports.connect(url, {
        ca: pki.ca.certPem,
        cert: pki.client.certPem,
        key: pki.client.keyPem
      })
      const accepted = yield* listener.accept
      expect(withCert.tls?.authorized).toBe(true)
      expect(accepted.tls?.authorized).toBe(true)
      const without = yield* Effect.gen(function* () {
        const c = yield* transports.connect(url, { ca: pki.ca.certPem })
        // TLS 1.3: the server's refusal may arrive after the client's handshake; the next read sees it
        const reader = yield* c.reader
        return yield* reader.pull.pipe(Effect.timeout(Duration.seconds(5)))
      }).pipe(Effect.scoped, Effect.exit)
      expect(Exit.isFailure(without)).toBe(true)
      expect((yield* listener.stats).handshakeFailures).toBeGreaterThanOrEqual(1)

      const sni = yield* transports.listen("tls://127.0.0.1:0", {
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        sniCertificates: { "wrong.example": { cert: pki.wrongHost.certPem, key: pki.wrongHost.keyPem } }
      })
      // wrong.example does not resolve here: dial 127.0.0.1 and send the name as peerName (which is also the SNI)
      const picked = yield* transports.connect(`tls://127.0.0.1:${sni.url.port}`, {
        ca: pki.ca.certPem,
        peerName: "wrong.example",
        capturePeerCertificate: true
      })
      expect(picked.tls?.peerCertificate?.fingerprints.sha256).toBe(pki.wrongHost.fingerprints.sha256)
    }).pipe(Effect.scoped)
  )
})
