import { expect, layer } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Duration, Effect, Result } from "effect"
import type { DialogueOptions } from "../../src/Protocol.ts"
import { decodeHeader, decodeInteger, decodeTlv, encodeInteger, encodeTlv } from "../../src/protocols/internal/ber.ts"
import { ldap, parseExtendedResponse, resultCodeName, startTlsRequest } from "../../src/protocols/ldap.ts"
import * as Session from "../../src/Session.ts"
import { type Delivery, deliveries, type Step, scriptedServer } from "../support/scripted.ts"

const encoder = new TextEncoder()
const OID = "1.3.6.1.4.1.1466.20037"

/** The request slapd and openssl agree on (reference §1 LDAP): 31 bytes. */
const REQUEST = Uint8Array.from([0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16, ...encoder.encode(OID)])
/** slapd 2.5.13's answer: success, no responseName. */
const SLAPD_OK = Uint8Array.of(0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00)

const octets = (text: string) => encodeTlv(0x04, encoder.encode(text))

/** An ExtendedResponse in message `id`, with optional trailing fields (responseName…). */
const response = (id: number, code: number, diagnostic = "", extra: ReadonlyArray<Uint8Array> = []) =>
  encodeTlv(0x30, [
    encodeInteger(id),
    encodeTlv(0x78, [encodeInteger(code, 0x0a), octets(""), octets(diagnostic), ...extra])
  ])

const concat = (...parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const bytes = (data: string | Uint8Array) => (typeof data === "string" ? data : Array.from(data))

interface RunOptions {
  readonly delivery?: Delivery
  readonly options?: Partial<DialogueOptions>
  readonly stepTimeout?: Duration.Input
}

const dialogue = (script: ReadonlyArray<Step>, run: RunOptions = {}) =>
  Effect.gen(function* () {
    const server = yield* scriptedServer(script, run.delivery ?? "as-written")
    const connection = yield* (yield* Transports).connect(server.url)
    const session = yield* Session.make(connection, { protocol: "ldap", stepTimeout: run.stepTimeout ?? "5 seconds" })
    const result = yield* ldap
      .startTls(session, {
        policy: "required",
        tls: { ca: server.pki.ca.certPem, peerName: "localhost" },
        clientName: "localhost",
        domain: "localhost",
        ...run.options
      })
      .pipe(Effect.result)
    return { result, server, session }
  })

const failureOf = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}

