import * as Net from "node:net"
import { expect, layer } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { readReply } from "../src/protocols/smtp.ts"
import * as Session from "../src/Session.ts"
import { type SmtpEnvelope, type SmtpServerOptions, serveSmtp } from "../src/SmtpServer.ts"
import { connect } from "../src/StartTls.ts"

/** A serveSmtp on 127.0.0.1 (tcp, or tls for implicit), recording the messages it accepts. */
const smtpServer = (options: Partial<SmtpServerOptions> = {}, scheme: "tcp" | "tls" = "tcp") =>
  Effect.gen(function* () {
    const pki = yield* Effect.promise(() => makeTestPki())
    const transports = yield* Transports
    const material = { cert: pki.server.chainPem, key: pki.server.keyPem }
    const listener = yield* transports.listen(`${scheme}://127.0.0.1:0`, scheme === "tls" ? material : {})
    const messages: Array<SmtpEnvelope> = []
    yield* serveSmtp(listener, {
      tls: material,
      hostname: "mx.test",
      onMessage: (envelope) => Effect.sync(() => messages.push(envelope)),
      ...options
    }).pipe(Effect.forkScoped)
    const port = listener.url.port!
    return { url: `${scheme}://127.0.0.1:${port}`, port, pki, messages }
  })

type Run = Effect.Success<ReturnType<typeof smtpServer>>

/** A plaintext dialogue by hand (no STARTTLS logic): the server's side is under test here. */
const manual = (server: Run) =>
  Effect.gen(function* () {
    const connection = yield* (yield* Transports).connect(`tcp://127.0.0.1:${server.port}`)
    const session = yield* Session.make(connection, { protocol: "smtp", stepTimeout: "10 seconds" })
    const greeting = yield* readReply(session, "greeting")
    const command = (line: string) =>
      Effect.andThen(session.write(`${line}\r\n`, "command"), readReply(session, "reply"))
    return { session, greeting, command }
  })

const plainAuth = (user: string, password: string) => Buffer.from(`\u0000${user}\u0000${password}`).toString("base64")

/**
 * A raw node socket: greeting, EHLO, then `after` as given (one write per element), and `onReply[1]` once the
 * server's output contains `onReply[0]`; until the server closes (at most 15 s).
 */
const raw = (port: number, after: ReadonlyArray<string>, onReply?: readonly [string, string]) =>
  Effect.promise(
    () =>
      new Promise<string>((resolve) => {
        const socket = Net.connect(port, "127.0.0.1")
        socket.setNoDelay(true)
        let data = ""
        let stage = 0
        const timer = setTimeout(() => {
          socket.destroy()
          resolve(`${data}<timeout>`)
        }, 15_000)
        socket.on("data", (chunk) => {
          data += chunk.toString("latin1")
          if (stage === 0 && data.endsWith("\r\n")) {
            stage = 1
            socket.write("EHLO raw.test\r\n")
          } else if (stage === 1 && /\r\n250 [^\r\n]*\r\n$/.test(data)) {
            stage = 2
            for (const piece of after) socket.write(piece)
          } else if (stage === 2 && onReply !== undefined && data.includes(onReply[0])) {
            stage = 3
            socket.write(onReply[1])
          }
        })
        socket.on("error", () => {})
        socket.on("close", () => {
          clearTimeout(timer)
          resolve(data)
        })
      })
  )

