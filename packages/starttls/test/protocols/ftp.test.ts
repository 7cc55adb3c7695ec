import { describe, expect, layer, it as plain } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { ftp, isReplyEnd, offersAuthTls, parseFeatures, replyStart } from "../../src/protocols/ftp.ts"
import { closeAndSilenceAfter, harness } from "../support/dialogue.ts"
import { deliveries, type Step } from "../support/scripted.ts"

const protocol = ftp

const { succeeds, fails } = harness(protocol)

const greeting = "220 (vsFTPd 3.0.3)\r\n"
const features = [
  "AUTH SSL",
  "AUTH TLS",
  "EPRT",
  "EPSV",
  "MDTM",
  "PASV",
  "PBSZ",
  "PROT",
  "REST STREAM",
  "SIZE",
  "TVFS",
  "UTF8"
]
const feat = (lines: ReadonlyArray<string>) =>
  `211-Features:\r\n${lines.map((line) => ` ${line}\r\n`).join("")}211 End\r\n`

/** vsftpd 3.0.3 [V], byte for byte. */
const reference: ReadonlyArray<Step> = [
  { send: greeting },
  { expect: "FEAT\r\n" },
  { send: feat(features) },
  { expect: "AUTH TLS\r\n" },
  { send: "234 Proceed with negotiation.\r\n" },
  { startTls: true },
  { expect: "PBSZ 0\r\n" },
  { send: "200 PBSZ set to 0.\r\n" },
  { expect: "PROT P\r\n" },
  { send: "200 PROT now Private.\r\n" },
  { expect: "FEAT\r\n" },
  { send: feat(features) }
]

const upToAuth: ReadonlyArray<Step> = [
  { send: greeting },
  { expect: "FEAT\r\n" },
  { send: feat(features) },
  { expect: "AUTH TLS\r\n" }
]

describe("ftp parsers", () => {
  plain("reply starts and ends", () => {
    expect(replyStart("220 (vsFTPd 3.0.3)")).toEqual({ code: 220, multiline: false })
    expect(replyStart("211-Features:")).toEqual({ code: 211, multiline: true })
    expect(replyStart("234")).toEqual({ code: 234, multiline: false })
    expect(replyStart("2345 x")).toBeUndefined()
    expect(replyStart(" AUTH TLS")).toBeUndefined()
    expect(isReplyEnd("211 End", 211)).toBe(true)
    expect(isReplyEnd("211", 211)).toBe(true)
    expect(isReplyEnd("211-more", 211)).toBe(false)
    expect(isReplyEnd("212 End", 211)).toBe(false)
    expect(isReplyEnd(" 211 End", 211)).toBe(false)
  })
  plain("features are the inner lines that start with a space", () => {
    expect(
      parseFeatures({ code: 211, lines: ["211-Features:", " AUTH TLS", "not a feature", " PBSZ ", "211 End"] })
    ).toEqual(["AUTH TLS", "PBSZ"])
    expect(parseFeatures({ code: 211, lines: ["211 No features"] })).toEqual([])
  })
  plain("AUTH TLS among the AUTH mechanisms", () => {
    expect(offersAuthTls(["AUTH TLS"])).toBe(true)
    expect(offersAuthTls(["auth tls"])).toBe(true)
    expect(offersAuthTls(["AUTH TLS;TLS-C;SSL"])).toBe(true)
    expect(offersAuthTls(["AUTH SSL;TLS-C"])).toBe(false)
    expect(offersAuthTls(["AUTH SSL", "PROT"])).toBe(false)
    expect(offersAuthTls(["AUTHTLS"])).toBe(false)
    expect(offersAuthTls(["X-AUTH TLS"])).toBe(false)
  })
  plain("ports and name", () => {
    expect([ftp.name, ftp.plainPort, ftp.implicitPort]).toEqual(["ftp", 21, 990])
  })
})

