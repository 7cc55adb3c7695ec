import { describe, expect, layer, it as plain } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { nntp } from "../../src/protocols/nntp.ts"
import { closeAndSilenceAfter, harness } from "../support/dialogue.ts"
import { deliveries, type Step } from "../support/scripted.ts"

const protocol = nntp

const { succeeds, fails } = harness(protocol)

const greeting = "200 server.example.net InterNetNews NNRP server INN 2.7.1 ready (posting ok)\r\n"
const plainCaps = [
  "VERSION 2",
  "IMPLEMENTATION INN 2.7.1",
  "HDR",
  "LIST ACTIVE ACTIVE.TIMES COUNTS DISTRIB.PATS DISTRIBUTIONS HEADERS MODERATORS MOTD NEWSGROUPS OVERVIEW.FMT SUBSCRIPTIONS",
  "NEWNEWS",
  "OVER",
  "POST",
  "READER",
  "STARTTLS"
]
const tlsCaps = [
  "VERSION 2",
  "IMPLEMENTATION INN 2.7.1",
  "AUTHINFO USER",
  "HDR",
  "LIST ACTIVE ACTIVE.TIMES COUNTS DISTRIB.PATS DISTRIBUTIONS HEADERS MODERATORS MOTD NEWSGROUPS OVERVIEW.FMT SUBSCRIPTIONS",
  "NEWNEWS",
  "OVER",
  "POST",
  "READER",
  "SASL PLAIN LOGIN"
]
const capabilities = (lines: ReadonlyArray<string>) =>
  `101 Capability list:\r\n${lines.map((line) => `${line}\r\n`).join("")}.\r\n`

/** INN 2.7.1 nnrpd [V], byte for byte. */
const reference: ReadonlyArray<Step> = [
  { send: greeting },
  { expect: "CAPABILITIES\r\n" },
  { send: capabilities(plainCaps) },
  { expect: "STARTTLS\r\n" },
  { send: "382 Begin TLS negotiation now\r\n" },
  { startTls: true },
  { expect: "CAPABILITIES\r\n" },
  { send: capabilities(tlsCaps) }
]

const upToStartTls: ReadonlyArray<Step> = [
  { send: greeting },
  { expect: "CAPABILITIES\r\n" },
  { send: capabilities(plainCaps) },
  { expect: "STARTTLS\r\n" }
]

