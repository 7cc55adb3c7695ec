/**
 * A small SMTP submission server (RFC 5321 / 6409 / 3207) for demos and tests: STARTTLS or implicit TLS, EHLO,
 * AUTH PLAIN (over TLS only), MAIL / RCPT / DATA / RSET / NOOP / VRFY / QUIT, and each message handed to
 * `onMessage`. It is not a mail server (no queue, no relay rules, any AUTH PLAIN credentials accepted unless
 * `authenticate` says otherwise), but its STARTTLS is done the way the attacks of the last fifteen years require:
 *
 * - **Command injection (CVE-2011-0411).** Bytes that arrive glued to `STARTTLS` are plaintext from anyone on the
 *   path; executed after the handshake they would run as if the TLS client had sent them. This server refuses
 *   them: when anything follows the STARTTLS line in the received buffer it answers
 *   `554 5.5.0 command pipelined after STARTTLS` (in plaintext, *before* any handshake: a reply inside TLS would
 *   reach a client that never sent the command) and closes. Bytes that reach the socket only after the line was
 *   read but before the handshake starts are caught by `Tls.upgrade` (`UnexpectedPlaintext`, closed without a
 *   reply) unless they begin a TLS record (a fast client's ClientHello, which only the handshake reads), and later
 *   ones break the handshake. Postfix discards such bytes instead; refusing is the more robust
 *   choice, because a legitimate client never sends them (RFC 3207 §4.2) and a discard still lets the attacker
 *   probe.
 * - **State reset.** After the handshake everything is forgotten (EHLO name, envelope, authentication): a new EHLO
 *   is required (`503 5.5.1 EHLO first`), and a second STARTTLS is `554 5.5.1 already in TLS`.
 * - **No plaintext AUTH.** `AUTH PLAIN` is advertised and accepted only over TLS; with `requireTls`, MAIL, RCPT,
 *   DATA and AUTH before TLS get `530 5.7.0 Must issue a STARTTLS command first`.
 * - **SMTP smuggling.** DATA ends only at `<CRLF>.<CRLF>`; a message with a bare CR or LF is refused (`550 5.6.0`)
 *   rather than reinterpreted.
 *
 * `injectAfterStartTls` simulates the response-injection attacker (for tests and the demo): the text is sent glued
 * to the `220` reply to STARTTLS, in the same write, so a client that keeps reading its buffer after the upgrade
 * would take it as a reply that came over TLS. netdial's client refuses it (`Injection`).
 */
import type { Connection, Listener, Tls, TlsDetails, TransportError } from "@netdial/transport"
import { Duration, Effect, type Scope } from "effect"
import { NetAddress } from "effect/net"
import * as Session from "./Session.ts"
import type { StartTlsError } from "./StartTlsError.ts"

export interface SmtpEnvelope {
  /** The EHLO/HELO name given after the last reset (the one over TLS, when TLS is up). */
  readonly helo: string
  /** The reverse-path without angle brackets; `""` for the null sender `<>`. */
  readonly from: string
  /** The forward-paths, without angle brackets, in order. */
  readonly to: ReadonlyArray<string>
  /** The message as received: dot-unstuffed, CRLF line ends, without the final `.` line. */
  readonly data: Uint8Array
  /** The TLS session the message came over, or `undefined` for plaintext. */
  readonly tls: TlsDetails | undefined
  /** The AUTH PLAIN authentication identity, if the client authenticated. */
  readonly user: string | undefined
  /** The client's address (`127.0.0.1:41234`). */
  readonly remoteAddress: string
}

export interface SmtpCredentials {
  readonly authorizationId: string
  readonly user: string
  readonly password: string
}

