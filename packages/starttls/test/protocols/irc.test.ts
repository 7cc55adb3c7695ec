import { expect, layer } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Duration, Effect, Result } from "effect"
import type { DialogueOptions } from "../../src/Protocol.ts"
import { irc, parseLine } from "../../src/protocols/irc.ts"
import * as Session from "../../src/Session.ts"
import { type Delivery, deliveries, type Step, scriptedServer } from "../support/scripted.ts"

/** InspIRCd 3.15 (reference §1 IRC). */
const lookingUp = ":irc.test.local NOTICE * :*** Looking up your hostname...\r\n"
const capsPlain = ":irc.test.local CAP * LS :account-notify away-notify cap-notify sasl=PLAIN tls \r\n"
const ok670 = ":irc.test.local 670 * :STARTTLS successful, go ahead with TLS handshake\r\n"
const capsSecure = [
  ":irc.test.local CAP * LS * :account-notify away-notify cap-notify\r\n",
  ":irc.test.local CAP * LS :sasl=PLAIN,EXTERNAL server-time\r\n"
]

const inspircd = (): ReadonlyArray<Step> => [
  { send: lookingUp },
  { expect: "CAP LS 302\r\n" },
  { send: ":irc.test.local NOTICE * :*** Found your hostname (localhost)\r\n" },
  { send: capsPlain },
  { expect: "STARTTLS\r\n" },
  { send: ok670 },
  { startTls: true },
  { expect: "CAP LS 302\r\n" },
  { send: capsSecure[0] },
  { send: capsSecure[1] },
  { sleep: 300 }
]

interface RunOptions {
  readonly delivery?: Delivery
  readonly options?: Partial<DialogueOptions>
  readonly stepTimeout?: Duration.Input
}

