import { describe, expect, layer, it as plain } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { capabilityOf, sieve, tokenizeLine } from "../../src/protocols/sieve.ts"
import { closeAndSilenceAfter, harness } from "../support/dialogue.ts"
import { deliveries, type Step } from "../support/scripted.ts"

const protocol = sieve

const { succeeds, fails } = harness(protocol)

const extensions =
  "fileinto reject envelope encoded-character vacation subaddress comparator-i;ascii-numeric relational regex imap4flags copy include variables body enotify environment mailbox date index ihave duplicate mime foreverypart extracttext"
const block = (lines: ReadonlyArray<string>, ok: string) => `${lines.map((line) => `${line}\r\n`).join("")}${ok}\r\n`
const plainLines = [
  '"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"',
  `"SIEVE" "${extensions}"`,
  '"NOTIFY" "mailto"',
  '"SASL" "PLAIN"',
  '"STARTTLS"',
  '"VERSION" "1.0"'
]
const tlsLines = [
  '"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"',
  `"SIEVE" "${extensions}"`,
  '"NOTIFY" "mailto"',
  '"SASL" "PLAIN"',
  '"VERSION" "1.0"'
]
const plainCaps = [
  "IMPLEMENTATION Dovecot (Debian) Pigeonhole",
  `SIEVE ${extensions}`,
  "NOTIFY mailto",
  "SASL PLAIN",
  "STARTTLS",
  "VERSION 1.0"
]
const tlsCaps = plainCaps.filter((capability) => capability !== "STARTTLS")

/** Dovecot Pigeonhole [V], byte for byte: the capabilities come unasked, in the greeting and again after TLS. */
const reference: ReadonlyArray<Step> = [
  { send: block(plainLines, 'OK "Dovecot (Debian) ready."') },
  { expect: "STARTTLS\r\n" },
  { send: 'OK "Begin TLS negotiation now."\r\n' },
  { startTls: true },
  { send: block(tlsLines, 'OK "TLS negotiation successful."') }
]

const upToStartTls: ReadonlyArray<Step> = [
  { send: block(plainLines, 'OK "Dovecot (Debian) ready."') },
  { expect: "STARTTLS\r\n" }
]