export interface SmtpServerOptions<R = never> {
  /** The certificate and key for STARTTLS (for an implicit-TLS listener they are the listener's business). */
  readonly tls: Omit<Tls.ServerUpgradeOptions, "role">
  /** The listener is `tls://` (port 465 style): STARTTLS is neither advertised nor accepted. */
  readonly implicit?: boolean | undefined
  /** The name in the greeting and the EHLO reply. Default `localhost`. */
  readonly hostname?: string | undefined
  /** Refuse MAIL, RCPT, DATA and AUTH before TLS with `530 5.7.0`. Default false. */
  readonly requireTls?: boolean | undefined
  /** Each accepted message. A failure is answered `451 4.3.0` and the message counts as not taken. */
  readonly onMessage?: ((envelope: SmtpEnvelope) => Effect.Effect<void, unknown, R>) | undefined
  /** Checks AUTH PLAIN credentials. Default: any credentials are accepted (this is a demo server). */
  readonly authenticate?: ((credentials: SmtpCredentials) => Effect.Effect<boolean, unknown, R>) | undefined
  /** Largest message, advertised as SIZE. Default 10 MiB. */
  readonly maxMessageSize?: number | undefined
  /** How long to wait for each command (and each DATA line). Default 5 minutes (RFC 5321 §4.5.3.2). */
  readonly commandTimeout?: Duration.Input | undefined
  /** Test only: text glued to the `220` reply to STARTTLS, in the same write (a response-injection attacker). */
  readonly injectAfterStartTls?: string | undefined
}

/** Replies with an error code this many times, and the connection is closed (`421 4.7.0`). */
export const maxErrors = 20

/** At most this many RCPT per message. */
export const maxRecipients = 100

const encoder = new TextEncoder()

const concatAll = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const total = chunks.reduce((n, c) => n + c.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

const indexOfCrlf = (bytes: Uint8Array): number => {
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) return i
  return -1
}

const describeAddress = (address: NetAddress.SocketAddress): string =>
  NetAddress.isUnixPathAddress(address) ? address.path || "unix" : NetAddress.formatInet(address)

const decodePlain = (base64: string): SmtpCredentials | undefined => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined
  const parts = Buffer.from(base64, "base64").toString("utf8").split("\u0000")
  if (parts.length !== 3 || parts[1] === "") return undefined
  return { authorizationId: parts[0]!, user: parts[1]!, password: parts[2]! }
}

/**
 * One SMTP session over `connection` (already TLS for an implicit-TLS listener). Ends on QUIT, when the client
 * closes or is silent for `commandTimeout`, after too many errors, or when the client breaks the STARTTLS rules;
 * it never fails.
 */
