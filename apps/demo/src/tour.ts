/**
 * The tour: local servers on loopback (TCP, UDP, TLS, unix, SMTP), then every PHP address form dialled against
 * them, SMTP submission over implicit TLS and STARTTLS (and an attacker refused), and PHP's lax inputs refused
 * with a reason. Every step is recorded with the outcome it is expected to have; a step's failure is an outcome,
 * not a failure of the Effect. Every server, socket and the temp dir are released when the tour's scope closes.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { connect as connectSmtp, serveSmtp } from "@netdial/starttls"
import { makeTestPki } from "@netdial/testkit"
import { type Connection, type TransportError, Transports } from "@netdial/transport"
import { format, fromHostPort, parse } from "@netdial/url"
import { Effect, Result } from "effect"

export interface TourResult {
  readonly part: 1 | 2 | 3
  /** What a user would type. */
  readonly input: string
  /** `format` of the parsed input, when it parses. */
  readonly canonical: string | undefined
  /** What happened, in words. */
  readonly outcome: string
  /** What should happen. */
  readonly expected: string
  /** `true` when the outcome is the expected one. */
  readonly ok: boolean
  /** Structured extras (TLS version and cipher, capabilities, error reason/position/suggestion). */
  readonly details?: Record<string, unknown>
}

export interface Tour {
  readonly results: ReadonlyArray<TourResult>
  readonly ok: boolean
  readonly durationMs: number
  readonly ipv6: boolean
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const toText = (chunk: Uint8Array | string) => (typeof chunk === "string" ? chunk : decoder.decode(chunk))

/** Writes `line` and reads until the newline came back (bounded by a timeout). */
const echo = (connection: Connection, line: string) =>
  Effect.gen(function* () {
    const writer = yield* connection.writer
    const reader = yield* connection.reader
    yield* writer.write(encoder.encode(`${line}\n`))
    let got = ""
    while (!got.includes("\n")) {
      const batch = yield* reader.pull
      for (const chunk of batch) got += toText(chunk as Uint8Array | string)
    }
    return got.trimEnd()
  }).pipe(Effect.timeout("5 seconds"))

const echoSink = (connection: Connection) =>
  Effect.gen(function* () {
    const reader = yield* connection.reader
    const writer = yield* connection.writer
    while (true) {
      const batch = yield* reader.pull
      yield* writer.writeAll(batch as never)
    }
  }).pipe(Effect.catch(() => Effect.void))

const canonicalOf = (input: string): string | undefined => {
  const parsed = parse(input)
  return Result.isSuccess(parsed) ? format(parsed.success) : undefined
}

const describeError = (error: unknown): { reason: string; message: string } => {
  const e = error as { reason?: unknown; message?: unknown; _tag?: unknown }
  return {
    reason: typeof e.reason === "string" ? e.reason : typeof e._tag === "string" ? e._tag : "Error",
    message: typeof e.message === "string" ? e.message : String(error)
  }
}

/** Is IPv6 loopback usable here? (containers often have it off) */
const ipv6Available = Effect.gen(function* () {
  const transports = yield* Transports
  return yield* Effect.scoped(transports.listen("tcp://[::1]:0")).pipe(
    Effect.as(true),
    Effect.catch(() => Effect.succeed(false))
  )
})

/** Fails only when a local server cannot be started (then there is no tour to give). */
export const tour: Effect.Effect<Tour, TransportError, Transports> = Effect.scoped(
  Effect.gen(function* () {
    const started = Date.now()
    const transports = yield* Transports
    const results: Array<TourResult> = []
    const record = (result: TourResult) => Effect.sync(() => results.push(result))

    // ---------------------------------------------------------------- servers
    const pki = yield* Effect.promise(() => makeTestPki())
    const ca = pki.ca.certPem
    const material = { cert: pki.server.chainPem, key: pki.server.keyPem }

    const tcp4 = yield* transports.listen("tcp://127.0.0.1:0")
    yield* tcp4.serve(echoSink).pipe(Effect.forkScoped)
    const ipv6 = yield* ipv6Available
    let tcp6Port: number | undefined
    if (ipv6) {
      const tcp6 = yield* transports.listen("tcp://[::1]:0")
      yield* tcp6.serve(echoSink).pipe(Effect.forkScoped)
      tcp6Port = tcp6.url.port
    }

    const udp = yield* transports.bind("udp://127.0.0.1:0")
    yield* Effect.gen(function* () {
      while (true) {
        const { data, from } = yield* udp.receive
        yield* udp.send(data, from)
      }
    }).pipe(
      Effect.catch(() => Effect.void),
      Effect.forkScoped
    )

    // offers TLS 1.2 and 1.3 (netdial's defaults, stated here for the reader)
    const tls = yield* transports.listen("tls://127.0.0.1:0", {
      ...material,
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3"
    })
    yield* tls.serve(echoSink).pipe(Effect.forkScoped)

    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-demo-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
    const unixFile = Path.join(dir, "echo.sock")
    const unix = yield* transports.listen(`unix://${unixFile}`)
    yield* unix.serve(echoSink).pipe(Effect.forkScoped)

    const smtpOptions = { tls: material, hostname: "mx.demo.test" }
    const implicitSmtp = yield* transports.listen("tls://127.0.0.1:0", material)
    yield* serveSmtp(implicitSmtp, { ...smtpOptions, implicit: true }).pipe(Effect.forkScoped)
    const starttlsSmtp = yield* transports.listen("tcp://127.0.0.1:0")
    yield* serveSmtp(starttlsSmtp, smtpOptions).pipe(Effect.forkScoped)
    const attackerSmtp = yield* transports.listen("tcp://127.0.0.1:0")
    yield* serveSmtp(attackerSmtp, { ...smtpOptions, injectAfterStartTls: "250 INJECTED\r\n" }).pipe(Effect.forkScoped)

    // ---------------------------------------------------------------- part 1: address forms
    const p4 = tcp4.url.port!
    const pt = tls.url.port!
    // the endpoint URL keeps the requested port 0; the bound address has the one the OS chose
    const pu = udp.localAddress.port
    type Kind = "echo" | "tls" | "refused"
    const forms: Array<{ input: string; url: string; kind: Kind; skip?: string; expectVersion?: string }> = [
      { input: `127.0.0.1:${p4}`, url: `127.0.0.1:${p4}`, kind: "echo" },
      { input: `tcp://127.0.0.1:${p4}`, url: `tcp://127.0.0.1:${p4}`, kind: "echo" },
      ipv6
        ? { input: `tcp://[::1]:${tcp6Port}`, url: `tcp://[::1]:${tcp6Port}`, kind: "echo" }
        : { input: "tcp://[::1]:PORT", url: "", kind: "echo", skip: "no IPv6 loopback" },
      { input: `tcp://localhost:${p4}`, url: `tcp://localhost:${p4}`, kind: "echo" },
      ...(() => {
        if (!ipv6)
          return [{ input: 'fromHostPort("::1", PORT)', url: "", kind: "echo" as Kind, skip: "no IPv6 loopback" }]
        const fsock = fromHostPort("::1", tcp6Port)
        const url = Result.isSuccess(fsock) ? format(fsock.success) : ""
        return [{ input: `fromHostPort("::1", ${tcp6Port})`, url, kind: "echo" as Kind }]
      })(),
      { input: `udp://127.0.0.1:${pu}`, url: `udp://127.0.0.1:${pu}`, kind: "echo" },
      { input: `unix://${unixFile}`, url: `unix://${unixFile}`, kind: "echo" },
      { input: `ssl://localhost:${pt}`, url: `ssl://localhost:${pt}`, kind: "tls", expectVersion: "TLSv1.3" },
      { input: `tls://localhost:${pt}`, url: `tls://localhost:${pt}`, kind: "tls", expectVersion: "TLSv1.3" },
      { input: `tlsv1.2://localhost:${pt}`, url: `tlsv1.2://localhost:${pt}`, kind: "tls", expectVersion: "TLSv1.2" },
      { input: `tlsv1.3://localhost:${pt}`, url: `tlsv1.3://localhost:${pt}`, kind: "tls", expectVersion: "TLSv1.3" },
      { input: `sslv2://localhost:${pt}`, url: `sslv2://localhost:${pt}`, kind: "refused" },
      { input: `sslv3://localhost:${pt}`, url: `sslv3://localhost:${pt}`, kind: "refused" }
    ]

    for (const form of forms) {
      const canonical = form.url === "" ? undefined : canonicalOf(form.url)
      if (form.skip !== undefined) {
        yield* record({
          part: 1,
          input: form.input,
          canonical,
          outcome: `skipped (${form.skip})`,
          expected: `skipped (${form.skip})`,
          ok: true
        })
        continue
      }
      const line = `hello over ${form.input}`
      const expected =
        form.kind === "echo"
          ? "echo verified"
          : form.kind === "tls"
            ? `echo verified over ${form.expectVersion}`
            : "UnsupportedTransport"
      const attempt = Effect.scoped(
        Effect.gen(function* () {
          const connection = yield* transports.connect(form.url, form.kind === "echo" ? {} : { ca })
          const back = yield* echo(connection, line)
          return { back, tls: connection.tls }
        })
      )
      const outcome = yield* attempt.pipe(
        Effect.map(({ back, tls }): TourResult => {
          const verified = back === line
          if (tls === undefined) {
            return {
              part: 1,
              input: form.input,
              canonical,
              outcome: verified ? "echo verified" : `echo mismatch: ${JSON.stringify(back)}`,
              expected,
              ok: verified && form.kind === "echo"
            }
          }
          const summary = `${tls.protocol} ${tls.cipher.name}${tls.keyExchange !== undefined ? ` (${tls.keyExchange})` : ""}`
          return {
            part: 1,
            input: form.input,
            canonical,
            outcome: verified ? `echo verified over ${summary}` : `echo mismatch over ${summary}`,
            expected,
            ok: verified && form.kind === "tls" && tls.protocol === form.expectVersion && tls.authorized,
            details: {
              tlsVersion: tls.protocol,
              cipher: tls.cipher.name,
              keyExchange: tls.keyExchange,
              authorized: tls.authorized
            }
          }
        }),
        Effect.catch((error) => {
          const { reason, message } = describeError(error)
          return Effect.succeed<TourResult>({
            part: 1,
            input: form.input,
            canonical,
            outcome: `${reason}: ${message}`,
            expected,
            ok: form.kind === "refused" && reason === "UnsupportedTransport",
            details: { reason, message }
          })
        })
      )
      yield* record(outcome)
    }

    // ---------------------------------------------------------------- part 2: SMTP submission
    const smtpCases = [
      { input: `tls://127.0.0.1:${implicitSmtp.url.port}`, label: "implicit TLS (465-style)", attacker: false },
      { input: `tcp://127.0.0.1:${starttlsSmtp.url.port}`, label: "STARTTLS (587-style)", attacker: false },
      { input: `tcp://127.0.0.1:${attackerSmtp.url.port}`, label: "STARTTLS, attacker injects", attacker: true }
    ]
    for (const smtp of smtpCases) {
      const expected = smtp.attacker ? "refused: Injection" : "TLS up, EHLO after TLS"
      const result = yield* Effect.scoped(
        connectSmtp(smtp.input, "smtp", { tls: { ca }, stepTimeout: "10 seconds" }).pipe(
          Effect.map((r): TourResult => {
            const tlsInfo = r.connection.tls
            return {
              part: 2,
              input: `${smtp.label}: ${smtp.input}`,
              canonical: canonicalOf(smtp.input),
              outcome: `TLS up (${tlsInfo?.protocol ?? "?"}); before TLS: ${r.capabilitiesBeforeTls.join(", ") || "-"}; after TLS: ${r.capabilities.join(", ")}`,
              expected,
              ok: !smtp.attacker && r.encrypted && tlsInfo !== undefined,
              details: {
                encrypted: r.encrypted,
                tlsVersion: tlsInfo?.protocol,
                cipher: tlsInfo?.cipher.name,
                capabilitiesBeforeTls: r.capabilitiesBeforeTls,
                capabilities: r.capabilities
              }
            }
          }),
          Effect.catch((error) => {
            const { reason, message } = describeError(error)
            return Effect.succeed<TourResult>({
              part: 2,
              input: `${smtp.label}: ${smtp.input}`,
              canonical: canonicalOf(smtp.input),
              outcome: `refused: ${reason}: ${message}`,
              expected,
              ok: smtp.attacker && reason === "Injection",
              details: { reason, message, reply: (error as { reply?: unknown }).reply }
            })
          })
        )
      )
      yield* record(result)
    }

    // ---------------------------------------------------------------- part 3: PHP's lax inputs
    for (const input of ["tcp://example.com:80abc", "tcp://example.com:80/path", "tcp://::1:80"]) {
      const parsed = parse(input)
      if (Result.isSuccess(parsed)) {
        yield* record({
          part: 3,
          input,
          canonical: format(parsed.success),
          outcome: "accepted (PHP's laxness!)",
          expected: "refused with a reason",
          ok: false
        })
        continue
      }
      const error = parsed.failure
      yield* record({
        part: 3,
        input,
        canonical: undefined,
        outcome: `${error.reason} at ${error.position}${error.suggestion === undefined ? "" : `; write ${error.suggestion}`}`,
        expected: "refused with a reason",
        ok: true,
        details: {
          reason: error.reason,
          position: error.position,
          suggestion: error.suggestion,
          message: error.message
        }
      })
    }

    return {
      results,
      ok: results.every((r) => r.ok),
      durationMs: Date.now() - started,
      ipv6
    }
  })
)