const successOf = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected success, got ${String(result.failure)}`)
  return result.success
}

const answering = (answer: Uint8Array, after: ReadonlyArray<Step> = [{ sleep: 500 }]): ReadonlyArray<Step> => [
  { expectBytes: 31 },
  { send: answer },
  ...after
]

layer(Transports.layerNode, { excludeTestServices: true, timeout: Duration.minutes(2) })("ldap", (it) => {
  for (const delivery of deliveries) {
    it.effect(`replays the slapd dialogue (${delivery}): exact request, resultCode 0, handshake`, () =>
      Effect.gen(function* () {
        const { result, server, session } = yield* dialogue(
          answering(SLAPD_OK, [{ startTls: true }, { expectBytes: 3 }, { sleep: 300 }]),
          { delivery }
        )
        const ok = successOf(result)
        expect(ok.encrypted).toBe(true)
        expect(ok.tls?.authorized).toBe(true)
        expect(ok.capabilities).toEqual([])
        // the caller goes on over TLS (message 2)
        yield* session.write(Uint8Array.of(0x30, 0x0c, 0x02), "bind")
        const seen = yield* server.done
        expect(bytes(seen[0])).toEqual(bytes(REQUEST))
        expect(bytes(startTlsRequest)).toEqual(bytes(REQUEST))
      })
    )
  }

  it.effect("a general BER response: long-form lengths, a responseName, a control", () =>
    Effect.gen(function* () {
      const name = encodeTlv(0x8a, encoder.encode(OID))
      // the same content with redundant long-form lengths (81 xx, 82 00 xx) and a leading-zero messageID
      const op = encodeTlv(0x78, [encodeInteger(0, 0x0a), octets(""), octets(""), name])
      const opLong = concat(Uint8Array.of(0x78, 0x82, 0x00, op.length - 2), op.subarray(2))
      const control = encodeTlv(0xa0, encodeTlv(0x30, octets("1.2.3")))
      const inner = concat(Uint8Array.of(0x02, 0x02, 0x00, 0x01), opLong, control)
      const message = concat(Uint8Array.of(0x30, 0x81, inner.length), inner)
      const ok = successOf((yield* dialogue(answering(message, [{ startTls: true }, { sleep: 300 }]))).result)
      expect(ok.encrypted).toBe(true)
    })
  )

  it.effect("refusals name the result code (1 operationsError, 2 protocolError, 52 unavailable); opportunistic", () =>
    Effect.gen(function* () {
      for (const [code, name] of [
        [1, "operationsError (1)"],
        [2, "protocolError (2)"],
        [52, "unavailable (52)"]
      ] as const) {
        const refusal = response(1, code, "cannot start TLS when operations are outstanding")
        const error = failureOf((yield* dialogue(answering(refusal))).result)
        expect(error.reason).toBe("Refused")
        expect(error.message).toContain(name)
        expect(error.reply).toContain("operations are outstanding")
        const plain = successOf((yield* dialogue(answering(refusal), { options: { policy: "opportunistic" } })).result)
        expect(plain.encrypted).toBe(false)
        expect(plain.tls).toBeUndefined()
      }
      expect(resultCodeName(999)).toBe("unknown (999)")
    })
  )

  it.effect("wrong replies: another messageID, another operation, a foreign responseName, malformed BER", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [Uint8Array, string, string]> = [
        [response(2, 0), "UnexpectedReply", "message 2"],
        [
          encodeTlv(0x30, [encodeInteger(1), encodeTlv(0x61, [encodeInteger(0, 0x0a), octets(""), octets("")])]),
          "UnexpectedReply",
          "[APPLICATION 1]"
        ],
        [response(1, 0, "", [encodeTlv(0x8a, encoder.encode("1.2.3.4"))]), "UnexpectedReply", "1.2.3.4"],
        [
          response(1, 0, "", [encodeTlv(0x8b, octets("x")), encodeTlv(0x8a, encoder.encode(OID))]),
          "UnexpectedReply",
          "unexpected element"
        ],
        [Uint8Array.of(0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00), "UnexpectedReply", "indefinite"],
        [Uint8Array.of(0x30, 0x05, 0x02, 0x09, 0x01, 0x01, 0x01), "UnexpectedReply", "longer than"],
        [Uint8Array.of(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff), "ReplyTooLong", "announced"],
        [encoder.encode("HTTP/1.1 400 Bad Request\r\n"), "UnexpectedReply", "not an LDAPMessage"],
        [
          encodeTlv(0x30, [
            encodeInteger(0),
            encodeTlv(0x78, [
              encodeInteger(52, 0x0a),
              octets(""),
              octets("bye"),
              encodeTlv(0x8a, encoder.encode("1.3.6.1.4.1.1466.20036"))
            ])
          ]),
          "ServiceUnavailable",
          "Notice of Disconnection"
        ]
      ]
      for (const [answer, reason, text] of cases) {
        const error = failureOf((yield* dialogue(answering(answer))).result)
        expect(error.reason, text).toBe(reason)
        expect(error.message).toContain(text)
      }
    })
  )

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to the response are refused as injection (${delivery})`, () =>
      Effect.gen(function* () {
        // a fake BindResponse success for message 2, as if it had come over TLS
        const fakeBind = encodeTlv(0x30, [
          encodeInteger(2),
          encodeTlv(0x61, [encodeInteger(0, 0x0a), octets(""), octets("")])
        ])
        const { result, session } = yield* dialogue(answering(concat(SLAPD_OK, fakeBind), [{ sleep: 1000 }]), {
          delivery
        })
        const error = failureOf(result)
        expect(error.reason).toBe("Injection")
        expect(session.encrypted()).toBe(false)
      })
    )
  }

  it.effect("silence after the request times out; a close is Closed", () =>
    Effect.gen(function* () {
      const started = Date.now()
      const timedOut = failureOf(
        (yield* dialogue([{ expectBytes: 31 }, { sleep: 3000 }], { stepTimeout: "300 millis" })).result
      )
      expect(timedOut.reason).toBe("TimedOut")
      expect(timedOut.step).toBe("upgrade")
      expect(Date.now() - started).toBeLessThan(2500)
      // half a response, then the close
      const closed = failureOf(
        (yield* dialogue([{ expectBytes: 31 }, { send: SLAPD_OK.subarray(0, 6) }, { close: true }])).result
      )
      expect(closed.reason).toBe("Closed")
    })
  )

  it.effect("a server that answers the ClientHello in plaintext: TlsFailed", () =>
    Effect.gen(function* () {
      const error = failureOf(
        (yield* dialogue(
          answering(SLAPD_OK, [{ expectBytes: 5 }, { send: response(0, 2, "protocol error") }, { sleep: 2000 }])
        )).result
      )
      expect(error.reason).toBe("TlsFailed")
      expect(error.step).toBe("handshake")
    })
  )

  it.effect("discover after ldaps (636)", () =>
    Effect.gen(function* () {
      const server = yield* scriptedServer([{ startTls: true }, { sleep: 300 }])
      const connection = yield* (yield* Transports).connect(`tls://localhost:${server.port}`, {
        ca: server.pki.ca.certPem
      })
      const session = yield* Session.make(connection, { protocol: "ldap" })
      const ok = yield* ldap.discover(session, { policy: "required", tls: {}, clientName: "x", domain: "x" })
      expect(ok.encrypted).toBe(true)
      expect([ldap.plainPort, ldap.implicitPort]).toEqual([389, 636])
    })
  )

  it("BER: headers, integers, the parser on slapd's bytes", () => {
    expect(decodeHeader(Uint8Array.of(0x30))).toBe("incomplete")
    expect(decodeHeader(Uint8Array.of(0x30, 0x82, 0x01))).toBe("incomplete")
    expect(decodeHeader(Uint8Array.of(0x30, 0x82, 0x01, 0x00))).toEqual({ headerLength: 4, contentLength: 256 })
    // high tag number form: 0x7f then 0x81 0x01 = tag 129
    expect(decodeHeader(Uint8Array.of(0x7f, 0x81, 0x01, 0x03))).toEqual({ headerLength: 4, contentLength: 3 })
    const high = decodeTlv(Uint8Array.of(0x7f, 0x81, 0x01, 0x01, 0xaa))
    expect(
      typeof high === "object" && "tagNumber" in high ? [high.tagClass, high.constructed, high.tagNumber] : high
    ).toEqual(["application", true, 129])
    expect(decodeInteger(Uint8Array.of(0x00, 0x01))).toBe(1)
    expect(decodeInteger(Uint8Array.of(0xff))).toBe(-1)
    expect(decodeInteger(Uint8Array.of(0x01, 0x00))).toBe(256)
    expect(decodeInteger(Uint8Array.of())).toBeUndefined()
    expect(bytes(encodeInteger(128))).toEqual([0x02, 0x02, 0x00, 0x80])
    expect(parseExtendedResponse(SLAPD_OK)).toEqual({
      messageId: 1,
      resultCode: 0,
      diagnosticMessage: "",
      responseName: undefined
    })
  })
})