export const serveSmtpConnection = <R = never>(
  connection: Connection,
  options: SmtpServerOptions<R>
): Effect.Effect<void, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const hostname = options.hostname ?? "localhost"
    const maxSize = options.maxMessageSize ?? 10 * 1024 * 1024
    const session = yield* Session.make(connection, {
      protocol: "smtp-server",
      stepTimeout: options.commandTimeout ?? Duration.minutes(5)
    })
    const remoteAddress = describeAddress(connection.remoteAddress)

    let tls: TlsDetails | undefined = connection.tls
    let helo: string | undefined
    let from: string | undefined
    let to: Array<string> = []
    let user: string | undefined
    let errors = 0

    const send = (text: string) => session.write(`${text}\r\n`, "reply")
    const sendLines = (code: number, lines: ReadonlyArray<string>) =>
      session.write(lines.map((line, i) => `${code}${i < lines.length - 1 ? "-" : " "}${line}\r\n`).join(""), "reply")
    /** An error reply; true when the error budget is spent (the caller ends the session). */
    const refuse = (text: string) =>
      Effect.gen(function* () {
        errors++
        if (errors >= maxErrors) {
          yield* send(`421 4.7.0 ${hostname} Error: too many errors`)
          return true
        }
        yield* send(text)
        return false
      })
    const resetEnvelope = () => {
      from = undefined
      to = []
    }
    const tlsMissing = () => options.requireTls === true && tls === undefined
    const mustStartTls = "530 5.7.0 Must issue a STARTTLS command first"

    /** One CRLF-terminated DATA line (a bare LF does not end a line: no SMTP smuggling). */
    const readDataLine = Effect.gen(function* () {
      while (true) {
        const at = indexOfCrlf(session.buffered())
        if (at !== -1) return session.consume(at + 2).subarray(0, at)
        yield* session.readMore("data")
      }
    })

    const receiveData = Effect.gen(function* () {
      const chunks: Array<Uint8Array> = []
      let size = 0
      let bareNewline = false
      while (true) {
        const line = yield* readDataLine
        if (line.length === 1 && line[0] === 0x2e) break
        const content = line[0] === 0x2e ? line.subarray(1) : line
        if (content.includes(0x0a) || content.includes(0x0d)) bareNewline = true
        size += content.length + 2
        if (size <= maxSize) chunks.push(content, encoder.encode("\r\n"))
      }
      return { data: concatAll(chunks), size, bareNewline }
    })

    /** Handles one command; returns false when the session must end. */
    const command = (line: string): Effect.Effect<boolean, StartTlsError, R> =>
      Effect.gen(function* () {
        const space = line.indexOf(" ")
        const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase()
        const argument = space === -1 ? "" : line.slice(space + 1).trim()
        switch (verb) {
          case "EHLO":
          case "HELO": {
            if (argument === "") return !(yield* refuse(`501 5.5.4 Syntax: ${verb} hostname`))
            helo = argument
            resetEnvelope()
            if (verb === "HELO") {
              yield* send(`250 ${hostname}`)
              return true
            }
            const offerStartTls = tls === undefined && options.implicit !== true
            yield* sendLines(250, [
              hostname,
              "PIPELINING",
              `SIZE ${maxSize}`,
              ...(offerStartTls ? ["STARTTLS"] : []),
              ...(tls !== undefined ? ["AUTH PLAIN"] : []),
              "8BITMIME"
            ])
            return true
          }
          case "STARTTLS": {
            if (argument !== "") return !(yield* refuse("501 5.5.4 Syntax: STARTTLS"))
            if (tls !== undefined) return !(yield* refuse("554 5.5.1 already in TLS"))
            if (options.implicit === true) return !(yield* refuse("502 5.5.1 STARTTLS not available"))
            if (session.buffered().length > 0) {
              // CVE-2011-0411: refuse in plaintext, before any handshake, and hang up.
              // (Ending the session closes the connection once the reply has been flushed.)
              yield* send("554 5.5.0 command pipelined after STARTTLS")
              return false
            }
            yield* session.write(`220 2.0.0 Ready to start TLS\r\n${options.injectAfterStartTls ?? ""}`, "reply")
            // Session.upgrade refuses (and closes) if bytes arrived in the meantime; then everything is reset.
            tls = yield* session.upgrade({ ...options.tls, role: "server" })
            helo = undefined
            user = undefined
            resetEnvelope()
            return true
          }
          case "AUTH": {
            if (tls === undefined) {
              return !(yield* refuse(
                options.requireTls === true
                  ? mustStartTls
                  : "538 5.7.11 Encryption required for requested authentication mechanism"
              ))
            }
            if (helo === undefined) return !(yield* refuse("503 5.5.1 EHLO first"))
            if (user !== undefined) return !(yield* refuse("503 5.5.1 already authenticated"))
            if (from !== undefined) return !(yield* refuse("503 5.5.1 AUTH not permitted during a mail transaction"))
            const [mechanism = "", initial] = argument.split(/\s+/)
            if (mechanism.toUpperCase() !== "PLAIN") {
              return !(yield* refuse("504 5.5.4 Unrecognized authentication type"))
            }
            let response = initial
            if (response === undefined) {
              yield* send("334 ")
              response = (yield* session.readLine("auth")).trim()
            }
            if (response === "*") return !(yield* refuse("501 5.7.0 Authentication cancelled"))
            const credentials = response === "=" ? undefined : decodePlain(response)
            if (credentials === undefined) return !(yield* refuse("501 5.5.2 Cannot decode response"))
            const accepted =
              options.authenticate === undefined
                ? true
                : yield* options.authenticate(credentials).pipe(Effect.orElseSucceed(() => false))
            if (!accepted) return !(yield* refuse("535 5.7.8 Authentication credentials invalid"))
            user = credentials.user
            yield* send("235 2.7.0 Authentication successful")
            return true
          }
          case "MAIL": {
            if (tlsMissing()) return !(yield* refuse(mustStartTls))
            if (helo === undefined) return !(yield* refuse("503 5.5.1 EHLO first"))
            if (from !== undefined) return !(yield* refuse("503 5.5.1 sender already given"))
            const match = /^FROM:\s*<([^<>\s]*)>(.*)$/i.exec(argument)
            if (match === null) return !(yield* refuse("501 5.5.4 Syntax: MAIL FROM:<address>"))
            const size = /(?:^|\s)SIZE=(\d+)(?:\s|$)/i.exec(match[2] ?? "")
            if (size !== null && Number(size[1]) > maxSize) {
              return !(yield* refuse("552 5.3.4 Message size exceeds fixed limit"))
            }
            from = match[1]!
            yield* send("250 2.1.0 Ok")
            return true
          }
          case "RCPT": {
            if (tlsMissing()) return !(yield* refuse(mustStartTls))
            if (from === undefined) return !(yield* refuse("503 5.5.1 MAIL first"))
            const match = /^TO:\s*<([^<>\s]+)>/i.exec(argument)
            if (match === null) return !(yield* refuse("501 5.5.4 Syntax: RCPT TO:<address>"))
            if (to.length >= maxRecipients) return !(yield* refuse("452 4.5.3 Too many recipients"))
            to.push(match[1]!)
            yield* send("250 2.1.5 Ok")
            return true
          }
          case "DATA": {
            if (tlsMissing()) return !(yield* refuse(mustStartTls))
            if (argument !== "") return !(yield* refuse("501 5.5.4 Syntax: DATA"))
            if (from === undefined) return !(yield* refuse("503 5.5.1 MAIL first"))
            if (to.length === 0) return !(yield* refuse("503 5.5.1 RCPT first"))
            yield* send("354 End data with <CR><LF>.<CR><LF>")
            const message = yield* receiveData
            const envelope: SmtpEnvelope = {
              helo: helo ?? "",
              from,
              to,
              data: message.data,
              tls,
              user,
              remoteAddress
            }
            resetEnvelope()
            if (message.size > maxSize) return !(yield* refuse("552 5.3.4 Message size exceeds fixed limit"))
            if (message.bareNewline) return !(yield* refuse("550 5.6.0 bare <CR> or <LF> in message"))
            const stored =
              options.onMessage === undefined
                ? true
                : yield* options.onMessage(envelope).pipe(
                    Effect.as(true),
                    Effect.orElseSucceed(() => false)
                  )
            if (!stored) return !(yield* refuse("451 4.3.0 Error: could not store the message"))
            yield* send("250 2.0.0 Ok: queued")
            return true
          }
          case "RSET":
            resetEnvelope()
            yield* send("250 2.0.0 Ok")
            return true
          case "NOOP":
            yield* send("250 2.0.0 Ok")
            return true
          case "VRFY":
            yield* send("252 2.0.0 Cannot VRFY user")
            return true
          case "QUIT":
            yield* send("221 2.0.0 Bye")
            return false
          case "":
            return !(yield* refuse("500 5.5.2 Error: bad syntax"))
          default:
            return !(yield* refuse("502 5.5.2 Error: command not recognized"))
        }
      })

    const loop = Effect.gen(function* () {
      yield* send(`220 ${hostname} ESMTP netdial`)
      let going = true
      while (going) {
        const line = yield* session.readLine("command")
        going = yield* command(line)
      }
    })

    yield* loop.pipe(
      Effect.catch((error: StartTlsError) =>
        error.reason === "TimedOut"
          ? send(`421 4.4.2 ${hostname} Error: timeout exceeded`).pipe(Effect.ignore)
          : error.reason === "ReplyTooLong"
            ? send("500 5.5.0 Error: line too long").pipe(Effect.ignore)
            : Effect.void
      )
    )
  })

/**
 * Serves SMTP on `listener` (tcp:// for STARTTLS, tls:// with `implicit: true` for port-465 style), one fiber per
 * connection; runs until interrupted. Fork it: `yield* serveSmtp(listener, options).pipe(Effect.forkScoped)`.
 */
export const serveSmtp = <R = never>(
  listener: Listener,
  options: SmtpServerOptions<R>
): Effect.Effect<never, TransportError, R> =>
  listener.serve((connection) => Effect.scoped(serveSmtpConnection(connection, options)))
