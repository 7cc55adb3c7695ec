import { expect, layer } from "@effect/vitest"
import { Transports } from "@netdial/transport"
import { Duration, Effect, Result } from "effect"
import type { DialogueOptions, Protocol } from "../../src/Protocol.ts"
import { XmppStreamReader } from "../../src/protocols/internal/xml.ts"
import { starttlsCommand, streamHeader, xmpp, xmppServer } from "../../src/protocols/xmpp.ts"
import * as Session from "../../src/Session.ts"
import { type Delivery, deliveries, type Step, scriptedServer } from "../support/scripted.ts"

const STREAMS = "http://etherx.jabber.org/streams"
const TLS = "urn:ietf:params:xml:ns:xmpp-tls"
const SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

/** What Prosody 0.12.3 sends (reference §1 XMPP), with a fixed id. */
const serverHeader = `<?xml version='1.0'?><stream:stream xmlns:stream='${STREAMS}' xml:lang='en' version='1.0' id='2c4e9b1f-5d43-4a59-9a1a-b4e3e1e8a7c1' from='localhost' xmlns='jabber:client'>`
const plainFeatures = `<stream:features><starttls xmlns='${TLS}'><required/></starttls></stream:features>`
const proceed = `<proceed xmlns='${TLS}'/>`
const secureFeatures = `<stream:features><mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`

const clientHeader = `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='${STREAMS}'>`

/** The full Prosody dialogue, server side. */
const prosody = (features = plainFeatures, afterTls = secureFeatures, header = serverHeader): ReadonlyArray<Step> => [
  { expect: clientHeader },
  { send: header },
  { send: features },
  { expect: starttlsCommand },
  { send: proceed },
  { startTls: true },
  { expect: clientHeader },
  { send: header },
  { send: afterTls },
  // a TLS close right after a write can lose the write's tail (close destroys the socket): stay a moment
  { sleep: 300 }
]

interface RunOptions {
  readonly delivery?: Delivery
  readonly options?: Partial<DialogueOptions>
  readonly stepTimeout?: Duration.Input
  readonly maxReply?: number
  readonly protocol?: Protocol
}