const dialogue = (script: ReadonlyArray<Step>, run: RunOptions = {}) =>
  Effect.gen(function* () {
    const server = yield* scriptedServer(script, run.delivery ?? "as-written")
    const connection = yield* (yield* Transports).connect(server.url)
    const session = yield* Session.make(connection, { protocol: "irc", stepTimeout: run.stepTimeout ?? "5 seconds" })
    const result = yield* irc
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

/** The plaintext part up to our STARTTLS, then `answer`. */
const answering = (answer: string, after: ReadonlyArray<Step> = [{ sleep: 500 }]): ReadonlyArray<Step> => [
  { send: lookingUp },
  { expect: "CAP LS 302\r\n" },
  { send: capsPlain },
  { expect: "STARTTLS\r\n" },
  { send: answer },
  ...after
]

layer(Transports.layerNode, { excludeTestServices: true, timeout: Duration.minutes(2) })("irc", (it) => {
  for (const delivery of deliveries) {
    it.effect(`replays the InspIRCd dialogue (${delivery}): CAP LS 302, STARTTLS, 670, CAP LS 302 over TLS`, () =>
      Effect.gen(function* () {
        const { result, server, session } = yield* dialogue(inspircd(), { delivery })
        const ok = successOf(result)
        expect(ok.encrypted).toBe(true)
        expect(ok.tls?.authorized).toBe(true)
        expect(ok.capabilitiesBeforeTls).toEqual(["account-notify", "away-notify", "cap-notify", "sasl=PLAIN", "tls"])
        // the lists differ: what was learned in plaintext is replaced
        expect(ok.capabilities).toEqual([
          "account-notify",
          "away-notify",
          "cap-notify",
          "sasl=PLAIN,EXTERNAL",
          "server-time"
        ])
        expect(session.encrypted()).toBe(true)
        expect(yield* server.done).toEqual(["CAP LS 302\r\n", "STARTTLS\r\n", "CAP LS 302\r\n"])
      })
    )
  }

  it.effect("skips notices, PINGs, 020 and message tags; reads * continuations", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { send: "NOTICE AUTH :*** Processing connection\r\n" },
        { send: ":irc.example 020 * :Please wait while we process your connection.\r\n" },
        { expect: "CAP LS 302\r\n" },
        { send: "@time=2024-01-01T00:00:00.000Z :irc.example CAP * LS * :multi-prefix sasl\r\n" },
        { send: "PING :12345\r\n" },
        { send: ":irc.example CAP * LS :tls\r\n" },
        { expect: "STARTTLS\r\n" },
        { send: ":irc.example NOTICE * :*** Starting TLS\r\n" },
        { send: ":irc.example 020 * :Please wait\r\n" },
        { send: ok670 },
        { startTls: true },
        { expect: "CAP LS 302\r\n" },
        { send: ":irc.example CAP * LS :multi-prefix sasl\r\n" },
        { sleep: 300 }
      ]
      const ok = successOf((yield* dialogue(script)).result)
      expect(ok.capabilitiesBeforeTls).toEqual(["multi-prefix", "sasl", "tls"])
      expect(ok.capabilities).toEqual(["multi-prefix", "sasl"])
    })
  )

  it.effect("a server without CAP is tried with STARTTLS anyway", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { expect: "CAP LS 302\r\n" },
        { send: ":old.example 421 * CAP :Unknown command\r\n" },
        { expect: "STARTTLS\r\n" },
        { send: ":old.example 670 * :STARTTLS successful\r\n" },
        { startTls: true },
        { expect: "CAP LS 302\r\n" },
        { send: ":old.example 451 * CAP :You have not registered\r\n" },
        { sleep: 300 }
      ]
      const ok = successOf((yield* dialogue(script)).result)
      expect(ok.encrypted).toBe(true)
      expect(ok.capabilitiesBeforeTls).toEqual([])
      expect(ok.capabilities).toEqual([])
    })
  )

  it.effect("tls missing from CAP LS: required fails, opportunistic reports plaintext without sending STARTTLS", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { expect: "CAP LS 302\r\n" },
        { send: ":irc.test.local CAP * LS :sasl=PLAIN\r\n" },
        { sleep: 500 }
      ]
      const error = failureOf((yield* dialogue(script)).result)
      expect(error.reason).toBe("CapabilityMissing")
      const { result, server } = yield* dialogue(script, { options: { policy: "opportunistic" } })
      const plain = successOf(result)
      expect(plain.encrypted).toBe(false)
      expect(plain.capabilities).toEqual(["sasl=PLAIN"])
      expect(yield* server.done).toEqual(["CAP LS 302\r\n"])
    })
  )

  it.effect("refusals: 691, 421, 451 (opportunistic: plaintext); other numerics and ERROR", () =>
    Effect.gen(function* () {
      for (const code of ["691", "421", "451"]) {
        const line = `:irc.test.local ${code} * ${code === "421" ? "STARTTLS " : ""}:no\r\n`
        const error = failureOf((yield* dialogue(answering(line))).result)
        expect(error.reason, code).toBe("Refused")
        expect(error.reply).toContain(code)
        const plain = successOf((yield* dialogue(answering(line), { options: { policy: "opportunistic" } })).result)
        expect(plain.encrypted).toBe(false)
        expect(plain.capabilities).toContain("tls")
      }
      const other = failureOf((yield* dialogue(answering(":irc.test.local 001 me :Welcome\r\n"))).result)
      expect(other.reason).toBe("UnexpectedReply")
      const bye = failureOf((yield* dialogue(answering("ERROR :Closing link: (unknown@127.0.0.1)\r\n"))).result)
      expect(bye.reason).toBe("ServiceUnavailable")
    })
  )

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`a line glued to 670 is refused as injection (${delivery})`, () =>
      Effect.gen(function* () {
        const { result, session } = yield* dialogue(
          answering(`${ok670}:irc.test.local CAP * LS :sasl=PLAIN\r\n`, [{ sleep: 1000 }]),
          { delivery }
        )
        const error = failureOf(result)
        expect(error.reason).toBe("Injection")
        expect(session.encrypted()).toBe(false)
      })
    )
  }

  it.effect("a 670 that arrives before STARTTLS was sent is not taken as the answer", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [{ expect: "CAP LS 302\r\n" }, { send: capsPlain + ok670 }, { sleep: 1000 }]
      const error = failureOf((yield* dialogue(script)).result)
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.message).toContain("before STARTTLS was sent")
    })
  )

  it.effect("silence after STARTTLS times out; a close is Closed", () =>
    Effect.gen(function* () {
      const started = Date.now()
      const timedOut = failureOf(
        (yield* dialogue(answering(lookingUp, [{ sleep: 3000 }]), { stepTimeout: "300 millis" })).result
      )
      expect(timedOut.reason).toBe("TimedOut")
      expect(timedOut.step).toBe("upgrade")
      expect(Date.now() - started).toBeLessThan(2500)
      const closed = failureOf((yield* dialogue(answering("", [{ close: true }]))).result)
      expect(closed.reason).toBe("Closed")
    })
  )

  it.effect("a server that answers the ClientHello in plaintext: TlsFailed", () =>
    Effect.gen(function* () {
      const error = failureOf(
        (yield* dialogue(
          answering(ok670, [{ expectBytes: 5 }, { send: ":irc.test.local NOTICE * :hello\r\n" }, { sleep: 2000 }])
        )).result
      )
      expect(error.reason).toBe("TlsFailed")
      expect(error.step).toBe("handshake")
    })
  )

  it.effect("discover after implicit TLS (6697)", () =>
    Effect.gen(function* () {
      const server = yield* scriptedServer([
        { startTls: true },
        { expect: "CAP LS 302\r\n" },
        { send: capsSecure[0] + capsSecure[1] },
        { sleep: 300 }
      ])
      const connection = yield* (yield* Transports).connect(`tls://localhost:${server.port}`, {
        ca: server.pki.ca.certPem
      })
      const session = yield* Session.make(connection, { protocol: "irc", stepTimeout: "5 seconds" })
      const ok = yield* irc.discover(session, { policy: "required", tls: {}, clientName: "x", domain: "localhost" })
      expect(ok.encrypted).toBe(true)
      expect(ok.capabilities).toContain("server-time")
      expect([irc.plainPort, irc.implicitPort]).toEqual([6667, 6697])
    })
  )

  it("parses lines with tags, prefixes and trailing parameters", () => {
    expect(parseLine("@a=b;c :srv CAP * LS * :x y")).toEqual({
      prefix: "srv",
      command: "CAP",
      params: ["*", "LS", "*", "x y"]
    })
    expect(parseLine("PING :123")).toEqual({ prefix: undefined, command: "PING", params: ["123"] })
    expect(parseLine(":srv 670 * :go ahead")?.command).toBe("670")
    expect(parseLine("")).toBeUndefined()
    expect(parseLine("@tags-only")).toBeUndefined()
  })
})
