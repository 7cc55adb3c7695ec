import { describe, expect, layer, it as plain } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { pop3, status } from "../../src/protocols/pop3.ts"
import { closeAndSilenceAfter, harness } from "../support/dialogue.ts"
import { deliveries, type Step } from "../support/scripted.ts"

const protocol = pop3

const { succeeds, fails } = harness(protocol)

const greeting = "+OK Dovecot (Debian) ready.\r\n"
const plainCaps = ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "USER", "SASL PLAIN"]
const tlsCaps = ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN"]
const capa = (lines: ReadonlyArray<string>) => `+OK\r\n${lines.map((line) => `${line}\r\n`).join("")}.\r\n`

/** Dovecot 2.3.19 [V], byte for byte. */
const reference: ReadonlyArray<Step> = [
  { send: greeting },
  { expect: "CAPA\r\n" },
  { send: capa(plainCaps) },
  { expect: "STLS\r\n" },
  { send: "+OK Begin TLS negotiation now.\r\n" },
  { startTls: true },
  { expect: "CAPA\r\n" },
  { send: capa(tlsCaps) }
]

const upToStls: ReadonlyArray<Step> = [
  { send: greeting },
  { expect: "CAPA\r\n" },
  { send: capa(plainCaps) },
  { expect: "STLS\r\n" }
]