const dialogue = (script: ReadonlyArray<Step>, run: RunOptions = {}) =>
  Effect.gen(function* () {
    const protocol = run.protocol ?? xmpp
    const server = yield* scriptedServer(script, run.delivery ?? "as-written")
    const connection = yield* (yield* Transports).connect(server.url)
    const session = yield* Session.make(connection, {
      protocol: protocol.name,
      stepTimeout: run.stepTimeout ?? "5 seconds",
      ...(run.maxReply !== undefined ? { maxReply: run.maxReply } : {})
    })
    const result = yield* protocol
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

layer(Transports.layerNode, { excludeTestServices: true, timeout: Duration.minutes(2) })("xmpp", (it) => {
  for (const delivery of deliveries) {
    it.effect(`replays the Prosody dialogue (${delivery}): exact header and command, restart over TLS`, () =>
      Effect.gen(function* () {
        const { result, server, session } = yield* dialogue(prosody(), { delivery })
        const ok = successOf(result)
        expect(ok.encrypted).toBe(true)
        expect(ok.tls?.authorized).toBe(true)
        expect(ok.capabilitiesBeforeTls).toEqual(["starttls:required"])
        expect(ok.capabilities).toEqual(["mechanisms:SCRAM-SHA-1,PLAIN"])
        expect(session.encrypted()).toBe(true)
        expect(session.buffered().length).toBe(0)
        const seen = yield* server.done
        expect(seen).toEqual([clientHeader, starttlsCommand, clientHeader])
      })
    )

    it.effect(`reads features glued to the header, double quotes, other prefixes (${delivery})`, () =>
      Effect.gen(function* () {
        const header = `<?xml version="1.0" encoding="UTF-8"?>\n<s:stream xmlns="jabber:client" xmlns:s="${STREAMS}" version="1.0" from="localhost" id="a&apos;b">`
        const features = `\n  <s:features>\n    <t:starttls xmlns:t="${TLS}"/>\n    <mechanisms xmlns="${SASL}"><mechanism>PLAIN</mechanism></mechanisms>\n  </s:features>`
        const after = `<s:features><sasl:mechanisms xmlns:sasl='${SASL}'><sasl:mechanism>SCRAM-SHA-256</sasl:mechanism></sasl:mechanisms><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></s:features>`
        const script: ReadonlyArray<Step> = [
          { expect: clientHeader },
          { send: header + features },
          { expect: starttlsCommand },
          { send: `  <proceed xmlns="${TLS}"></proceed>` },
          { startTls: true },
          { expect: clientHeader },
          { send: header },
          { send: after },
          { sleep: 300 }
        ]
        const ok = successOf((yield* dialogue(script, { delivery })).result)
        expect(ok.capabilitiesBeforeTls).toEqual(["starttls", "mechanisms:PLAIN"])
        // capability lists differ before and after TLS: the plaintext PLAIN is forgotten
        expect(ok.capabilities).toEqual(["mechanisms:SCRAM-SHA-256", "bind", "sm"])
      })
    )
  }

  it.effect("xmpp-server: jabber:server, from= and the dialback namespace", () =>
    Effect.gen(function* () {
      const sent = streamHeader("xmpp-server", {
        policy: "required",
        tls: {},
        clientName: "localhost",
        domain: "example.org",
        fromDomain: "me.example"
      })
      expect(sent).toBe(
        `<?xml version='1.0'?><stream:stream from='me.example' to='example.org' version='1.0' xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='${STREAMS}'>`
      )
      const header = serverHeader.replace("jabber:client", "jabber:server")
      const script: ReadonlyArray<Step> = [
        { expect: sent },
        { send: header },
        { send: `<stream:features><starttls xmlns='${TLS}'/></stream:features>` },
        { expect: starttlsCommand },
        { send: proceed },
        { startTls: true },
        { expect: sent },
        { send: header },
        {
          send: `<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><mechanisms xmlns='${SASL}'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>`
        },
        { sleep: 300 }
      ]
      const { result, server } = yield* dialogue(script, {
        protocol: xmppServer,
        options: { domain: "example.org", fromDomain: "me.example" }
      })
      const ok = successOf(result)
      expect(ok.protocol).toBe("xmpp-server")
      expect(ok.capabilities).toEqual(["dialback", "mechanisms:EXTERNAL"])
      expect(yield* server.done).toEqual([sent, starttlsCommand, sent])
    })
  )

  it.effect("xmpp-server refuses a jabber:client stream", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [{ expect: "<stream:stream" }, { send: serverHeader + plainFeatures }]
      const error = failureOf(
        (yield* dialogue(script, { protocol: xmppServer, options: { fromDomain: "me.example" } })).result
      )
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.message).toContain("jabber:client")
    })
  )

  it.effect("discover after direct TLS (5223): header and features", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { startTls: true },
        { expect: clientHeader },
        { send: serverHeader },
        { send: secureFeatures },
        { sleep: 300 }
      ]
      const server = yield* scriptedServer(script)
      const connection = yield* (yield* Transports).connect(`tls://localhost:${server.port}`, {
        ca: server.pki.ca.certPem
      })
      const session = yield* Session.make(connection, { protocol: "xmpp", stepTimeout: "5 seconds" })
      const ok = yield* xmpp.discover(session, {
        policy: "required",
        tls: {},
        clientName: "localhost",
        domain: "localhost"
      })
      expect(ok.encrypted).toBe(true)
      expect(ok.tls?.authorized).toBe(true)
      expect(ok.capabilities).toEqual(["mechanisms:SCRAM-SHA-1,PLAIN"])
      expect(ok.capabilitiesBeforeTls).toEqual([])
      expect(xmpp.implicitPort).toBe(5223)
      expect(xmpp.plainPort).toBe(5222)
    })
  )

  it.effect("starttls stripped from the features: required fails, opportunistic reports plaintext", () =>
    Effect.gen(function* () {
      const stripped = `<stream:features><mechanisms xmlns='${SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
      const script: ReadonlyArray<Step> = [{ expect: clientHeader }, { send: serverHeader + stripped }]
      const error = failureOf((yield* dialogue(script)).result)
      expect(error.reason).toBe("CapabilityMissing")
      const { result, session } = yield* dialogue(script, { options: { policy: "opportunistic" } })
      const plain = successOf(result)
      expect(plain.encrypted).toBe(false)
      expect(plain.tls).toBeUndefined()
      expect(plain.capabilities).toEqual(["mechanisms:PLAIN"])
      expect(session.encrypted()).toBe(false)
    })
  )

  it.effect("<failure/> is a refusal under both policies (the server closes the stream after it)", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: serverHeader + plainFeatures },
        { expect: starttlsCommand },
        { send: `<failure xmlns='${TLS}'/></stream:stream>` },
        { close: true }
      ]
      for (const policy of ["required", "opportunistic"] as const) {
        const error = failureOf((yield* dialogue(script, { options: { policy } })).result)
        expect(error.reason).toBe("Refused")
        expect(error.step).toBe("upgrade")
      }
    })
  )

  it.effect("a wrong answer to <starttls/>: proceed in another namespace, a stream error, the stream's end", () =>
    Effect.gen(function* () {
      const answers = [
        [`<proceed xmlns='jabber:client'/>`, "UnexpectedReply"],
        [`<proceed xmlns='${TLS}'><x/></proceed>`, "UnexpectedReply"],
        [`<success xmlns='${SASL}'/>`, "UnexpectedReply"],
        [
          `<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no</text></stream:error>`,
          "ServiceUnavailable"
        ],
        [`</stream:stream>`, "Closed"]
      ] as const
      for (const [answer, reason] of answers) {
        const script: ReadonlyArray<Step> = [
          { expect: clientHeader },
          { send: serverHeader + plainFeatures },
          { expect: starttlsCommand },
          { send: answer },
          { sleep: 500 }
        ]
        const error = failureOf((yield* dialogue(script)).result)
        expect(error.reason, answer).toBe(reason)
      }
    })
  )

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes glued to <proceed/> are refused as injection (${delivery})`, () =>
      Effect.gen(function* () {
        const injected = `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><stream:features><mechanisms xmlns='${SASL}'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
        const script: ReadonlyArray<Step> = [
          { expect: clientHeader },
          { send: serverHeader + plainFeatures },
          { expect: starttlsCommand },
          { send: proceed + injected },
          { sleep: 1000 }
        ]
        const { result, session } = yield* dialogue(script, { delivery })
        const error = failureOf(result)
        expect(error.reason).toBe("Injection")
        expect(error.step).toBe("upgrade")
        expect(session.encrypted()).toBe(false)
      })
    )
  }

  it.effect("bytes glued to <proceed/> byte by byte: injection or a failed handshake, never success", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: serverHeader + plainFeatures },
        { expect: starttlsCommand },
        { send: `${proceed}<x/>` },
        { sleep: 1000 }
      ]
      const error = failureOf((yield* dialogue(script, { delivery: "byte-by-byte" })).result)
      expect(["Injection", "TlsFailed", "Closed"]).toContain(error.reason)
    })
  )

  it.effect("a <proceed/> sent before <starttls/> (glued to the features) is not taken as the answer", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: serverHeader + plainFeatures + proceed },
        { sleep: 1000 }
      ]
      const error = failureOf((yield* dialogue(script)).result)
      expect(error.reason).toBe("UnexpectedReply")
      expect(error.message).toContain("before our <starttls/>")
    })
  )

  it.effect("silence after <starttls/> times out; a close is Closed", () =>
    Effect.gen(function* () {
      const silent: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: serverHeader + plainFeatures },
        { expect: starttlsCommand },
        { sleep: 3000 }
      ]
      const started = Date.now()
      const timedOut = failureOf((yield* dialogue(silent, { stepTimeout: "300 millis" })).result)
      expect(timedOut.reason).toBe("TimedOut")
      expect(timedOut.step).toBe("upgrade")
      expect(Date.now() - started).toBeLessThan(2500)
      const closing: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: serverHeader + plainFeatures },
        { expect: starttlsCommand },
        { close: true }
      ]
      const closed = failureOf((yield* dialogue(closing)).result)
      expect(closed.reason).toBe("Closed")
    })
  )

  it.effect("a server that answers the ClientHello in plaintext: TlsFailed", () =>
    Effect.gen(function* () {
      const script: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: serverHeader + plainFeatures },
        { expect: starttlsCommand },
        { send: proceed },
        { expectBytes: 5 },
        { send: "<stream:error/>\r\n" },
        { sleep: 2000 }
      ]
      const error = failureOf((yield* dialogue(script)).result)
      expect(error.reason).toBe("TlsFailed")
      expect(error.step).toBe("handshake")
    })
  )

  it.effect("no XML bombs: DOCTYPE, entities, comments and processing instructions are refused", () =>
    Effect.gen(function* () {
      const bad = [
        `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;">]><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'>`,
        `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0' id='&lol1;'>`,
        `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><stream:features><!-- hi --></stream:features>`,
        `<?xml-stylesheet href='x'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'>`,
        `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><stream:features>&xxe;</stream:features>`,
        `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><?php x?>`
      ]
      for (const header of bad) {
        const script: ReadonlyArray<Step> = [{ expect: clientHeader }, { send: header }, { sleep: 1000 }]
        const error = failureOf((yield* dialogue(script)).result)
        expect(error.reason, header).toBe("UnexpectedReply")
      }
    })
  )

  it.effect("malformed or foreign streams: pre-1.0, wrong namespace, wrong root, mismatched tags", () =>
    Effect.gen(function* () {
      const cases = [
        [`<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' from='localhost'>`, "CapabilityMissing"],
        [`<stream:stream xmlns='jabber:server' xmlns:stream='${STREAMS}' version='1.0'>`, "UnexpectedReply"],
        [`<stream:stream xmlns='jabber:client' xmlns:stream='urn:other' version='1.0'>`, "UnexpectedReply"],
        [`<html><body>`, "UnexpectedReply"],
        [
          `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><stream:features><starttls xmlns='${TLS}'></stream:features>`,
          "UnexpectedReply"
        ],
        [
          `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><x:features>`,
          "UnexpectedReply"
        ],
        [
          `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS}' version='1.0'><features xmlns='jabber:client'/>`,
          "UnexpectedReply"
        ],
        ["220 mail.example ESMTP\r\n<", "UnexpectedReply"]
      ] as const
      for (const [header, reason] of cases) {
        const script: ReadonlyArray<Step> = [{ expect: clientHeader }, { send: header }, { sleep: 1000 }]
        const error = failureOf((yield* dialogue(script)).result)
        expect(error.reason, header).toBe(reason)
      }
    })
  )

  it.effect("features larger than the session's limit: ReplyTooLong", () =>
    Effect.gen(function* () {
      const many = Array.from({ length: 200 }, (_, i) => `<mechanism>MECH-${i}-${"X".repeat(20)}</mechanism>`).join("")
      const script: ReadonlyArray<Step> = [
        { expect: clientHeader },
        { send: `${serverHeader}<stream:features><mechanisms xmlns='${SASL}'>${many}` },
        { sleep: 1000 }
      ]
      const error = failureOf((yield* dialogue(script, { maxReply: 2048 })).result)
      expect(error.reason).toBe("ReplyTooLong")
    })
  )

  it("the reader consumes exactly one element at a time and resumes across splits", () => {
    const reader = new XmppStreamReader()
    const encoder = new TextEncoder()
    const all = encoder.encode(`${serverHeader}${plainFeatures}${proceed}  `)
    let buffer = new Uint8Array(0)
    const events: Array<string> = []
    for (const byte of all) {
      const grown = new Uint8Array(buffer.length + 1)
      grown.set(buffer)
      grown[buffer.length] = byte
      buffer = grown
      while (true) {
        const event = reader.next(buffer)
        if (event.type === "more") break
        if (event.type === "error") throw new Error(event.message)
        events.push(event.type === "close" ? "close" : event.type === "header" ? "header" : event.element.local)
        buffer = buffer.slice(event.end)
        reader.consumed(event.end)
      }
    }
    expect(events).toEqual(["header", "features", "proceed"])
    // the trailing whitespace stays unconsumed: the session would refuse to upgrade over it
    expect(buffer.length).toBe(2)
  })
})
