import { describe, expect, layer, it as plain } from "@effect/vitest"
import { TransportError, Transports } from "@netdial/transport"
import { type Duration, Effect, Exit } from "effect"
import type { Policy } from "../../src/Protocol.ts"
import { hasExtension, lmtp, parseExtensions, smtp } from "../../src/protocols/smtp.ts"
import { startTls } from "../../src/StartTls.ts"
import { StartTlsError } from "../../src/StartTlsError.ts"
import { type Delivery, deliveries, type Step, scriptedServer } from "../support/scripted.ts"

interface Options {
  readonly delivery?: Delivery
  readonly policy?: Policy
  readonly stepTimeout?: Duration.Input
  /** Trust the test CA (default true). */
  readonly trusted?: boolean
  readonly peerName?: string
  readonly protocol?: "smtp" | "lmtp"
}

const text = (seen: ReadonlyArray<string | Uint8Array>) =>
  seen.map((s) => (typeof s === "string" ? s : new TextDecoder().decode(s)))

/** Dials the scripted server and runs `startTls` (the public API); returns the server run and the outcome. */
const dialogue = (script: ReadonlyArray<Step>, options: Options = {}) =>
  Effect.gen(function* () {
    const run = yield* scriptedServer(script, options.delivery ?? "as-written")
    const transports = yield* Transports
    const connection = yield* transports.connect(run.url)
    const outcome = startTls(connection, options.protocol ?? "smtp", {
      policy: options.policy ?? "required",
      clientName: "client.test",
      stepTimeout: options.stepTimeout ?? "10 seconds",
      tls:
        options.trusted === false
          ? { peerName: options.peerName ?? "localhost" }
          : { ca: run.pki.ca.certPem, peerName: options.peerName ?? "localhost" }
    })
    return { run, outcome }
  })

const succeeds = (script: ReadonlyArray<Step>, options: Options = {}) =>
  Effect.gen(function* () {
    const { run, outcome } = yield* dialogue(script, options)
    const result = yield* outcome
    const seen = text(yield* run.done)
    return { result, seen }
  })

const fails = (script: ReadonlyArray<Step>, options: Options = {}) =>
  Effect.gen(function* () {
    const { run, outcome } = yield* dialogue(script, options)
    const error = yield* Effect.flip(outcome)
    return { error, run }
  })

/**
 * The script's last step waits for any byte from the client: it fails with `Closed` when the client hung up
 * without sending anything more, and otherwise returns what came.
 */
const anything: Step = { expect: /[\s\S]/ }

/** Asserts that the client hung up without sending another byte (the script's final `anything` saw a close). */
const clientSentNothingMore = (run: { readonly done: Effect.Effect<ReadonlyArray<string | Uint8Array>, unknown> }) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(run.done)
    if (Exit.isSuccess(exit)) expect.fail(`the client sent more: ${JSON.stringify(text(exit.value).at(-1))}`)
    const error = yield* Effect.flip(run.done)
    expect((error as StartTlsError).reason).toBe("Closed")
  })

// -- Postfix 3.7.11 [V], byte for byte ---------------------------------------------------------------------------

const postfixGreeting = "220 mail.test.local ESMTP Postfix\r\n"
const postfixPlainCaps = [
  "PIPELINING",
  "SIZE 10240000",
  "VRFY",
  "ETRN",
  "STARTTLS",
  "ENHANCEDSTATUSCODES",
  "8BITMIME",
  "DSN",
  "SMTPUTF8",
  "CHUNKING"
]
const postfixTlsCaps = [
  "PIPELINING",
  "SIZE 10240000",
  "VRFY",
  "ETRN",
  "AUTH PLAIN LOGIN",
  "ENHANCEDSTATUSCODES",
  "8BITMIME",
  "DSN",
  "SMTPUTF8",
  "CHUNKING"
]
const ehloReply = (name: string, caps: ReadonlyArray<string>) =>
  [name, ...caps].map((line, i, all) => `250${i === all.length - 1 ? " " : "-"}${line}\r\n`).join("")

const postfix: ReadonlyArray<Step> = [
  { send: postfixGreeting },
  { expect: "EHLO client.test\r\n" },
  { send: ehloReply("mail.test.local", postfixPlainCaps) },
  { expect: "STARTTLS\r\n" },
  { send: "220 2.0.0 Ready to start TLS\r\n" },
  { startTls: true },
  { expect: "EHLO client.test\r\n" },
  { send: ehloReply("mail.test.local", postfixTlsCaps) }
]