describe("sieve parsers", () => {
  plain("tokens: atoms, quoted strings with escapes, response codes, a literal at the end", () => {
    expect(tokenizeLine('OK (TAG "a)b") "done \\"here\\" \\\\"')).toEqual({
      tokens: [
        { kind: "atom", value: "OK" },
        { kind: "code", value: 'TAG "a)b"' },
        { kind: "string", value: 'done "here" \\' }
      ],
      literal: undefined
    })
    expect(tokenizeLine('"SASL" {12}')).toEqual({ tokens: [{ kind: "string", value: "SASL" }], literal: 12 })
    expect(tokenizeLine("{5+}")).toEqual({ tokens: [], literal: 5 })
    expect(tokenizeLine('"unterminated')).toEqual({ error: "unterminated quoted string" })
    expect(tokenizeLine('"x" {12} "y"')).toEqual({ error: "malformed literal" })
    expect(tokenizeLine("NO (QUOTA")).toEqual({ error: "unterminated response code" })
  })
  plain("capability lines", () => {
    expect(capabilityOf([{ kind: "string", value: "STARTTLS" }])).toBe("STARTTLS")
    expect(
      capabilityOf([
        { kind: "string", value: "SASL" },
        { kind: "string", value: "PLAIN SCRAM-SHA-1" }
      ])
    ).toBe("SASL PLAIN SCRAM-SHA-1")
    expect(
      capabilityOf([
        { kind: "string", value: "SASL" },
        { kind: "string", value: "" }
      ])
    ).toBe("SASL")
    expect(capabilityOf([{ kind: "atom", value: "STARTTLS" }])).toBeUndefined()
    expect(
      capabilityOf([
        { kind: "string", value: "A" },
        { kind: "string", value: "B" },
        { kind: "string", value: "C" }
      ])
    ).toBeUndefined()
  })
  plain("ports and name", () => {
    expect([sieve.name, sieve.plainPort, sieve.implicitPort]).toEqual(["sieve", 4190, undefined])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("sieve STARTTLS", (it) => {
  for (const delivery of deliveries) {
    it.effect(`the Dovecot Pigeonhole dialogue, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result, seen } = yield* succeeds(reference, { delivery })
        expect(result.protocol).toBe("sieve")
        expect(result.encrypted).toBe(true)
        expect(result.tls?.authorized).toBe(true)
        expect(result.capabilities).toEqual(tlsCaps)
        expect(result.capabilitiesBeforeTls).toEqual(plainCaps)
        // the only command: the client reads the post-TLS block without asking for it
        expect(seen).toEqual(["STARTTLS\r\n"])
      }).pipe(Effect.scoped)
    )

    it.effect(`literals, escapes and lower-case words, ${delivery}`, () =>
      Effect.gen(function* () {
        const fake = 'PLAIN\r\nOK "fake end"\r\n'
        const { result } = yield* succeeds(
          [
            {
              send: `{14}\r\nIMPLEMENTATION {3}\r\nfoo\r\n"SASL" {${fake.length}}\r\n${fake}\r\n"starttls"\r\n"X-NOTE" "say \\"hi\\""\r\nok (WARNINGS) "ready"\r\n`
            },
            { expect: "STARTTLS\r\n" },
            { send: 'ok "go"\r\n' },
            { startTls: true },
            { send: `"SASL" {12}\r\nSCRAM-SHA-1\n\r\nOK\r\n` }
          ],
          { delivery }
        )
        expect(result.capabilitiesBeforeTls).toEqual([
          "IMPLEMENTATION foo",
          `SASL ${fake}`,
          "starttls",
          'X-NOTE say "hi"'
        ])
        expect(result.capabilities).toEqual(["SASL SCRAM-SHA-1\n"])
      }).pipe(Effect.scoped)
    )
  }

  it.effect("capabilities differ before and after TLS: only the block sent over TLS counts", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([
        { send: block(['"SASL" "PLAIN LOGIN"', '"STARTTLS"'], "OK") },
        { expect: "STARTTLS\r\n" },
        { send: "OK\r\n" },
        { startTls: true },
        { send: block(['"SASL" "SCRAM-SHA-256"', '"VERSION" "1.0"'], "OK") }
      ])
      expect(result.capabilities).toEqual(["SASL SCRAM-SHA-256", "VERSION 1.0"])
      expect(result.capabilitiesBeforeTls).toEqual(["SASL PLAIN LOGIN", "STARTTLS"])
    }).pipe(Effect.scoped)
  )

  const noStartTls: ReadonlyArray<Step> = [{ send: block(['"IMPLEMENTATION" "x"', '"SASL" "PLAIN"'], 'OK "ready"') }]

  it.effect("STARTTLS not advertised (stripped): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails(noStartTls)
      expect(error.reason).toBe("CapabilityMissing")
      expect(error.protocol).toBe("sieve")
    }).pipe(Effect.scoped)
  )

  it.effect("STARTTLS not advertised: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds(noStartTls, { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.tls).toBeUndefined()
      expect(result.capabilities).toEqual(["IMPLEMENTATION x", "SASL PLAIN"])
      expect(seen).toEqual([])
    }).pipe(Effect.scoped)
  )

  it.effect("refused (NO): Refused when required", () =>
    Effect.gen(function* () {
      const error = yield* fails([...upToStartTls, { send: 'NO "TLS not configured"\r\n' }])
      expect(error.reason).toBe("Refused")
      expect(error.step).toBe("upgrade")
      expect(error.reply).toBe('NO "TLS not configured"')
    }).pipe(Effect.scoped)
  )

  it.effect("refused: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([...upToStartTls, { send: "NO\r\n" }], { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(plainCaps)
    }).pipe(Effect.scoped)
  )

  for (const reply of ["OKAY", '"STARTTLS"', "+OK", '"OK"']) {
    it.effect(`wrong success reply (${reply}): UnexpectedReply, even when opportunistic`, () =>
      Effect.gen(function* () {
        const error = yield* fails([...upToStartTls, { send: `${reply}\r\n` }], {
          policy: "opportunistic"
        })
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.step).toBe("upgrade")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("BYE to STARTTLS: ServiceUnavailable", () =>
    Effect.gen(function* () {
      const error = yield* fails([...upToStartTls, { send: 'BYE "going away"\r\n' }])
      expect(error.reason).toBe("ServiceUnavailable")
    }).pipe(Effect.scoped)
  )

  closeAndSilenceAfter(it, "STARTTLS", fails, upToStartTls)

  it.effect("no capability block after the handshake: TimedOut in rediscover (the client never asks first)", () =>
    Effect.gen(function* () {
      const error = yield* fails([...upToStartTls, { send: "OK\r\n" }, { startTls: true }, { sleep: 10_000 }], {
        stepTimeout: "1 second"
      })
      expect(error.reason).toBe("TimedOut")
      expect(error.step).toBe("rediscover")
    }).pipe(Effect.scoped)
  )

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to the STARTTLS OK (response injection): Injection, ${delivery}`, () =>
      Effect.gen(function* () {
        const injected = `OK "Begin TLS negotiation now."\r\n${block(['"SASL" "PLAIN"'], "OK")}`
        const error = yield* fails([...upToStartTls, { send: injected }], { delivery })
        expect(error.reason).toBe("Injection")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toContain('"SASL"')
      }).pipe(Effect.scoped)
    )
  }

  for (const status of ["NO", "BYE"]) {
    it.effect(`greeting ending ${status}: ServiceUnavailable`, () =>
      Effect.gen(function* () {
        const error = yield* fails([{ send: `"IMPLEMENTATION" "x"\r\n${status} "busy"\r\n` }], {
          policy: "opportunistic"
        })
        expect(error.reason).toBe("ServiceUnavailable")
        expect(error.step).toBe("greeting")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("a greeting line that is neither a capability nor a status: UnexpectedReply", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: "* OK IMAP4rev1 ready\r\n" }])
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.step).toBe("greeting")
    }).pipe(Effect.scoped)
  )

  it.effect("discover over implicit TLS: the greeting block only", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds([{ startTls: true }, { send: block(tlsLines, "OK") }], {
        implicit: true
      })
      expect(result.encrypted).toBe(true)
      expect(result.capabilities).toEqual(tlsCaps)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(seen).toEqual([])
    }).pipe(Effect.scoped)
  )
})
