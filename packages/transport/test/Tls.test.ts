import { expect, layer } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import { Duration, Effect, Fiber } from "effect"
import { type Connection, Tls, Transports } from "../src/index.ts"

const text = (batch: ReadonlyArray<Uint8Array | string>) =>
  batch.map((c) => (typeof c === "string" ? c : Buffer.from(c).toString("utf8"))).join("")

const send = (connection: Connection, data: string) =>
  Effect.flatMap(connection.writer, (w) => w.write(new TextEncoder().encode(data)))

/** Reads until the text read so far contains `marker`. */
const readUntil = (connection: Connection, marker: string) =>
  Effect.gen(function* () {
    const reader = yield* connection.reader
    let got = ""
    while (!got.includes(marker)) got += text(yield* reader.pull)
    return got
  })

/** A plaintext TCP connection on loopback, both ends; the client dialed "localhost" (the name TLS will verify). */
const plaintextPair = Effect.gen(function* () {
  const transports = yield* Transports
  const listener = yield* transports.listen("tcp://127.0.0.1:0")
  const client = yield* transports.connect(`tcp://localhost:${listener.url.port}`)
  const server = yield* listener.accept
  return { client, server }
})

/**
 * A plaintext pair past STARTTLS and its go-ahead, as in any STARTTLS dialogue. Reading the command leaves the
 * server's socket reading, so whatever the client sends next waits in the server's buffer.
 */
const pastGoAhead = Effect.gen(function* () {
  const pair = yield* plaintextPair
  yield* send(pair.client, "STARTTLS\r\n")
  expect(yield* readUntil(pair.server, "\r\n")).toBe("STARTTLS\r\n")
  yield* send(pair.server, "220 go ahead\r\n")
  expect(yield* readUntil(pair.client, "\r\n")).toBe("220 go ahead\r\n")
  return pair
})