/** Postfix up to the client's STARTTLS, for the attack scripts. */
const upToStartTls = (caps: ReadonlyArray<string> = postfixPlainCaps): ReadonlyArray<Step> => [
  { send: postfixGreeting },
  { expect: "EHLO client.test\r\n" },
  { send: ehloReply("mail.test.local", caps) },
  { expect: "STARTTLS\r\n" }
]

describe("smtp reply parsing", () => {
  plain("extensions: the first line is the server's name; keywords upper-cased; parameters kept", () => {
    const reply = {
      code: 250,
      lines: ["mail.example STARTTLS", "pipelining", "size 1000", "Auth PLAIN LOGIN", "X-ODD", "bad_keyword", " "],
      raw: ""
    }
    const extensions = parseExtensions(reply)
    expect(extensions).toEqual(["PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN", "X-ODD"])
    expect(hasExtension(extensions, "starttls")).toBe(false)
    expect(hasExtension(extensions, "auth")).toBe(true)
    expect(hasExtension(["STARTTLSX", "X-STARTTLS"], "STARTTLS")).toBe(false)
  })

  plain("ports and names", () => {
    expect([smtp.name, smtp.plainPort, smtp.implicitPort]).toEqual(["smtp", 587, 465])
    expect([lmtp.name, lmtp.plainPort, lmtp.implicitPort]).toEqual(["lmtp", undefined, undefined])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("smtp dialogue", (it) => {
  for (const delivery of deliveries) {
    it.effect(`Postfix, byte for byte (${delivery})`, () =>
      Effect.gen(function* () {
        const { result, seen } = yield* succeeds(postfix, { delivery })
        // Exactly these bytes, each alone: STARTTLS is never pipelined although PIPELINING is advertised.
        expect(seen).toEqual(["EHLO client.test\r\n", "STARTTLS\r\n", "EHLO client.test\r\n"])
        expect(result.protocol).toBe("smtp")
        expect(result.encrypted).toBe(true)
        expect(result.tls?.authorized).toBe(true)
        expect(result.connection.tls).toBeDefined()
        expect(result.capabilities).toEqual(postfixTlsCaps)
        expect(result.capabilitiesBeforeTls).toEqual(postfixPlainCaps)
      })
    )
  }

  for (const delivery of deliveries) {
    it.effect(`a multi-line greeting (${delivery})`, () =>
      Effect.gen(function* () {
        const { result } = yield* succeeds(
          [{ send: "220-mail.test.local ESMTP\r\n220-no UCE\r\n220 ready\r\n" }, ...postfix.slice(1)],
          { delivery }
        )
        expect(result.encrypted).toBe(true)
      })
    )
  }

  for (const delivery of deliveries) {
    it.effect(`Dovecot LMTP: LHLO, and Dovecot's 220 text (${delivery})`, () =>
      Effect.gen(function* () {
        const plainCaps = ["8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "PIPELINING", "STARTTLS", "SMTPUTF8"]
        const tlsCaps = ["8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "PIPELINING", "SMTPUTF8"]
        const { result, seen } = yield* succeeds(
          [
            { send: "220 mx.test.local Dovecot (Debian) ready.\r\n" },
            { expect: "LHLO client.test\r\n" },
            { send: ehloReply("mx.test.local", plainCaps) },
            { expect: "STARTTLS\r\n" },
            { send: "220 2.0.0 Begin TLS negotiation now.\r\n" },
            { startTls: true },
            { expect: "LHLO client.test\r\n" },
            { send: ehloReply("mx.test.local", tlsCaps) }
          ],
          { delivery, protocol: "lmtp" }
        )
        expect(seen).toEqual(["LHLO client.test\r\n", "STARTTLS\r\n", "LHLO client.test\r\n"])
        expect(result.protocol).toBe("lmtp")
        expect(result.encrypted).toBe(true)
        expect(result.capabilities).toEqual(tlsCaps)
      })
    )
  }

  it.effect("the greeting is 554: ServiceUnavailable, and the client says nothing", () =>
    Effect.gen(function* () {
      const { error, run } = yield* fails([{ send: "554 5.3.2 mail.test.local No SMTP service here\r\n" }, anything])
      expect(error.reason).toBe("ServiceUnavailable")
      expect(error.step).toBe("greeting")
      expect(error.reply).toBe("554 5.3.2 mail.test.local No SMTP service here")
      yield* clientSentNothingMore(run)
    })
  )

  it.effect("a 421 greeting is ServiceUnavailable too", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([{ send: "421 4.3.2 Service shutting down\r\n" }])
      expect(error.reason).toBe("ServiceUnavailable")
    })
  )

  // -- A: STRIPTLS / downgrade ---------------------------------------------------------------------------------

  it.effect("STARTTLS missing, required: CapabilityMissing, the connection closed with nothing more sent", () =>
    Effect.gen(function* () {
      const stripped = postfixPlainCaps.filter((c) => c !== "STARTTLS")
      const { error, run } = yield* fails([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: ehloReply("mail.test.local", stripped) },
        anything
      ])
      expect(error.reason).toBe("CapabilityMissing")
      expect(error.step).toBe("capabilities")
      yield* clientSentNothingMore(run)
    })
  )

  it.effect("STARTTLS only in the first EHLO line (the server's name) does not count", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: "250-mail.test.local STARTTLS\r\n250-X-STARTTLS\r\n250 STARTTLSX\r\n" }
      ])
      expect(error.reason).toBe("CapabilityMissing")
    })
  )

  it.effect("STARTTLS missing, opportunistic: encrypted false with the plaintext capabilities", () =>
    Effect.gen(function* () {
      const stripped = postfixPlainCaps.filter((c) => c !== "STARTTLS")
      const { result, seen } = yield* succeeds(
        [
          { send: postfixGreeting },
          { expect: "EHLO client.test\r\n" },
          { send: ehloReply("mail.test.local", stripped) }
        ],
        { policy: "opportunistic" }
      )
      expect(seen).toEqual(["EHLO client.test\r\n"])
      expect(result.encrypted).toBe(false)
      expect(result.tls).toBeUndefined()
      expect(result.connection.tls).toBeUndefined()
      expect(result.capabilities).toEqual(stripped)
      expect(result.capabilitiesBeforeTls).toEqual(stripped)
    })
  )

  it.effect("keywords are case-insensitive: a lower-case starttls is an offer", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: "250-mail.test.local\r\n250-starttls\r\n250 size 100\r\n" },
        ...postfix.slice(3)
      ])
      expect(result.encrypted).toBe(true)
      expect(result.capabilitiesBeforeTls).toEqual(["STARTTLS", "SIZE 100"])
    })
  )

  it.effect("EHLO refused, required: CapabilityMissing (no HELO fallback)", () =>
    Effect.gen(function* () {
      const { error, run } = yield* fails([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: "502 5.5.2 Error: command not recognized\r\n" },
        anything
      ])
      expect(error.reason).toBe("CapabilityMissing")
      yield* clientSentNothingMore(run)
    })
  )

  for (const [reply, shown] of [
    ["454 4.7.0 TLS not available due to local problem\r\n", "454 4.7.0 TLS not available due to local problem"],
    ["501 5.5.4 Syntax: STARTTLS\r\n", "501 5.5.4 Syntax: STARTTLS"],
    ["502 5.5.2 Error: command not recognized\r\n", "502 5.5.2 Error: command not recognized"],
    ["500-5.5.1 unknown\r\n500 5.5.1 really\r\n", "500-5.5.1 unknown\\r\\n500 5.5.1 really"]
  ] as const) {
    it.effect(`STARTTLS refused (${reply.slice(0, 3)}), required: Refused with the reply shown`, () =>
      Effect.gen(function* () {
        const { error, run } = yield* fails([...upToStartTls(), { send: reply }, anything])
        expect(error.reason).toBe("Refused")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toBe(shown)
        yield* clientSentNothingMore(run)
      })
    )
  }

  it.effect("STARTTLS refused, opportunistic: encrypted false, plaintext capabilities", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([...upToStartTls(), { send: "454 4.7.0 TLS not available\r\n" }], {
        policy: "opportunistic"
      })
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(postfixPlainCaps)
    })
  )

  // -- Malformed replies ------------------------------------------------------------------------------------------

  const malformed: ReadonlyArray<readonly [string, ReadonlyArray<Step>, string]> = [
    ["a letter in the greeting code (25O)", [{ send: "25O mail.test.local ESMTP\r\n" }], "greeting"],
    ["a continuation with another code", [{ send: "220-mail.test.local\r\n250 ESMTP\r\n" }], "greeting"],
    ["a tab after the code", [{ send: "220\tmail.test.local\r\n" }], "greeting"],
    ["a 1yz code", [{ send: "120 wait\r\n" }], "greeting"],
    [
      "a malformed EHLO line",
      [
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: "250-mail.test.local\r\n25O STARTTLS\r\n" }
      ],
      "capabilities"
    ],
    ["250 to STARTTLS", [...upToStartTls(), { send: "250 2.0.0 Ok\r\n" }], "upgrade"],
    ["221 to STARTTLS", [...upToStartTls(), { send: "221 2.0.0 Bye\r\n" }], "upgrade"],
    ["220- then 221 to STARTTLS", [...upToStartTls(), { send: "220-Ready\r\n221 Bye\r\n" }], "upgrade"],
    ["a bare word to STARTTLS", [...upToStartTls(), { send: "OK\r\n" }], "upgrade"]
  ]
  for (const [name, script, step] of malformed) {
    it.effect(`malformed: ${name} → UnexpectedReply`, () =>
      Effect.gen(function* () {
        const { error } = yield* fails([...script, anything])
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.step).toBe(step)
      })
    )
  }

  it.effect("a reply nobody asked for yet (glued to the EHLO reply) is refused before STARTTLS is sent", () =>
    Effect.gen(function* () {
      const { error, run } = yield* fails([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: `${ehloReply("mail.test.local", postfixPlainCaps)}220 2.0.0 Ready to start TLS\r\n` },
        anything
      ])
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.step).toBe("upgrade")
      yield* clientSentNothingMore(run)
    })
  )

  it.effect("an endless EHLO reply: ReplyTooLong", () =>
    Effect.gen(function* () {
      const lines = Array.from({ length: 400 }, (_, i) => `250-X-EXT${i}\r\n`).join("")
      const { error } = yield* fails([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: `250-mail.test.local\r\n${lines}` }
      ])
      expect(error.reason).toBe("ReplyTooLong")
    })
  )

  it.effect("a clientName with a line break is refused before anything is sent", () =>
    Effect.gen(function* () {
      const run = yield* scriptedServer([{ send: postfixGreeting }, anything])
      const connection = yield* (yield* Transports).connect(run.url)
      const error = yield* startTls(connection, "smtp", { clientName: "x\r\nMAIL FROM:<a@b>" }).pipe(Effect.flip)
      expect(error.reason).toBe("BadOption")
      yield* clientSentNothingMore(run)
    })
  )

  // -- Close, silence ---------------------------------------------------------------------------------------------

  it.effect("the server closes after STARTTLS: Closed", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([...upToStartTls(), { close: true }])
      expect(error.reason).toBe("Closed")
      expect(error.step).toBe("upgrade")
    })
  )

  it.effect("the server is silent after STARTTLS: TimedOut within the step timeout", () =>
    Effect.gen(function* () {
      const started = Date.now()
      const { error } = yield* fails([...upToStartTls(), { sleep: 3000 }], { stepTimeout: "500 millis" })
      expect(error.reason).toBe("TimedOut")
      expect(error.step).toBe("upgrade")
      expect(Date.now() - started).toBeLessThan(2800)
    })
  )

  it.effect("the server says 220 and then never answers the ClientHello: TimedOut (handshake)", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([...upToStartTls(), { send: "220 2.0.0 Ready\r\n" }, { sleep: 3000 }], {
        stepTimeout: "500 millis"
      })
      expect(error.reason).toBe("TimedOut")
      expect(error.step).toBe("handshake")
    })
  )

  // -- C: response injection --------------------------------------------------------------------------------------

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to the 220: Injection, the connection closed, no ClientHello sent (${delivery})`, () =>
      Effect.gen(function* () {
        const glued =
          delivery === "batched"
            ? [{ send: "220 2.0.0 Ready to start TLS\r\n" }, { send: "250 INJECTED-PLAINTEXT\r\n" }]
            : [{ send: "220 2.0.0 Ready to start TLS\r\n250 INJECTED-PLAINTEXT\r\n" }]
        const { error, run } = yield* fails([...upToStartTls(), ...glued, anything], { delivery })
        expect(error.reason).toBe("Injection")
        expect(error.reply).toBe("250 INJECTED-PLAINTEXT\\r\\n")
        yield* clientSentNothingMore(run)
      })
    )
  }

  for (const delivery of ["as-written", "byte-by-byte"] as const) {
    it.effect(`bytes arriving just after the 220: fails closed, nothing sent in plaintext (${delivery})`, () =>
      Effect.gen(function* () {
        const { error, run } = yield* fails(
          [
            ...upToStartTls(),
            { send: "220 2.0.0 Ready to start TLS\r\n" },
            { send: "250-mail.test.local\r\n250 AUTH PLAIN\r\n" },
            anything
          ],
          { delivery }
        )
        expect(["Injection", "TlsFailed"]).toContain(error.reason)
        const exit = yield* Effect.exit(run.done)
        if (Exit.isSuccess(exit)) {
          // The client got as far as a ClientHello (a TLS record, 0x16), never a plaintext command.
          const after = text(exit.value).at(-1)!
          expect(after.charCodeAt(0)).toBe(0x16)
          expect(after).not.toContain("EHLO")
        }
      })
    )
  }

  it.effect("a server that answers the ClientHello in plaintext: TlsFailed (NotTls) or Injection", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([
        ...upToStartTls(),
        { send: "220 2.0.0 Ready to start TLS\r\n" },
        anything,
        { send: "500 5.5.1 what is this?\r\n" },
        { sleep: 1000 }
      ])
      expect(["TlsFailed", "Injection"]).toContain(error.reason)
      if (error.reason === "TlsFailed") expect((error.cause as TransportError).tlsProblem).toBe("NotTls")
    })
  )

  // -- D: capability tampering ------------------------------------------------------------------------------------

  it.effect("capabilities differ before and after TLS: only the post-TLS list is the result", () =>
    Effect.gen(function* () {
      const tampered = ["STARTTLS", "AUTH PLAIN LOGIN", "X-MITM-ADDED"]
      const real = ["AUTH SCRAM-SHA-256", "SIZE 52428800"]
      const { result } = yield* succeeds([
        { send: postfixGreeting },
        { expect: "EHLO client.test\r\n" },
        { send: ehloReply("mail.test.local", tampered) },
        { expect: "STARTTLS\r\n" },
        { send: "220 2.0.0 Ready to start TLS\r\n" },
        { startTls: true },
        { expect: "EHLO client.test\r\n" },
        { send: ehloReply("mail.test.local", real) }
      ])
      expect(result.capabilities).toEqual(real)
      expect(result.capabilitiesBeforeTls).toEqual(tampered)
    })
  )

  it.effect("a refusal of the EHLO over TLS is UnexpectedReply (never a plaintext fallback)", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([...postfix.slice(0, 7), { send: "554 5.7.1 go away\r\n" }])
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.step).toBe("rediscover")
    })
  )

  // -- G: certificates --------------------------------------------------------------------------------------------

  it.effect("no CA for the server's certificate: TlsFailed with tlsProblem UnknownCa", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([...upToStartTls(), { send: "220 2.0.0 Ready\r\n" }, { startTls: true }], {
        trusted: false
      })
      expect(error.reason).toBe("TlsFailed")
      expect(error.step).toBe("handshake")
      expect(error.cause).toBeInstanceOf(TransportError)
      expect((error.cause as TransportError).tlsProblem).toBe("UnknownCa")
    })
  )

  it.effect("a certificate for another name: TlsFailed with tlsProblem HostnameMismatch", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([...upToStartTls(), { send: "220 2.0.0 Ready\r\n" }, { startTls: true }], {
        peerName: "mail.example.org"
      })
      expect(error.reason).toBe("TlsFailed")
      expect((error.cause as TransportError).tlsProblem).toBe("HostnameMismatch")
    })
  )

  it.effect("errors are StartTlsError values", () =>
    Effect.gen(function* () {
      const { error } = yield* fails([{ send: "554 no\r\n" }])
      expect(error).toBeInstanceOf(StartTlsError)
    })
  )
})