describe("nntp", () => {
  plain("ports and name", () => {
    expect([nntp.name, nntp.plainPort, nntp.implicitPort]).toEqual(["nntp", 119, 563])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("nntp STARTTLS", (it) => {
  for (const delivery of deliveries) {
    it.effect(`the INN dialogue, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result, seen } = yield* succeeds(reference, { delivery })
        expect(result.protocol).toBe("nntp")
        expect(result.encrypted).toBe(true)
        expect(result.tls?.authorized).toBe(true)
        expect(result.capabilities).toEqual(tlsCaps)
        expect(result.capabilitiesBeforeTls).toEqual(plainCaps)
        expect(seen).toEqual(["CAPABILITIES\r\n", "STARTTLS\r\n", "CAPABILITIES\r\n"])
      }).pipe(Effect.scoped)
    )
  }

  it.effect("a 201 greeting (no posting) and dot-stuffed capability lines, byte by byte", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds(
        [
          { send: "201 news.example ready (no posting)\r\n" },
          { expect: "CAPABILITIES\r\n" },
          { send: "101 list\r\nVERSION 2\r\n..STARTTLS\r\nSTARTTLS\r\n.\r\n" },
          { expect: "STARTTLS\r\n" },
          { send: "382 go\r\n" },
          { startTls: true },
          { expect: "CAPABILITIES\r\n" },
          { send: "101 list\r\nVERSION 2\r\nREADER\r\n.\r\n" }
        ],
        { delivery: "byte-by-byte" }
      )
      expect(result.capabilitiesBeforeTls).toEqual(["VERSION 2", ".STARTTLS", "STARTTLS"])
      expect(result.capabilities).toEqual(["VERSION 2", "READER"])
    }).pipe(Effect.scoped)
  )

  it.effect("capabilities differ before and after TLS: only the post-TLS list counts", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([
        { send: greeting },
        { expect: "CAPABILITIES\r\n" },
        { send: capabilities(["VERSION 2", "STARTTLS", "AUTHINFO USER", "SASL PLAIN"]) },
        { expect: "STARTTLS\r\n" },
        { send: "382 Begin TLS negotiation now\r\n" },
        { startTls: true },
        { expect: "CAPABILITIES\r\n" },
        { send: capabilities(["VERSION 2", "SASL SCRAM-SHA-256"]) }
      ])
      expect(result.capabilities).toEqual(["VERSION 2", "SASL SCRAM-SHA-256"])
      expect(result.capabilitiesBeforeTls).toEqual(["VERSION 2", "STARTTLS", "AUTHINFO USER", "SASL PLAIN"])
    }).pipe(Effect.scoped)
  )

  const noStartTls: ReadonlyArray<Step> = [
    { send: greeting },
    { expect: "CAPABILITIES\r\n" },
    { send: capabilities(["VERSION 2", "READER", "AUTHINFO USER"]) }
  ]

  it.effect("STARTTLS not advertised (stripped): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails(noStartTls)
      expect(error.reason).toBe("CapabilityMissing")
      expect(error.protocol).toBe("nntp")
    }).pipe(Effect.scoped)
  )

  it.effect("STARTTLS not advertised: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds(noStartTls, { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.tls).toBeUndefined()
      expect(result.capabilities).toEqual(["VERSION 2", "READER", "AUTHINFO USER"])
    }).pipe(Effect.scoped)
  )

  it.effect("CAPABILITIES unknown (an RFC 977 server, 500): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: greeting }, { expect: "CAPABILITIES\r\n" }, { send: "500 What?\r\n" }])
      expect(error.reason).toBe("CapabilityMissing")
    }).pipe(Effect.scoped)
  )

  for (const refusal of ["580 Can not initiate TLS negotiation", "502 Command unavailable"]) {
    it.effect(`refused (${refusal.slice(0, 3)}): Refused when required`, () =>
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
      const { result } = yield* succeeds([...upToStartTls, { send: "580 no\r\n" }], { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(plainCaps)
    }).pipe(Effect.scoped)
  )

  for (const reply of ["3820 Begin TLS", "383 Begin TLS", "200 ok", "382-Begin"]) {
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

  closeAndSilenceAfter(it, "STARTTLS", fails, upToStartTls)

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to the 382 (response injection): Injection, ${delivery}`, () =>
      Effect.gen(function* () {
        const injected = `382 Begin TLS negotiation now\r\n${capabilities(["VERSION 2", "AUTHINFO USER"])}`
        const error = yield* fails([...upToStartTls, { send: injected }], { delivery })
        expect(error.reason).toBe("Injection")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toContain("101 Capability list")
      }).pipe(Effect.scoped)
    )
  }

  for (const unavailable of ["400 NNTP server unavailable", "502 You have no permission to talk"]) {
    it.effect(`greeting ${unavailable.slice(0, 3)}: ServiceUnavailable`, () =>
      Effect.gen(function* () {
        const error = yield* fails([{ send: `${unavailable}\r\n` }], { policy: "opportunistic" })
        expect(error.reason).toBe("ServiceUnavailable")
        expect(error.step).toBe("greeting")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("discover over implicit TLS: greeting and CAPABILITIES only", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds(
        [{ startTls: true }, { send: greeting }, { expect: "CAPABILITIES\r\n" }, { send: capabilities(tlsCaps) }],
        { implicit: true }
      )
      expect(result.encrypted).toBe(true)
      expect(result.capabilities).toEqual(tlsCaps)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(seen).toEqual(["CAPABILITIES\r\n"])
    }).pipe(Effect.scoped)
  )
})
