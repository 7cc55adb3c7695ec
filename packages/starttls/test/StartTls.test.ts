import { describe, expect, layer, it as plain } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import { type Connection, TransportError, Transports } from "@netdial/transport"
import { Duration, Effect } from "effect"
import { type Protocol, protocolNames } from "../src/Protocol.ts"
import { protocols } from "../src/protocols/index.ts"
import { readReply, smtp } from "../src/protocols/smtp.ts"
import * as Session from "../src/Session.ts"
import { type SmtpServerOptions, serveSmtp } from "../src/SmtpServer.ts"
import { connect, defaultPorts, discover, enableCrypto, resolveProtocol, startTls } from "../src/StartTls.ts"
import { StartTlsError } from "../src/StartTlsError.ts"

/** serveSmtp on 127.0.0.1; `tls` makes it an implicit-TLS listener. */
const smtpServer = (options: Partial<SmtpServerOptions> = {}, scheme: "tcp" | "tls" = "tcp") =>
  Effect.gen(function* () {
    const pki = yield* Effect.promise(() => makeTestPki())
    const transports = yield* Transports
    const material = { cert: pki.server.chainPem, key: pki.server.keyPem }
    const listener = yield* transports.listen(`${scheme}://127.0.0.1:0`, scheme === "tls" ? material : {})
    yield* serveSmtp(listener, { tls: material, hostname: "mx.test", ...options }).pipe(Effect.forkScoped)
    return { port: listener.url.port!, pki }
  })

const send = (connection: Connection, data: string) =>
  Effect.flatMap(connection.writer, (w) => w.write(new TextEncoder().encode(data)))

