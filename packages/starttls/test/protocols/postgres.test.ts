import { expect, layer } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Duration, Effect, Result } from "effect"
import type { DialogueOptions } from "../../src/Protocol.ts"
import { postgres, sslRequest } from "../../src/protocols/postgres.ts"
import * as Session from "../../src/Session.ts"
import { type Delivery, deliveries, type Step, scriptedServer } from "../support/scripted.ts"

const SSL_REQUEST = Uint8Array.of(0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f)
/** A StartupMessage header (length 8, protocol 3.0), standing for what the caller sends next. */
const startup = Uint8Array.of(0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00)

interface RunOptions {
  readonly delivery?: Delivery
  readonly options?: Partial<DialogueOptions>
  readonly stepTimeout?: Duration.Input
}

const dialogue = (script: ReadonlyArray<Step>, run: RunOptions = {}) =>
  Effect.gen(function* () {
    const server = yield* scriptedServer(script, run.delivery ?? "as-written")
    const connection = yield* (yield* Transports).connect(server.url)
    const session = yield* Session.make(connection, {
      protocol: "postgres",
      stepTimeout: run.stepTimeout ?? "5 seconds"
    })
    const result = yield* postgres
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

const bytes = (data: string | Uint8Array) => (typeof data === "string" ? data : Array.from(data))

const failureOf = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}

const successOf = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected success, got ${String(result.failure)}`)
  return result.success
}

const answering = (answer: string | Uint8Array, after: ReadonlyArray<Step> = [{ sleep: 500 }]): ReadonlyArray<Step> => [
  { expectBytes: 8 },
  { send: answer },
  ...after
]

layer(Transports.layerNode, { excludeTestServices: true, timeout: Duration.minutes(2) })("postgres", (it) => {
  for (const delivery of deliveries) {
    it.effect(
      `replays the PG 15 dialogue (${delivery}): exact SSLRequest, 'S', handshake, StartupMessage over TLS`,
      () =>
        Effect.gen(function* () {
          const { result, server, session } = yield* dialogue(
            answering("S", [{ startTls: true }, { expectBytes: 8 }, { send: "R" }, { sleep: 300 }]),
            { delivery }
          )
          const ok = successOf(result)
          expect(ok.encrypted).toBe(true)
          expect(ok.tls?.authorized).toBe(true)
          expect(ok.capabilities).toEqual([])
          expect(ok.capabilitiesBeforeTls).toEqual(["ssl"])
          yield* session.write(startup, "startup")
          expect(new TextDecoder().decode(yield* session.readBytes(1, "auth"))).toBe("R")
          const seen = yield* server.done
          expect(seen.map(bytes)).toEqual([SSL_REQUEST, startup].map(bytes))
          expect(sslRequest).toEqual(SSL_REQUEST)
        })
    )
  }

  it.effect("'N': refused when required; opportunistic reports plaintext and leaves the stream usable", () =>
    Effect.gen(function* () {
      const error = failureOf((yield* dialogue(answering("N"))).result)
      expect(error.reason).toBe("Refused")
      const { result, session, server } = yield* dialogue(answering("N", [{ expectBytes: 8 }]), {
        options: { policy: "opportunistic" }
      })
      const plain = successOf(result)
      expect(plain.encrypted).toBe(false)
      expect(plain.tls).toBeUndefined()
      expect(plain.capabilitiesBeforeTls).toEqual([])
      yield* session.write(startup, "startup")
      expect((yield* server.done).map(bytes)).toEqual([SSL_REQUEST, startup].map(bytes))
    })
  )

  it.effect("bytes after 'N' are refused as injection, even when opportunistic", () =>
    Effect.gen(function* () {
      const error = failureOf(
        (yield* dialogue(answering("NR\u0000\u0000\u0000\u0008\u0000\u0000\u0000\u0000"), {
          options: { policy: "opportunistic" }
        })).result
      )
      expect(error.reason).toBe("Injection")
    })
  )

  it.effect("an ErrorResponse is refused without showing its text (CVE-2024-10977)", () =>
    Effect.gen(function* () {
      const text = "SFATAL\u0000C0A000\u0000MPlease visit http://evil.example/login to upgrade\u0000\u0000"
      const length = 4 + text.length
      const errorResponse = `E${String.fromCharCode(0, 0, length >> 8, length & 0xff)}${text}`
      for (const policy of ["required", "opportunistic"] as const) {
        const error = failureOf((yield* dialogue(answering(errorResponse), { options: { policy } })).result)
        expect(error.reason).toBe("UnexpectedReply")
        expect(error.message).toContain("ErrorResponse")
        expect(error.message).not.toContain("evil")
        expect(error.reply).toBeUndefined()
      }
    })
  )

  it.effect("any other byte is an unexpected reply", () =>
    Effect.gen(function* () {
      const error = failureOf((yield* dialogue(answering("H"))).result)
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.message).toContain("0x48")
    })
  )

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to 'S' are refused as injection, CVE-2021-23222 (${delivery})`, () =>
      Effect.gen(function* () {
        // a man in the middle's AuthenticationOk + ReadyForQuery, as if they had come over TLS
        const injected = Uint8Array.of(0x53, 0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49)
        const { result, session } = yield* dialogue(answering(injected, [{ sleep: 1000 }]), { delivery })
        const error = failureOf(result)
        expect(error.reason).toBe("Injection")
        expect(session.encrypted()).toBe(false)
      })
    )
  }

  it.effect("bytes after 'S' byte by byte: injection or a failed handshake, never success", () =>
    Effect.gen(function* () {
      const error = failureOf(
        (yield* dialogue(answering("SR\u0000\u0000", [{ sleep: 1000 }]), { delivery: "byte-by-byte" })).result
      )
      expect(["Injection", "TlsFailed", "Closed"]).toContain(error.reason)
    })
  )

  it.effect("silence after the SSLRequest times out; a close is Closed", () =>
    Effect.gen(function* () {
      const started = Date.now()
      const timedOut = failureOf(
        (yield* dialogue([{ expectBytes: 8 }, { sleep: 3000 }], { stepTimeout: "300 millis" })).result
      )
      expect(timedOut.reason).toBe("TimedOut")
      expect(Date.now() - started).toBeLessThan(2500)
      const closed = failureOf((yield* dialogue([{ expectBytes: 8 }, { close: true }])).result)
      expect(closed.reason).toBe("Closed")
    })
  )

  it.effect("a server that answers the ClientHello in plaintext: TlsFailed", () =>
    Effect.gen(function* () {
      const error = failureOf(
        (yield* dialogue(
          answering("S", [
            { expectBytes: 5 },
            { send: "EFATAL: unsupported frontend protocol\u0000\u0000" },
            { sleep: 2000 }
          ])
        )).result
      )
      expect(error.reason).toBe("TlsFailed")
      expect(error.step).toBe("handshake")
    })
  )

  it.effect("discover (direct TLS) reads nothing; ports", () =>
    Effect.gen(function* () {
      const server = yield* scriptedServer([{ startTls: true }, { sleep: 300 }])
      const connection = yield* (yield* Transports).connect(`tls://localhost:${server.port}`, {
        ca: server.pki.ca.certPem
      })
      const session = yield* Session.make(connection, { protocol: "postgres" })
      const ok = yield* postgres.discover(session, { policy: "required", tls: {}, clientName: "x", domain: "x" })
      expect(ok.encrypted).toBe(true)
      expect(ok.capabilities).toEqual([])
      expect([postgres.plainPort, postgres.implicitPort]).toEqual([5432, undefined])
    })
  )
})