describe("pop3 parsers", () => {
  plain("status indicators are whole words", () => {
    expect(status("+OK")).toBe("+OK")
    expect(status("+OK Begin TLS negotiation now.")).toBe("+OK")
    expect(status("-ERR not now")).toBe("-ERR")
    expect(status("+OKAY")).toBeUndefined()
    expect(status("-ERRORS")).toBeUndefined()
    expect(status("OK")).toBeUndefined()
    expect(status(" +OK")).toBeUndefined()
  })
  plain("ports and name", () => {
    expect([pop3.name, pop3.plainPort, pop3.implicitPort]).toEqual(["pop3", 110, 995])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("pop3 STLS", (it) => {
  for (const delivery of deliveries) {
    it.effect(`the Dovecot dialogue, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result, seen } = yield* succeeds(reference, { delivery })
        expect(result.protocol).toBe("pop3")
        expect(result.encrypted).toBe(true)
        expect(result.tls?.authorized).toBe(true)
        expect(result.capabilities).toEqual(tlsCaps)
        expect(result.capabilitiesBeforeTls).toEqual(plainCaps)
        expect(seen).toEqual(["CAPA\r\n", "STLS\r\n", "CAPA\r\n"])
      }).pipe(Effect.scoped)
    )

    it.effect(`dot-stuffed CAPA lines and an APOP greeting, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result } = yield* succeeds(
          [
            { send: "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n" },
            { expect: "CAPA\r\n" },
            { send: "+OK Capability list follows\r\n..\r\n...X-DOTS\r\nSTLS\r\nUSER\r\n.\r\n" },
            { expect: "STLS\r\n" },
            { send: "+OK\r\n" },
            { startTls: true },
            { expect: "CAPA\r\n" },
            { send: "+OK\r\n..STLS\r\nSASL SCRAM-SHA-256\r\n.\r\n" }
          ],
          { delivery }
        )
        expect(result.capabilitiesBeforeTls).toEqual([".", "..X-DOTS", "STLS", "USER"])
        // ".STLS" after unstuffing is not STLS; USER (plaintext passwords) is gone after TLS
        expect(result.capabilities).toEqual([".STLS", "SASL SCRAM-SHA-256"])
      }).pipe(Effect.scoped)
    )
  }

  it.effect("capabilities differ before and after TLS: only the post-TLS CAPA counts", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([
        { send: greeting },
        { expect: "CAPA\r\n" },
        { send: capa(["STLS", "USER", "SASL PLAIN LOGIN"]) },
        { expect: "STLS\r\n" },
        { send: "+OK Begin TLS negotiation now.\r\n" },
        { startTls: true },
        { expect: "CAPA\r\n" },
        { send: capa(["SASL SCRAM-SHA-256", "IMPLEMENTATION test"]) }
      ])
      expect(result.capabilities).toEqual(["SASL SCRAM-SHA-256", "IMPLEMENTATION test"])
      expect(result.capabilitiesBeforeTls).toEqual(["STLS", "USER", "SASL PLAIN LOGIN"])
    }).pipe(Effect.scoped)
  )

  const noStls: ReadonlyArray<Step> = [
    { send: greeting },
    { expect: "CAPA\r\n" },
    { send: capa(["TOP", "USER", "SASL PLAIN"]) }
  ]

  it.effect("STLS not advertised (stripped): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails(noStls)
      expect(error.reason).toBe("CapabilityMissing")
      expect(error.protocol).toBe("pop3")
    }).pipe(Effect.scoped)
  )

  it.effect("STLS not advertised: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds(noStls, { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.tls).toBeUndefined()
      expect(result.capabilities).toEqual(["TOP", "USER", "SASL PLAIN"])
    }).pipe(Effect.scoped)
  )

  it.effect("no CAPA at all (-ERR): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: greeting }, { expect: "CAPA\r\n" }, { send: "-ERR unknown command\r\n" }])
      expect(error.reason).toBe("CapabilityMissing")
    }).pipe(Effect.scoped)
  )

  it.effect("refused (-ERR): Refused when required", () =>
    Effect.gen(function* () {
      const error = yield* fails([...upToStls, { send: "-ERR TLS not available\r\n" }])
      expect(error.reason).toBe("Refused")
      expect(error.step).toBe("upgrade")
      expect(error.reply).toBe("-ERR TLS not available")
    }).pipe(Effect.scoped)
  )

  it.effect("refused: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([...upToStls, { send: "-ERR not now\r\n" }], { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(plainCaps)
    }).pipe(Effect.scoped)
  )

  for (const reply of ["+OKAY", "OK Begin TLS", "+ go", "220 ready"]) {
    it.effect(`wrong success reply (${reply}): UnexpectedReply, even when opportunistic`, () =>
      Effect.gen(function* () {
        const error = yield* fails([...upToStls, { send: `${reply}\r\n` }], { policy: "opportunistic" })
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.step).toBe("upgrade")
      }).pipe(Effect.scoped)
    )
  }

  closeAndSilenceAfter(it, "STLS", fails, upToStls)

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to the STLS +OK (response injection): Injection, ${delivery}`, () =>
      Effect.gen(function* () {
        const injected = `+OK Begin TLS negotiation now.\r\n${capa(["USER", "SASL PLAIN"])}`
        const error = yield* fails([...upToStls, { send: injected }], { delivery })
        expect(error.reason).toBe("Injection")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toContain("SASL PLAIN")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("greeting -ERR: ServiceUnavailable", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: "-ERR too busy\r\n" }], { policy: "opportunistic" })
      expect(error.reason).toBe("ServiceUnavailable")
      expect(error.step).toBe("greeting")
    }).pipe(Effect.scoped)
  )

  it.effect("greeting that is not POP3: UnexpectedReply", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: "220 smtp.example ESMTP\r\n" }])
      expect(error.reason).toBe("UnexpectedReply")
    }).pipe(Effect.scoped)
  )

  it.effect("discover over implicit TLS: greeting and CAPA only", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds(
        [{ startTls: true }, { send: greeting }, { expect: "CAPA\r\n" }, { send: capa(tlsCaps) }],
        { implicit: true }
      )
      expect(result.encrypted).toBe(true)
      expect(result.tls?.authorized).toBe(true)
      expect(result.capabilities).toEqual(tlsCaps)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(seen).toEqual(["CAPA\r\n"])
    }).pipe(Effect.scoped)
  )
})