layer(Transports.layerNode, { excludeTestServices: true })("ftp AUTH TLS", (it) => {
  for (const delivery of deliveries) {
    it.effect(`the vsftpd dialogue, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result, seen } = yield* succeeds(reference, { delivery })
        expect(result.protocol).toBe("ftp")
        expect(result.encrypted).toBe(true)
        expect(result.tls?.authorized).toBe(true)
        expect(result.capabilities).toEqual(features)
        expect(result.capabilitiesBeforeTls).toEqual(features)
        expect(seen).toEqual(["FEAT\r\n", "AUTH TLS\r\n", "PBSZ 0\r\n", "PROT P\r\n", "FEAT\r\n"])
      }).pipe(Effect.scoped)
    )

    it.effect(`multi-line greeting after a 120, inner lines that look like replies, ${delivery}`, () =>
      Effect.gen(function* () {
        const { result } = yield* succeeds(
          [
            { send: "120 Service ready in 1 minute.\r\n" },
            { send: "220-Welcome\r\n220-second line\r\n 220 still inside\r\n500 also inside\r\n220 ready\r\n" },
            { expect: "FEAT\r\n" },
            { send: "211-Extensions supported:\r\n AUTH TLS;TLS-C;SSL\r\n211-inner\r\n PBSZ\r\n211 END\r\n" },
            { expect: "AUTH TLS\r\n" },
            { send: "234-AUTH TLS OK.\r\n234 Go.\r\n" },
            { startTls: true },
            { expect: "PBSZ 0\r\n" },
            { send: "200 PBSZ=0\r\n" },
            { expect: "PROT P\r\n" },
            { send: "200 Protection set to Private\r\n" },
            { expect: "FEAT\r\n" },
            { send: "211-Features:\r\n MLST type*;size*;\r\n PBSZ\r\n PROT\r\n211\r\n" }
          ],
          { delivery }
        )
        expect(result.capabilitiesBeforeTls).toEqual(["AUTH TLS;TLS-C;SSL", "PBSZ"])
        expect(result.capabilities).toEqual(["MLST type*;size*;", "PBSZ", "PROT"])
      }).pipe(Effect.scoped)
    )
  }

  it.effect("features differ before and after TLS: only the post-TLS FEAT counts", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([
        { send: greeting },
        { expect: "FEAT\r\n" },
        { send: feat(["AUTH TLS", "PBSZ", "PROT", "X-PLAIN-LOGIN"]) },
        { expect: "AUTH TLS\r\n" },
        { send: "234 Proceed with negotiation.\r\n" },
        { startTls: true },
        { expect: "PBSZ 0\r\n" },
        { send: "200 PBSZ set to 0.\r\n" },
        { expect: "PROT P\r\n" },
        { send: "200 PROT now Private.\r\n" },
        { expect: "FEAT\r\n" },
        { send: feat(["PBSZ", "PROT", "UTF8"]) }
      ])
      expect(result.capabilities).toEqual(["PBSZ", "PROT", "UTF8"])
      expect(result.capabilitiesBeforeTls).toEqual(["AUTH TLS", "PBSZ", "PROT", "X-PLAIN-LOGIN"])
    }).pipe(Effect.scoped)
  )

  const noAuthTls: ReadonlyArray<Step> = [
    { send: greeting },
    { expect: "FEAT\r\n" },
    { send: feat(["AUTH SSL", "PASV"]) }
  ]

  it.effect("AUTH TLS not advertised (stripped): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails(noAuthTls)
      expect(error.reason).toBe("CapabilityMissing")
      expect(error.protocol).toBe("ftp")
    }).pipe(Effect.scoped)
  )

  it.effect("AUTH TLS not advertised: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds(noAuthTls, { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.tls).toBeUndefined()
      expect(result.capabilities).toEqual(["AUTH SSL", "PASV"])
    }).pipe(Effect.scoped)
  )

  it.effect("no FEAT at all (502): CapabilityMissing when required", () =>
    Effect.gen(function* () {
      const error = yield* fails([
        { send: greeting },
        { expect: "FEAT\r\n" },
        { send: "502 Command not implemented.\r\n" }
      ])
      expect(error.reason).toBe("CapabilityMissing")
    }).pipe(Effect.scoped)
  )

  for (const refusal of [
    "500 Unknown command.",
    "502 Command not implemented.",
    "504 Unknown AUTH type.",
    "534 Request denied for policy reasons.",
    "431 Need some unavailable resource."
  ]) {
    it.effect(`refused (${refusal.slice(0, 3)}): Refused when required`, () =>
      Effect.gen(function* () {
        const error = yield* fails([...upToAuth, { send: `${refusal}\r\n` }])
        expect(error.reason).toBe("Refused")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toBe(refusal)
      }).pipe(Effect.scoped)
    )
  }

  it.effect("refused: plaintext result when opportunistic", () =>
    Effect.gen(function* () {
      const { result } = yield* succeeds([...upToAuth, { send: "534 no\r\n" }], { policy: "opportunistic" })
      expect(result.encrypted).toBe(false)
      expect(result.capabilities).toEqual(features)
    }).pipe(Effect.scoped)
  )

  for (const reply of ["334 ADAT=abc", "2345 Proceed", "200 OK", "Proceed"]) {
    it.effect(`wrong success reply (${reply}): UnexpectedReply, even when opportunistic`, () =>
      Effect.gen(function* () {
        const error = yield* fails([...upToAuth, { send: `${reply}\r\n` }], { policy: "opportunistic" })
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.step).toBe("upgrade")
      }).pipe(Effect.scoped)
    )
  }

  for (const [step, script] of [
    ["pbsz", [{ expect: "PBSZ 0\r\n" }, { send: "503 PBSZ not allowed\r\n" }]],
    [
      "prot",
      [
        { expect: "PBSZ 0\r\n" },
        { send: "200 ok\r\n" },
        { expect: "PROT P\r\n" },
        { send: "536 level not supported\r\n" }
      ]
    ]
  ] as const) {
    it.effect(`${step.toUpperCase()} not answered 200 after TLS: UnexpectedReply, even when opportunistic`, () =>
      Effect.gen(function* () {
        const error = yield* fails(
          [...upToAuth, { send: "234 Proceed with negotiation.\r\n" }, { startTls: true }, ...script],
          { policy: "opportunistic" }
        )
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.step).toBe(step)
      }).pipe(Effect.scoped)
    )
  }

  closeAndSilenceAfter(it, "AUTH TLS", fails, upToAuth)

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to the 234 (response injection): Injection, ${delivery}`, () =>
      Effect.gen(function* () {
        const error = yield* fails(
          [...upToAuth, { send: "234 Proceed with negotiation.\r\n200 PBSZ set to 0.\r\n200 PROT now Private.\r\n" }],
          { delivery }
        )
        expect(error.reason).toBe("Injection")
        expect(error.step).toBe("upgrade")
        expect(error.reply).toContain("200 PBSZ")
      }).pipe(Effect.scoped)
    )
  }

  for (const unavailable of ["421 Too many connections", "530 Not allowed"]) {
    it.effect(`greeting ${unavailable.slice(0, 3)}: ServiceUnavailable`, () =>
      Effect.gen(function* () {
        const error = yield* fails([{ send: `${unavailable}\r\n` }], { policy: "opportunistic" })
        expect(error.reason).toBe("ServiceUnavailable")
        expect(error.step).toBe("greeting")
      }).pipe(Effect.scoped)
    )
  }

  it.effect("a greeting without a reply code: UnexpectedReply", () =>
    Effect.gen(function* () {
      const error = yield* fails([{ send: "SSH-2.0-OpenSSH_9.2\r\n" }])
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.step).toBe("greeting")
    }).pipe(Effect.scoped)
  )

  it.effect("discover over implicit TLS: greeting and FEAT only", () =>
    Effect.gen(function* () {
      const { result, seen } = yield* succeeds(
        [{ startTls: true }, { send: greeting }, { expect: "FEAT\r\n" }, { send: feat(features) }],
        {
          implicit: true
        }
      )
      expect(result.encrypted).toBe(true)
      expect(result.capabilities).toEqual(features)
      expect(result.capabilitiesBeforeTls).toEqual([])
      expect(seen).toEqual(["FEAT\r\n"])
    }).pipe(Effect.scoped)
  )
})