layer(Transports.layerNode, { excludeTestServices: true })("Tls.upgrade", (it) => {
  it.effect("a plaintext connection becomes TLS on both sides (the STARTTLS switch), then carries data", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const { client, server } = yield* pastGoAhead
      const [secureServer, secureClient] = yield* Effect.all(
        [
          Tls.upgrade(server, { role: "server", cert: pki.server.chainPem, key: pki.server.keyPem }),
          Tls.upgrade(client, { ca: pki.ca.certPem })
        ],
        { concurrency: 2 }
      )
      expect(secureClient.tls?.authorized).toBe(true)
      expect(secureClient.tls?.servername).toBe("localhost")
      expect(secureServer.tls?.protocol).toBe(secureClient.tls?.protocol)
      yield* send(secureClient, "EHLO over tls\r\n")
      expect(yield* readUntil(secureServer, "\r\n")).toBe("EHLO over tls\r\n")
      // a second upgrade is refused
      const again = yield* Tls.upgrade(secureClient, { ca: pki.ca.certPem }).pipe(Effect.flip)
      expect(again.reason).toBe("AlreadyEncrypted")
    }).pipe(Effect.scoped)
  )

  it.effect("a STARTTLS server shares its context between connections: a session from one resumes on the next", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const serverOptions = { role: "server" as const, cert: pki.server.chainPem, key: pki.server.keyPem }
      const upgradePair = (session: Uint8Array | undefined) =>
        Effect.gen(function* () {
          const { client, server } = yield* plaintextPair
          const [secureServer, secureClient] = yield* Effect.all(
            [
              Tls.upgrade(server, serverOptions),
              Tls.upgrade(client, { ca: pki.ca.certPem, ...(session !== undefined ? { session } : {}) })
            ],
            { concurrency: 2 }
          )
          // TLS 1.3 tickets come after the handshake, around the server's first write.
          yield* send(secureServer, "220 ready\r\n")
          expect(yield* readUntil(secureClient, "\r\n")).toBe("220 ready\r\n")
          if (session === undefined) {
            for (let i = 0; i < 100 && secureClient.tls!.session === undefined; i++) yield* Effect.sleep("20 millis")
          }
          return secureClient.tls!
        })
      const first = yield* upgradePair(undefined)
      expect(first.sessionReused).toBe(false)
      expect(first.session).toBeDefined()
      const second = yield* upgradePair(first.session)
      expect(second.sessionReused).toBe(true)
      expect(second.authorized).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.effect("effect's own Reader.upgrade still switches a netdial connection's reads to TLS", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const { client, server } = yield* plaintextPair
      const reader = yield* client.reader
      yield* send(server, "220 go ahead\r\n")
      expect(text(yield* reader.pull)).toBe("220 go ahead\r\n")
      const [secureServer] = yield* Effect.all(
        [
          Tls.upgrade(server, { role: "server", cert: pki.server.chainPem, key: pki.server.keyPem }),
          reader.upgrade({ ca: pki.ca.certPem, servername: "localhost" })
        ],
        { concurrency: 2 }
      )
      yield* send(secureServer, "250 over tls\r\n")
      expect(text(yield* reader.pull)).toBe("250 over tls\r\n")
      const again = yield* reader.upgrade({ ca: pki.ca.certPem }).pipe(Effect.flip)
      expect(again.reason._tag).toBe("SocketUpgradeError")
    }).pipe(Effect.scoped)
  )

  it.effect("plaintext bytes waiting at upgrade time are refused (response injection) and the connection closed", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const { client, server } = yield* pastGoAhead
      // the attacker's line arrives after the reply was read, and waits in the buffer
      yield* send(server, "250 INJECTED\r\n")
      yield* Effect.sleep(Duration.millis(100))
      const error = yield* Tls.upgrade(client, { ca: pki.ca.certPem }).pipe(Effect.flip)
      expect(error.reason).toBe("UnexpectedPlaintext")
      expect(error.message).toContain("14 plaintext byte(s)")
      const write = yield* send(client, "x").pipe(Effect.flip)
      expect(write._tag).toBe("SocketError")
    }).pipe(Effect.scoped)
  )

  it.effect("server role: a ClientHello that arrives before the server's upgrade starts goes to the handshake", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const { client, server } = yield* pastGoAhead
      // The client answers at once; the server is slow to reach its upgrade (a busy event loop).
      const clientSide = yield* Effect.forkChild(Tls.upgrade(client, { ca: pki.ca.certPem }))
      yield* Effect.sleep(Duration.millis(200))
      const secureServer = yield* Tls.upgrade(server, {
        role: "server",
        cert: pki.server.chainPem,
        key: pki.server.keyPem
      })
      const secureClient = yield* Fiber.join(clientSide)
      expect(secureClient.tls?.authorized).toBe(true)
      yield* send(secureClient, "EHLO over tls\r\n")
      expect(yield* readUntil(secureServer, "\r\n")).toBe("EHLO over tls\r\n")
    }).pipe(Effect.scoped)
  )

  it.effect("server role: plaintext waiting at upgrade time (a command pipelined after STARTTLS) is refused", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const { client, server } = yield* pastGoAhead
      yield* send(client, "MAIL FROM:<a@b>\r\n")
      yield* Effect.sleep(Duration.millis(100))
      const error = yield* Tls.upgrade(server, {
        role: "server",
        cert: pki.server.chainPem,
        key: pki.server.keyPem
      }).pipe(Effect.flip)
      expect(error.reason).toBe("UnexpectedPlaintext")
      expect(error.message).toContain("17 plaintext byte(s)")
    }).pipe(Effect.scoped)
  )

  it.effect("a peer that never answers the ClientHello: the handshake times out", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      const client = yield* transports.connect(`tcp://localhost:${listener.url.port}`)
      yield* listener.accept
      const started = Date.now()
      const error = yield* Tls.upgrade(client, { handshakeTimeout: "300 millis" }).pipe(Effect.flip)
      expect(error.reason).toBe("TimedOut")
      expect(error.operation).toBe("handshake")
      expect(Date.now() - started).toBeLessThan(5000)
    }).pipe(Effect.scoped)
  )

  it.effect("a peer that answers the ClientHello in plaintext: NotTls", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      yield* listener
        .serve((c) => send(c, "500 what?\r\n").pipe(Effect.andThen(Effect.sleep(Duration.seconds(2)))))
        .pipe(Effect.forkScoped)
      const client = yield* transports.connect(`tcp://localhost:${listener.url.port}`)
      const error = yield* Tls.upgrade(client, { handshakeTimeout: "5 seconds" }).pipe(Effect.flip)
      expect(["UnexpectedPlaintext", "TlsHandshakeFailed"]).toContain(error.reason)
      if (error.reason === "TlsHandshakeFailed") expect(error.tlsProblem).toBe("NotTls")
    }).pipe(Effect.scoped)
  )

  it.effect("udp cannot be upgraded", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const endpoint = yield* transports.bind("udp://127.0.0.1:0")
      const client = yield* transports.connect(`udp://127.0.0.1:${(endpoint.localAddress as { port: number }).port}`)
      const error = yield* Tls.upgrade(client).pipe(Effect.flip)
      expect(error.reason).toBe("UnsupportedTransport")
      expect(error.message).toContain("DTLS")
    }).pipe(Effect.scoped)
  )
  it.effect("the last write before the scope closes is delivered, also over TLS (flush before destroy)", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const listener = yield* transports.listen("tls://127.0.0.1:0", {
        cert: pki.server.chainPem,
        key: pki.server.keyPem
      })
      // the server writes, releases its writer (end) and closes its scope at once
      yield* listener
        .serve((c) =>
          Effect.scoped(Effect.flatMap(c.writer, (w) => w.write(new TextEncoder().encode("last words\r\n"))))
        )
        .pipe(Effect.forkScoped)
      const client = yield* transports.connect(`tls://localhost:${listener.url.port}`, { ca: pki.ca.certPem })
      expect(yield* readUntil(client, "\r\n")).toBe("last words\r\n")
    }).pipe(Effect.scoped)
  )
})