layer(Transports.layerNode, { excludeTestServices: true })("serveSmtp", (it) => {
  it.effect("a full submission over STARTTLS with netdial's client: AUTH, MAIL, RCPT, DATA (dot-stuffed), QUIT", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const result = yield* connect(server.url, "smtp", {
        clientName: "client.test",
        tls: { ca: server.pki.ca.certPem, peerName: "localhost" }
      })
      expect(result.encrypted).toBe(true)
      expect(result.capabilitiesBeforeTls).toEqual(["PIPELINING", "SIZE 10485760", "STARTTLS", "8BITMIME"])
      expect(result.capabilities).toEqual(["PIPELINING", "SIZE 10485760", "AUTH PLAIN", "8BITMIME"])

      const session = yield* Session.make(result.connection, { protocol: "smtp", stepTimeout: "10 seconds" })
      const command = (line: string) =>
        Effect.andThen(session.write(`${line}\r\n`, "command"), readReply(session, "reply"))
      expect((yield* command(`AUTH PLAIN ${plainAuth("alice", "secret")}`)).code).toBe(235)
      expect((yield* command("MAIL FROM:<alice@example.org> SIZE=100")).code).toBe(250)
      expect((yield* command("RCPT TO:<bob@example.net>")).code).toBe(250)
      expect((yield* command("RCPT TO:<carol@example.net>")).code).toBe(250)
      expect((yield* command("DATA")).code).toBe(354)
      const accepted = yield* command("Subject: hi\r\n\r\n..a line starting with a dot\r\nbody\r\n.")
      expect(accepted.code).toBe(250)
      expect((yield* command("QUIT")).code).toBe(221)

      expect(server.messages).toHaveLength(1)
      const message = server.messages[0]!
      expect(message.helo).toBe("client.test")
      expect(message.from).toBe("alice@example.org")
      expect(message.to).toEqual(["bob@example.net", "carol@example.net"])
      expect(message.user).toBe("alice")
      expect(message.tls?.protocol).toMatch(/^TLSv1\.[23]$/)
      expect(new TextDecoder().decode(message.data)).toBe("Subject: hi\r\n\r\n.a line starting with a dot\r\nbody\r\n")
    })
  )

  it.effect("commands pipelined over TLS (PIPELINING) are answered in order", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const result = yield* connect(server.url, "smtp", { tls: { ca: server.pki.ca.certPem } })
      const session = yield* Session.make(result.connection, { protocol: "smtp", stepTimeout: "10 seconds" })
      yield* session.write("MAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n", "pipeline")
      const codes = [
        (yield* readReply(session, "r")).code,
        (yield* readReply(session, "r")).code,
        (yield* readReply(session, "r")).code
      ]
      expect(codes).toEqual([250, 250, 354])
      yield* session.write("hello\r\n.\r\n", "data")
      expect((yield* readReply(session, "r")).code).toBe(250)
      expect(server.messages[0]?.from).toBe("")
    })
  )

  it.effect("STARTTLS with MAIL pipelined in the same write (CVE-2011-0411): 554 in plaintext, then closed", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const seen = yield* raw(server.port, ["STARTTLS\r\nMAIL FROM:<a@b>\r\n"])
      expect(seen).toContain("250-STARTTLS\r\n")
      expect(seen.endsWith("554 5.5.0 command pipelined after STARTTLS\r\n")).toBe(true)
      expect(seen).not.toContain("220 2.0.0")
      expect(seen).not.toContain("<timeout>")
    })
  )

  it.effect("a command sent in plaintext after the 220 (instead of a ClientHello) is never executed", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const seen = yield* raw(server.port, ["STARTTLS\r\n"], ["220 2.0.0", "MAIL FROM:<a@b>\r\n"])
      expect(seen).toContain("220 2.0.0 Ready to start TLS\r\n")
      expect(seen).not.toContain("250 2.1.0")
      expect(seen).not.toContain("<timeout>")
    })
  )

  it.effect("a command right behind STARTTLS in its own segment is never executed (fails closed)", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const seen = yield* raw(server.port, ["STARTTLS\r\n", "MAIL FROM:<a@b>\r\n"])
      expect(seen).not.toContain("250 2.1.0")
      expect(seen).not.toContain("<timeout>")
      expect(server.messages).toHaveLength(0)
    })
  )

  it.effect("after TLS the state is reset: MAIL before the new EHLO is 503; a second STARTTLS is 554", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const { session, greeting, command } = yield* manual(server)
      expect(greeting.raw).toBe("220 mx.test ESMTP netdial")
      const ehlo = yield* command("EHLO client.test")
      expect(ehlo.lines).toContain("STARTTLS")
      expect(ehlo.lines).not.toContain("AUTH PLAIN")
      expect((yield* command("STARTTLS")).raw).toBe("220 2.0.0 Ready to start TLS")
      yield* session.upgrade({ ca: server.pki.ca.certPem, peerName: "localhost" })
      expect((yield* command("MAIL FROM:<a@b>")).raw).toBe("503 5.5.1 EHLO first")
      const again = yield* command("EHLO client.test")
      expect(again.lines).not.toContain("STARTTLS")
      expect(again.lines).toContain("AUTH PLAIN")
      expect((yield* command("STARTTLS")).raw).toBe("554 5.5.1 already in TLS")
      expect((yield* command("MAIL FROM:<a@b>")).code).toBe(250)
      expect((yield* command("QUIT")).code).toBe(221)
    })
  )

  it.effect("envelope set up before STARTTLS does not survive it", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const { session, command } = yield* manual(server)
      yield* command("EHLO client.test")
      expect((yield* command("MAIL FROM:<attacker@evil>")).code).toBe(250)
      expect((yield* command("STARTTLS")).code).toBe(220)
      yield* session.upgrade({ ca: server.pki.ca.certPem, peerName: "localhost" })
      // No EHLO in between: only the STARTTLS reset can have dropped the sender.
      expect((yield* command("RCPT TO:<x@y>")).raw).toBe("503 5.5.1 MAIL first")
    })
  )

  it.effect("requireTls: MAIL, RCPT, DATA and AUTH before TLS get 530; after TLS MAIL works", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ requireTls: true })
      const { session, command } = yield* manual(server)
      yield* command("EHLO client.test")
      const mustStartTls = "530 5.7.0 Must issue a STARTTLS command first"
      expect((yield* command("MAIL FROM:<a@b>")).raw).toBe(mustStartTls)
      expect((yield* command("RCPT TO:<a@b>")).raw).toBe(mustStartTls)
      expect((yield* command("DATA")).raw).toBe(mustStartTls)
      expect((yield* command(`AUTH PLAIN ${plainAuth("u", "p")}`)).raw).toBe(mustStartTls)
      expect((yield* command("NOOP")).code).toBe(250)
      expect((yield* command("STARTTLS")).code).toBe(220)
      yield* session.upgrade({ ca: server.pki.ca.certPem, peerName: "localhost" })
      yield* command("EHLO client.test")
      expect((yield* command("MAIL FROM:<a@b>")).code).toBe(250)
    })
  )

  it.effect("without requireTls, AUTH in plaintext is still refused (538) and not advertised", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const { command } = yield* manual(server)
      const ehlo = yield* command("EHLO client.test")
      expect(ehlo.lines.some((l) => l.startsWith("AUTH"))).toBe(false)
      expect((yield* command(`AUTH PLAIN ${plainAuth("u", "p")}`)).code).toBe(538)
      expect((yield* command("MAIL FROM:<a@b>")).code).toBe(250)
    })
  )

  it.effect("sequence and syntax errors", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const { command } = yield* manual(server)
      expect((yield* command("MAIL FROM:<a@b>")).raw).toBe("503 5.5.1 EHLO first")
      expect((yield* command("EHLO")).code).toBe(501)
      expect((yield* command("STARTTLS now")).code).toBe(501)
      expect((yield* command("FROB")).code).toBe(502)
      yield* command("EHLO client.test")
      expect((yield* command("RCPT TO:<a@b>")).raw).toBe("503 5.5.1 MAIL first")
      expect((yield* command("MAIL FROM:a@b")).code).toBe(501)
      expect((yield* command("MAIL FROM:<a@b> SIZE=999999999")).code).toBe(552)
      expect((yield* command("MAIL FROM:<a@b>")).code).toBe(250)
      expect((yield* command("DATA")).raw).toBe("503 5.5.1 RCPT first")
      expect((yield* command("RSET")).code).toBe(250)
      expect((yield* command("RCPT TO:<a@b>")).code).toBe(503)
    })
  )

  it.effect("SMTP smuggling: a bare LF does not end DATA, and such a message is refused", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const result = yield* connect(server.url, "smtp", { tls: { ca: server.pki.ca.certPem } })
      const session = yield* Session.make(result.connection, { protocol: "smtp", stepTimeout: "10 seconds" })
      const command = (line: string) =>
        Effect.andThen(session.write(`${line}\r\n`, "command"), readReply(session, "reply"))
      yield* command("MAIL FROM:<a@b>")
      yield* command("RCPT TO:<c@d>")
      expect((yield* command("DATA")).code).toBe(354)
      const refused = yield* command("first\r\n\n.\nMAIL FROM:<smuggled@evil>\r\n.")
      expect(refused.raw).toBe("550 5.6.0 bare <CR> or <LF> in message")
      expect(server.messages).toHaveLength(0)
      expect((yield* command("NOOP")).code).toBe(250)
    })
  )

  it.effect("a failing onMessage is answered 451", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ onMessage: () => Effect.fail("disk full") })
      const { command } = yield* manual(server)
      yield* command("EHLO client.test")
      yield* command("MAIL FROM:<a@b>")
      yield* command("RCPT TO:<c@d>")
      yield* command("DATA")
      expect((yield* command("x\r\n.")).code).toBe(451)
    })
  )

  it.effect("AUTH PLAIN with a challenge, and an authenticate hook that says no", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({
        authenticate: ({ user, password }) => Effect.succeed(user === "alice" && password === "right")
      })
      const result = yield* connect(server.url, "smtp", { tls: { ca: server.pki.ca.certPem } })
      const session = yield* Session.make(result.connection, { protocol: "smtp", stepTimeout: "10 seconds" })
      const command = (line: string) =>
        Effect.andThen(session.write(`${line}\r\n`, "command"), readReply(session, "reply"))
      expect((yield* command(`AUTH PLAIN ${plainAuth("alice", "wrong")}`)).code).toBe(535)
      expect((yield* command("AUTH PLAIN")).code).toBe(334)
      expect((yield* command(plainAuth("alice", "right"))).code).toBe(235)
      expect((yield* command("AUTH PLAIN")).raw).toBe("503 5.5.1 already authenticated")
    })
  )

  it.effect("too many errors: 421 and the connection is closed", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer()
      const { command } = yield* manual(server)
      let last = 0
      for (let i = 0; i < 20; i++) last = (yield* command("FROB")).code
      expect(last).toBe(421)
      const error = yield* command("NOOP").pipe(Effect.flip)
      expect(error.reason).toBe("Closed")
    })
  )

  it.effect("an idle client is told 421 after commandTimeout", () =>
    Effect.gen(function* () {
      const server = yield* smtpServer({ commandTimeout: "300 millis" })
      const { session } = yield* manual(server)
      const reply = yield* readReply(session, "idle")
      expect(reply.raw).toBe("421 4.4.2 mx.test Error: timeout exceeded")
    })
  )
})
