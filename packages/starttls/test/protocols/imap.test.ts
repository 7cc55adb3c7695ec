import { describe, expect, layer, it as plain } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { classifyLine, imap, literalLength, parseCapabilityLine } from "../../src/protocols/imap.ts"
import * as Session from "../../src/Session.ts"
import { closeAndSilenceAfter, harness } from "../support/dialogue.ts"
import { deliveries, type Step, scriptedServer } from "../support/scripted.ts"

const protocol = imap

const { succeeds, fails } = harness(protocol)

const dovecotGreeting =
  "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n"
const preLogin = "Pre-login capabilities listed, post-login capabilities have more."
const plainCaps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN"
const tlsCaps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN"

/** Dovecot 2.3.19 [V], byte for byte. */
const reference: ReadonlyArray<Step> = [
  { send: dovecotGreeting },
  { expect: "a1 CAPABILITY\r\n" },
  { send: `* CAPABILITY ${plainCaps}\r\na1 OK ${preLogin}\r\n` },
  { expect: "a2 STARTTLS\r\n" },
  { send: "a2 OK Begin TLS negotiation now.\r\n" },
  { startTls: true },
  { expect: "a3 CAPABILITY\r\n" },
  { send: `* CAPABILITY ${tlsCaps}\r\na3 OK ${preLogin}\r\n` }
]

/** The plaintext part up to the client's STARTTLS, for the attack scripts. */
const upToStartTls: ReadonlyArray<Step> = [
  { send: dovecotGreeting },
  { expect: "a1 CAPABILITY\r\n" },
  { send: `* CAPABILITY ${plainCaps}\r\na1 OK ${preLogin}\r\n` },
  { expect: "a2 STARTTLS\r\n" }
]