describe("registry", () => {
  plain("every registered dialogue is under its own name, with the ports of defaultPorts", () => {
    for (const [name, protocol] of Object.entries(protocols)) {
      expect(protocol?.name).toBe(name)
      const ports = defaultPorts[name as keyof typeof defaultPorts]
      expect([protocol?.plainPort, protocol?.implicitPort]).toEqual([ports.plain, ports.implicit])
    }
    expect(protocols.smtp).toBe(smtp)
    expect(Object.keys(defaultPorts).sort()).toEqual([...protocolNames].sort())
  })

  plain("implicit-TLS ports", () => {
    expect(defaultPorts.smtp).toEqual({ plain: 587, implicit: 465 })
    expect(defaultPorts.lmtp).toEqual({ plain: undefined, implicit: undefined })
    expect(
      Object.values(defaultPorts)
        .map((p) => p.implicit)
        .filter((p) => p !== undefined)
        .sort((a, b) => a - b)
    ).toEqual([465, 563, 636, 990, 993, 995, 5223, 6697])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("StartTls", (it) => {
  it.effect("resolveProtocol: an unknown name is BadOption", () =>
    Effect.gen(function* () {
      const error = yield* resolveProtocol("gopher" as never).pipe(Effect.flip)
      expect(error.reason).toBe("BadOption")
      expect(error.message).toContain("smtp")
    })
  )

  it.effect("connect: tcp:// on a non-implicit port runs STARTTLS (required) and verifies localhost by default", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const result = yield* connect(`tcp://localhost:${server.port}`, "smtp", { tls: { ca: server.pki.ca.certPem } })
      expect(result.encrypted).toBe(true)
      expect(result.tls?.authorized).toBe(true)
      expect(result.tls?.servername).toBe("localhost")
      expect(result.connection.tls).toBe(result.tls)
      expect(result.capabilitiesBeforeTls).toContain("STARTTLS")
      expect(result.capabilities).not.toContain("STARTTLS")
      expect(result.capabilities).toContain("AUTH PLAIN")
    })
  )

  it.effect("connect mode implicit: a netdial TLS listener running serveSmtp({ implicit: true })", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ implicit: true }, "tls")
      const result = yield* connect(`tcp://127.0.0.1:${server.port}`, "smtp", {
        mode: "implicit",
        tls: { ca: server.pki.ca.certPem, peerName: "localhost" }
      })
      expect(result.encrypted).toBe(true)
      expect(result.tls?.authorized).toBe(true)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(result.capabilities).toEqual(["PIPELINING", "SIZE 10485760", "AUTH PLAIN", "8BITMIME"])
      // The connection is ready for the rest of the dialogue.
      const session = yield* Session.make(result.connection, { protocol: "smtp", stepTimeout: "10 seconds" })
      yield* session.write("NOOP\r\n", "noop")
      expect((yield* readReply(session, "noop")).code).toBe(250)
    })
  )

  it.effect("connect picks implicit TLS by itself for tls:// URLs and for the protocol's implicit port", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ implicit: true }, "tls")
      const tls = { ca: server.pki.ca.certPem, peerName: "localhost" }
      const viaScheme = yield* connect(`tls://127.0.0.1:${server.port}`, "smtp", { tls })
      expect(viaScheme.encrypted).toBe(true)
      expect(viaScheme.capabilitiesBeforeTls).toEqual([])
      // A protocol whose implicit port is this one (as 465 is for smtp): implicit without being told.
      const here: Protocol = { ...smtp, implicitPort: server.port }
      const viaPort = yield* connect(`tcp://127.0.0.1:${server.port}`, here, { tls })
      expect(viaPort.encrypted).toBe(true)
      expect(viaPort.capabilitiesBeforeTls).toEqual([])
    })
  )

  it.effect("connect opportunistic: no STARTTLS offered → encrypted false; required → CapabilityMissing", () =>
    Effect.gen(function* () {
      // implicit: true on a plaintext listener: a server that offers no STARTTLS.
      const server = yield* smtpServer({ implicit: true })
      const url = `tcp://127.0.0.1:${server.port}`
      const result = yield* connect(url, "smtp", { mode: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.connection.tls).toBeUndefined()
      expect(result.capabilities).toEqual(["PIPELINING", "SIZE 10485760", "8BITMIME"])
      const error = yield* connect(url, "smtp").pipe(Effect.flip)
      expect(error).toBeInstanceOf(StartTlsError)
      expect((error as StartTlsError).reason).toBe("CapabilityMissing")
    })
  )

  it.effect("a server that glues plaintext to its 220 (injectAfterStartTls): Injection", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ injectAfterStartTls: "250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n" })
      const error = yield* connect(`tcp://127.0.0.1:${server.port}`, "smtp", {
        tls: { ca: server.pki.ca.certPem, peerName: "localhost" }
      }).pipe(Effect.flip)
      expect(error).toBeInstanceOf(StartTlsError)
      expect((error as StartTlsError).reason).toBe("Injection")
      expect((error as StartTlsError).reply).toBe("250-mx.test\\r\\n250 AUTH PLAIN LOGIN\\r\\n")
    })
  )

  it.effect("implicit TLS without the CA: TlsFailed with tlsProblem UnknownCa (not a TransportError)", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ implicit: true }, "tls")
      const error = yield* connect(`tls://127.0.0.1:${server.port}`, "smtp").pipe(Effect.flip)
      expect(error).toBeInstanceOf(StartTlsError)
      expect((error as StartTlsError).reason).toBe("TlsFailed")
      expect(((error as StartTlsError).cause as TransportError).tlsProblem).toBe("UnknownCa")
    })
  )

  it.effect("STARTTLS without the CA: TlsFailed with tlsProblem UnknownCa", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const error = yield* connect(`tcp://127.0.0.1:${server.port}`, "smtp").pipe(Effect.flip)
      expect((error as StartTlsError).reason).toBe("TlsFailed")
      expect(((error as StartTlsError).cause as TransportError).tlsProblem).toBe("UnknownCa")
    })
  )

  it.effect("a refused dial stays a TransportError", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const port = yield* Effect.scoped(
        Effect.map(transports.listen("tcp://127.0.0.1:0"), (listener) => listener.url.port!)
      )
      const error = yield* connect(`tcp://127.0.0.1:${port}`, "smtp").pipe(Effect.flip)
      expect(error).toBeInstanceOf(TransportError)
      expect((error as TransportError).reason).toBe("Refused")
    })
  )

  for (const [name, url, protocol, options] of [
    ["tls:// with mode starttls", "tls://127.0.0.1:1", "smtp", { mode: "starttls" }],
    ["tls:// with mode opportunistic", "tls://127.0.0.1:1", "smtp", { mode: "opportunistic" }],
    [
      "mode opportunistic with policy required",
      "tcp://127.0.0.1:1",
      "smtp",
      { mode: "opportunistic", policy: "required" }
    ],
    ["an unknown mode", "tcp://127.0.0.1:1", "smtp", { mode: "maybe" }],
    ["lmtp without a port", "tcp://127.0.0.1", "lmtp", {}],
    ["udp", "udp://127.0.0.1:1", "smtp", {}],
    ["a bad URL", "tcp://127.1:25", "smtp", {}],
    ["a bad stepTimeout", "tcp://127.0.0.1:1", "smtp", { stepTimeout: "soon" }],
    ["a bad policy", "tcp://127.0.0.1:1", "smtp", { policy: "whatever" }]
  ] as const) {
    it.effect(`connect refuses ${name} (BadOption, before dialing)`, () =>
      Effect.gen(function* () {
        const error = yield* connect(url, protocol, options as never).pipe(Effect.flip)
        expect(error).toBeInstanceOf(StartTlsError)
        expect((error as StartTlsError).reason).toBe("BadOption")
      })
    )
  }

  it.effect("a URL without a port gets the protocol's port for the mode", () =>
    Effect.gen(function* () {
      // Nothing listens on 127.0.0.1:587 / :465 here (or if something does, it is not us): a dial error shows
      // which port was dialed.
      const starttls = yield* connect("tcp://127.0.0.1", "smtp", { connect: { connectTimeout: "2 seconds" } }).pipe(
        Effect.flip
      )
      const implicit = yield* connect("tcp://127.0.0.1", "smtp", {
        mode: "implicit",
        connect: { connectTimeout: "2 seconds" }
      }).pipe(Effect.flip)
      if (starttls instanceof TransportError) expect(starttls.url).toContain(":587")
      if (implicit instanceof TransportError) expect(implicit.url).toContain(":465")
    })
  )

  it.effect("startTls refuses a connection that is already TLS; discover refuses plaintext when TLS is required", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ implicit: true }, "tls")
      const transports = yield* Transports
      const secure = yield* transports.connect(`tls://127.0.0.1:${server.port}`, { ca: server.pki.ca.certPem })
      const error = yield* startTls(secure, "smtp").pipe(Effect.flip)
      expect(error.reason).toBe("BadOption")
      const plainServer = yield* smtpServer()
      const plaintext = yield* transports.connect(`tcp://127.0.0.1:${plainServer.port}`)
      const refused = yield* discover(plaintext, "smtp").pipe(Effect.flip)
      expect(refused.reason).toBe("BadOption")
    })
  )

  it.effect("a failed startTls closes the connection (nothing to fall back on)", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ implicit: true })
      const connection = yield* (yield* Transports).connect(`tcp://127.0.0.1:${server.port}`)
      const error = yield* startTls(connection, "smtp").pipe(Effect.flip)
      expect(error.reason).toBe("CapabilityMissing")
      yield* Effect.sleep(Duration.millis(50))
      const write = yield* send(connection, "MAIL FROM:<a@b>\r\n").pipe(Effect.flip)
      expect(write._tag).toBe("SocketError")
    })
  )

  it.effect("enableCrypto: both roles after a hand-made dialogue", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      const client = yield* transports.connect(`tcp://localhost:${listener.url.port}`)
      const server = yield* listener.accept
      const clientSession = yield* Session.make(client, { protocol: "custom", stepTimeout: "10 seconds" })
      const serverSession = yield* Session.make(server, { protocol: "custom", stepTimeout: "10 seconds" })
      yield* clientSession.write("GO\r\n", "go")
      expect(yield* serverSession.readLine("go")).toBe("GO")
      yield* serverSession.write("OK\r\n", "ok")
      expect(yield* clientSession.readLine("ok")).toBe("OK")
      const [secureServer, secureClient] = yield* Effect.all(
        [
          enableCrypto(server, { role: "server", cert: pki.server.chainPem, key: pki.server.keyPem }),
          enableCrypto(client, { ca: pki.ca.certPem })
        ],
        { concurrency: 2 }
      )
      expect(secureClient.tls?.authorized).toBe(true)
      expect(secureServer.tls?.protocol).toBe(secureClient.tls?.protocol)
    })
  )

  it.effect("enableCrypto catches bytes Node still holds; only session.upgrade catches bytes already pulled", () =>
    Effect.gen(function* () {
      const pki = yield* Effect.promise(() => makeTestPki())
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")

      // 1. The injected line arrives after the reply was read and waits in Node's buffer: enableCrypto refuses.
      const client = yield* transports.connect(`tcp://localhost:${listener.url.port}`)
      const server = yield* listener.accept
      const session = yield* Session.make(client, { protocol: "custom", stepTimeout: "10 seconds" })
      yield* send(server, "220 go ahead\r\n")
      expect(yield* session.readLine("reply")).toBe("220 go ahead")
      yield* send(server, "250 INJECTED\r\n")
      yield* Effect.sleep(Duration.millis(100))
      const error = yield* enableCrypto(client, { ca: pki.ca.certPem }, "custom").pipe(Effect.flip)
      expect(error.reason).toBe("Injection")

      // 2. Glued to the reply, the line was pulled with it: only the Session knows, and session.upgrade refuses.
      const client2 = yield* transports.connect(`tcp://localhost:${listener.url.port}`)
      const server2 = yield* listener.accept
      const session2 = yield* Session.make(client2, { protocol: "custom", stepTimeout: "10 seconds" })
      yield* send(server2, "220 go ahead\r\n250 INJECTED\r\n")
      expect(yield* session2.readLine("reply")).toBe("220 go ahead")
      const refused = yield* session2.upgrade({ ca: pki.ca.certPem }).pipe(Effect.flip)
      expect(refused.reason).toBe("Injection")
    })
  )
})