describe("imap parsers", () => {
  plain("literal lengths at the end of a line", () => {
    expect(literalLength('* ID ("name" {7}')).toBe(7)
    expect(literalLength("* 1 FETCH (BODY[] ~{12}")).toBe(12)
    expect(literalLength("* OK {7} in the middle")).toBeUndefined()
    expect(literalLength("* OK no literal")).toBeUndefined()
  })
  plain("CAPABILITY lines", () => {
    expect(parseCapabilityLine("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED")).toEqual([
      "IMAP4rev1",
      "STARTTLS",
      "LOGINDISABLED"
    ])
    expect(parseCapabilityLine("* capability imap4rev1")).toEqual(["imap4rev1"])
    expect(parseCapabilityLine("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready")).toBeUndefined()
    expect(parseCapabilityLine("* CAPABILITYX")).toBeUndefined()
  })
  plain("tagged lines match our tag and a whole status word only", () => {
    expect(classifyLine("a2 OK Begin TLS", "a2")).toEqual({ kind: "tagged", status: "OK" })
    expect(classifyLine("a2 ok", "a2")).toEqual({ kind: "tagged", status: "OK" })
    expect(classifyLine("a2 NO [PRIVACYREQUIRED] no", "a2")).toEqual({ kind: "tagged", status: "NO" })
    expect(classifyLine("a2 OKAY", "a2")).toEqual({ kind: "unexpected" })
    expect(classifyLine("a1 OK Begin TLS", "a2")).toEqual({ kind: "unexpected" })
    expect(classifyLine("a22 OK", "a2")).toEqual({ kind: "unexpected" })
    expect(classifyLine("* OK [ALERT] hi", "a2")).toEqual({ kind: "untagged" })
    expect(classifyLine("+ go ahead", "a2")).toEqual({ kind: "continuation" })
  })
  plain("ports and name", () => {
    expect([imap.name, imap.plainPort, imap.implicitPort]).toEqual(["imap", 143, 993])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("imap STARTTLS", (it) => {
  for (const delivery of deliveries) {
    it.effect(`the Dovecot dialogue, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result, seen } = yield* succeeds(reference, { delivery })
        expect(result.protocol).toBe("imap")
        expect(result.encrypted).toBe(true)
        expect(result.tls?.authorized).toBe(true)
        expect(result.capabilities).toEqual(tlsCaps.split(" "))
        expect(result.capabilitiesBeforeTls).toEqual(plainCaps.split(" "))
        // exactly one command per expect: nothing pipelined, in particular nothing after STARTTLS
        expect(seen).toEqual(["a1 CAPABILITY\r\n", "a2 STARTTLS\r\n", "a3 CAPABILITY\r\n"])
      }).pipe(Effect.scoped)
    )

    it.effect(`untagged lines with literals that look like our tagged reply, ${delivery}`, () =>
      Effect.gen(function* () {
        const fake = "a1 OK fake\r\n* CAPABILITY AUTH=PLAIN\r\n"
        const { result } = yield* succeeds(
          [
            { send: "* OK ready.\r\n" },
            { expect: "a1 CAPABILITY\r\n" },
            {
              send: `* ID ("name" {${fake.length}}\r\n${fake} "x" {0}\r\n)\r\n* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n`
            },
            { expect: "a2 STARTTLS\r\n" },
            { send: "a2 OK go\r\n" },
            { startTls: true },
            { expect: "a3 CAPABILITY\r\n" },
            { send: `* STATUS {3}\r\na3 \r\n* CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256\r\na3 OK done\r\n` }
          ],
          { delivery }
        )
        expect(result.capabilitiesBeforeTls).toEqual(["IMAP4rev1", "STARTTLS"])
        expect(result.capabilities).toEqual(["IMAP4rev1", "AUTH=SCRAM-SHA-256"])
      }).pipe(Effect.scoped)
    )
  }

  it.effect("capabilities differ before and after TLS: only the post-TLS CAPABILITY counts (LOGINDISABLED kept)", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([
        { send: "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=ANONYMOUS] ready.\r\n" },
        { expect: "a1 CAPABILITY\r\n" },
        { send: "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\na1 OK done\r\n" },
        { expect: "a2 STARTTLS\r\n" },
        { send: "a2 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN] Begin TLS negotiation now.\r\n" },
        { startTls: true },
        { expect: "a3 CAPABILITY\r\n" },
        { send: "* CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=SCRAM-SHA-256\r\na3 OK done\r\n" }
      ])
      expect(result.capabilities).toEqual(["IMAP4rev1", "LOGINDISABLED", "AUTH=SCRAM-SHA-256"])
      expect(result.capabilitiesBeforeTls).toEqual(["IMAP4rev1", "STARTTLS", "AUTH=PLAIN"])
    }).pipe(Effect.scoped)
  )

  const noStartTls: ReadonlyArray<Step> = [
    { send: "* OK ready.\r\n" },
    { expect: "a1 CAPABILITY\r\n" },
    { send: "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK done\r\n" }
  ]

  it.effect("STARTTLS not advertised (stripped): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails(noStartTls)
      expect(error.reason).toBe("CapabilityMissing")
      expect(error.protocol).toBe("imap")
    }).pipe(Effect.scoped)
  )

  it.effect("STARTTLS not advertised: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds(noStartTls, { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.tls).toBeUndefined()
      expect(result.capabilities).toEqual(["IMAP4rev1", "AUTH=PLAIN"])
    }).pipe(Effect.scoped)
  )

  for (const refusal of ["a2 NO [PRIVACYREQUIRED] not now", "a2 BAD unknown command"]) {
    it.effect(`refused (${refusal.split(" ")[1]}): Refused when required`, () =>
      Effect.gen(function* () {
        const error = yield* fails([...upToStartTls, { send: `${refusal}\r\n` }])
        expect(error.reason).toBe("Refused")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toBe(refusal)
      }).pipe(Effect.scoped)
    )
  }

  it.effect("refused: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([...upToStartTls, { send: "a2 NO not now\r\n" }], { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(plainCaps.split(" "))
    }).pipe(Effect.scoped)
  )

  for (const [label, reply] of [
    ["an OK for another tag", "a1 OK Begin TLS negotiation now."],
    ["a status word that is not OK", "a2 OKAY Begin TLS negotiation now."],
    ["a continuation", "+ go ahead"],
    ["garbage", "\u0016\u0003\u0001"]
  ] as const) {
    it.effect(`wrong success reply (${label}): UnexpectedReply, even when opportunistic`, () =>
      Effect.gen(function* () {
        const error = yield* fails([...upToStartTls, { send: `${reply}\r\n` }], {
          policy: "opportunistic"
        })
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.step).toBe("upgrade")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("a tagged OK sent before the STARTTLS command: UnexpectedReply (nothing may wait unread)", () =>
    Effect.gen(function* () {
      const error = yield* fails([
        { send: "* OK ready.\r\n" },
        { expect: "a1 CAPABILITY\r\n" },
        { send: "* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\na2 OK Begin TLS negotiation now.\r\n" }
      ])
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.step).toBe("upgrade")
    }).pipe(Effect.scoped)
  )

  it.effect("untagged BYE in the STARTTLS response: ServiceUnavailable", () =>
    Effect.gen(function* () {
      const error = yield* fails([...upToStartTls, { send: "* BYE shutting down\r\n" }])
      expect(error.reason).toBe("ServiceUnavailable")
    }).pipe(Effect.scoped)
  )

  closeAndSilenceAfter(it, "STARTTLS", fails, upToStartTls)

  it.effect("bytes glued to the STARTTLS OK (response injection, batched into one write): Injection", () =>
    Effect.gen(function* () {
      const error = yield* fails(
        [
          ...upToStartTls,
          { send: "a2 OK Begin TLS negotiation now.\r\n" },
          { send: "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na3 OK done\r\n" }
        ],
        { delivery: "batched" }
      )
      expect(error.reason).toBe("Injection")
      expect(error.step).toBe("upgrade")
      expect(error.reply).toContain("* CAPABILITY")
    }).pipe(Effect.scoped)
  )

  it.effect("bytes glued to the STARTTLS OK in one write: Injection", () =>
    Effect.gen(function* () {
      const error = yield* fails([
        ...upToStartTls,
        { send: "a2 OK Begin TLS negotiation now.\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na3 OK done\r\n" }
      ])
      expect(error.reason).toBe("Injection")
      expect(error.step).toBe("upgrade")
    }).pipe(Effect.scoped)
  )

  it.effect("PREAUTH greeting: PreAuth when required, before any command", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: "* PREAUTH [CAPABILITY IMAP4rev1] logged in as victim\r\n" }])
      expect(error.reason).toBe("PreAuth")
      expect(error.step).toBe("greeting")
    }).pipe(Effect.scoped)
  )

  it.effect("PREAUTH greeting: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds(
        [
          { send: "* PREAUTH logged in\r\n" },
          { expect: "a1 CAPABILITY\r\n" },
          { send: "* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n" }
        ],
        { policy: "opportunistic" }
      )
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(["IMAP4rev1", "STARTTLS"])
      expect(seen).toEqual(["a1 CAPABILITY\r\n"])
    }).pipe(Effect.scoped)
  )

  it.effect("BYE greeting: ServiceUnavailable", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: "* BYE too many connections\r\n" }], {
        policy: "opportunistic"
      })
      expect(error.reason).toBe("ServiceUnavailable")
      expect(error.step).toBe("greeting")
    }).pipe(Effect.scoped)
  )

  it.effect("discover over implicit TLS: greeting and CAPABILITY only", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds(
        [
          { startTls: true },
          { send: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready.\r\n" },
          { expect: "a1 CAPABILITY\r\n" },
          { send: "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK done\r\n" }
        ],
        { implicit: true }
      )
      expect(result.encrypted).toBe(true)
      expect(result.tls?.authorized).toBe(true)
      expect(result.capabilities).toEqual(["IMAP4rev1", "AUTH=PLAIN"])
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(seen).toEqual(["a1 CAPABILITY\r\n"])
    }).pipe(Effect.scoped)
  )

  it.effect("discover on a plaintext connection when TLS is required: BadOption", () =>
    Effect.gen(function* () {
      const run = yield* scriptedServer([{ send: "* OK ready.\r\n" }])
      const transports = yield* Transports
      const session = yield* Session.make(yield* transports.connect(run.url), { protocol: "imap" })
      const error = yield* Effect.flip(
        imap.discover(session, { policy: "required", tls: {}, clientName: "localhost", domain: "localhost" })
      )
      expect(error.reason).toBe("BadOption")
    }).pipe(Effect.scoped)
  )
})
