import * as Net from "node:net"
import { Duplex } from "node:stream"
import * as NodeTls from "node:tls"
import { expect, layer } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import { Transports } from "@netdial/transport"
import { Deferred, Duration, Effect, Result } from "effect"
import type { DialogueOptions } from "../../src/Protocol.ts"
import {
  capabilityNames,
  defaultClientCapabilities,
  mysql,
  parseHandshake,
  sslRequest
} from "../../src/protocols/mysql.ts"
import * as Session from "../../src/Session.ts"
import { type Delivery, deliveries, type Step, scriptedServer } from "../support/scripted.ts"

const encoder = new TextEncoder()

const concat = (...parts: ReadonlyArray<Uint8Array | ReadonlyArray<number> | string>): Uint8Array => {
  const arrays = parts.map((p) => (typeof p === "string" ? encoder.encode(p) : Uint8Array.from(p)))
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0))
  let at = 0
  for (const a of arrays) {
    out.set(a, at)
    at += a.length
  }
  return out
}

const packet = (sequence: number, payload: Uint8Array) =>
  concat([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, sequence], payload)

const le16 = (n: number) => [n & 0xff, (n >> 8) & 0xff]

const scramble1 = "abcdefgh"
const scramble2 = "ijklmnopqrst"

interface HandshakeFields {
  readonly version: string
  readonly capsLow: number
  readonly capsHigh: number
  readonly charset: number
  readonly reserved: ReadonlyArray<number>
  readonly plugin: string
}

const handshakePayload = (h: HandshakeFields) =>
  concat(
    [0x0a],
    `${h.version}\u0000`,
    [0x07, 0x00, 0x00, 0x00],
    scramble1,
    [0x00],
    le16(h.capsLow),
    [h.charset],
    [0x02, 0x00],
    le16(h.capsHigh),
    [21],
    h.reserved,
    `${scramble2}\u0000`,
    `${h.plugin}\u0000`
  )

/** MySQL 8.0: every flag the openssl SSLRequest asks for. */
const mysql8 = handshakePayload({
  version: "8.0.36",
  capsLow: 0xffff,
  capsHigh: 0xdfff,
  charset: 0xff,
  reserved: new Array(10).fill(0),
  plugin: "caching_sha2_password"
})

/** MariaDB 10.11 (reference: caps low 0xfffe, so CLIENT_LONG_PASSWORD is clear; extended caps in the reserved bytes). */
const mariadb = handshakePayload({
  version: "5.5.5-10.11.19-MariaDB-0+deb12u1",
  capsLow: 0xfffe,
  capsHigh: 0x81ff,
  charset: 0x2d,
  reserved: [0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0],
  plugin: "mysql_native_password"
})

/** openssl's SSLRequest, byte for byte (reference §1 MySQL). */
const OPENSSL_SSL_REQUEST = concat(
  [0x20, 0x00, 0x00, 0x01, 0x85, 0xae, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x01, 0x21],
  new Array(23).fill(0)
)

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
    const session = yield* Session.make(connection, { protocol: "mysql", stepTimeout: run.stepTimeout ?? "5 seconds" })
    const result = yield* mysql
      .startTls(session, {
        policy: "required",
        clientName: "localhost",
        domain: "localhost",
        ...run.options,
        tls: { ca: server.pki.ca.certPem, peerName: "localhost", ...run.options?.tls }
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

/**
 * A MySQL server for the success path. The scripted server cannot play it: MySQL's client sends its ClientHello
 * right behind the SSLRequest with no reply in between, and the scripted server's `startTls` step (rightly, for
 * every other protocol) refuses bytes pipelined after the upgrade command. Like mysqld, this one reads exactly the
 * 36-byte SSLRequest and hands every later byte to TLS. It records the SSLRequest and the first 4 bytes over TLS.
 */
const nativeMysqlServer = (greetingPacket: Uint8Array, delivery: Delivery) =>
  Effect.gen(function* () {
    const pki = yield* Effect.promise(() => makeTestPki())
    const seen = yield* Deferred.make<ReadonlyArray<Uint8Array>, Error>()
    const fail = (e: unknown) => Deferred.doneUnsafe(seen, Effect.fail(e instanceof Error ? e : new Error(String(e))))
    const server = Net.createServer((socket) => {
      socket.on("error", fail)
      const send = async () => {
        if (delivery === "byte-by-byte") {
          for (const byte of greetingPacket) {
            socket.write(Uint8Array.of(byte))
            await new Promise((resolve) => setTimeout(resolve, 1))
          }
        } else socket.write(greetingPacket)
      }
      void send()
      let received = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        if (received.length < 36) return
        socket.off("data", onData)
        socket.pause()
        const request = received.subarray(0, 36)
        const carrier = new Duplex({
          read() {
            socket.resume()
          },
          write(chunk, _encoding, callback) {
            socket.write(chunk, callback)
          }
        })
        if (received.length > 36) carrier.push(received.subarray(36))
        socket.on("data", (more: Buffer) => {
          if (!carrier.push(more)) socket.pause()
        })
        socket.on("end", () => carrier.push(null))
        const secure = new NodeTls.TLSSocket(carrier, {
          isServer: true,
          cert: pki.server.chainPem,
          key: pki.server.keyPem
        })
        secure.on("error", fail)
        let over = Buffer.alloc(0)
        secure.on("data", (data: Buffer) => {
          over = Buffer.concat([over, data])
          if (over.length >= 4) Deferred.doneUnsafe(seen, Effect.succeed([request, over.subarray(0, 4)]))
        })
      }
      socket.on("data", onData)
    })
    yield* Effect.acquireRelease(
      Effect.callback<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () => Effect.sync(() => server.close())
    )
    const port = (server.address() as Net.AddressInfo).port
    return { url: `tcp://127.0.0.1:${port}`, pki, done: Deferred.await(seen) }
  })

const greeting = (payload: Uint8Array, after: ReadonlyArray<Step> = [{ sleep: 500 }]): ReadonlyArray<Step> => [
  { send: packet(0, payload) },
  ...after
]

layer(Transports.layerNode, { excludeTestServices: true, timeout: Duration.minutes(2) })("mysql", (it) => {
  for (const delivery of deliveries) {
    it.effect(`replays openssl's SSLRequest against MySQL 8 (${delivery}); HandshakeResponse41 follows at seq 2`, () =>
      Effect.gen(function* () {
        const server = yield* nativeMysqlServer(packet(0, mysql8), delivery)
        const connection = yield* (yield* Transports).connect(server.url)
        const session = yield* Session.make(connection, { protocol: "mysql", stepTimeout: "5 seconds" })
        const ok = yield* mysql.startTls(session, {
          policy: "required",
          tls: { ca: server.pki.ca.certPem, peerName: "localhost" },
          clientName: "localhost",
          domain: "localhost",
          mysqlCapabilities: 0x007fae85
        })
        expect(ok.encrypted).toBe(true)
        expect(ok.tls?.authorized).toBe(true)
        expect(ok.capabilities).toContain("CLIENT_SSL")
        expect(ok.capabilities).toContain("CLIENT_PROTOCOL_41")
        expect(ok.capabilities).toContain("CLIENT_PLUGIN_AUTH")
        expect(ok.capabilitiesBeforeTls).toEqual(ok.capabilities)
        expect(ok.mysql.nextSequence).toBe(2)
        expect(ok.mysql.clientCapabilities).toBe(0x007fae85)
        expect(ok.mysql.handshake.serverVersion).toBe("8.0.36")
        expect(ok.mysql.handshake.connectionId).toBe(7)
        expect(ok.mysql.handshake.authPluginName).toBe("caching_sha2_password")
        expect(new TextDecoder().decode(ok.mysql.handshake.authPluginData)).toBe(scramble1 + scramble2)
        // the caller's HandshakeResponse41 header, over TLS, with sequence number 2
        yield* session.write(Uint8Array.of(0x40, 0, 0, ok.mysql.nextSequence), "response")
        const [request, first] = yield* server.done
        expect(bytes(request)).toEqual(bytes(OPENSSL_SSL_REQUEST))
        expect(bytes(first)).toEqual([0x40, 0, 0, 2])
      })
    )
  }

  it.effect("MariaDB: default capabilities intersected with the server's; extended capabilities read", () =>
    Effect.gen(function* () {
      const server = yield* nativeMysqlServer(packet(0, mariadb), "as-written")
      const connection = yield* (yield* Transports).connect(server.url)
      const session = yield* Session.make(connection, { protocol: "mysql", stepTimeout: "5 seconds" })
      const ok = yield* mysql.startTls(session, {
        policy: "required",
        tls: { ca: server.pki.ca.certPem, peerName: "localhost" },
        clientName: "localhost",
        domain: "localhost"
      })
      expect(ok.mysql.handshake.serverVersion).toBe("5.5.5-10.11.19-MariaDB-0+deb12u1")
      expect(ok.mysql.handshake.mariadbCapabilities).toBe(0x1d)
      expect(ok.mysql.handshake.authPluginName).toBe("mysql_native_password")
      expect(ok.capabilities).not.toContain("CLIENT_LONG_PASSWORD")
      const expected = ((defaultClientCapabilities | 0x800) & 0x81fffffe) >>> 0
      expect(expected).toBe(0x2eaa04)
      expect(ok.mysql.clientCapabilities).toBe(expected)
      yield* session.write(Uint8Array.of(0x40, 0, 0, 2), "response")
      const [request] = yield* server.done
      expect(bytes(request)).toEqual(bytes(sslRequest(expected)))
      expect(bytes(request).slice(0, 13)).toEqual([0x20, 0, 0, 1, 0x04, 0xaa, 0x2e, 0x00, 0, 0, 0, 1, 0x21])
    })
  )

  it.effect(
    "CLIENT_SSL clear: required fails before sending anything; opportunistic reports plaintext (seq 1 next)",
    () =>
      Effect.gen(function* () {
        const noSsl = handshakePayload({
          version: "8.0.36",
          capsLow: 0xffff & ~0x800,
          capsHigh: 0xdfff,
          charset: 0xff,
          reserved: new Array(10).fill(0),
          plugin: "caching_sha2_password"
        })
        const error = failureOf((yield* dialogue(greeting(noSsl))).result)
        expect(error.reason).toBe("CapabilityMissing")
        expect(error.message).toContain("CLIENT_SSL")
        const { result, server } = yield* dialogue(greeting(noSsl))
        expect(Result.isFailure(result)).toBe(true)
        expect(yield* server.done).toEqual([])
        const plain = successOf((yield* dialogue(greeting(noSsl), { options: { policy: "opportunistic" } })).result)
        expect(plain.encrypted).toBe(false)
        expect(plain.mysql.nextSequence).toBe(1)
        expect(plain.mysql.clientCapabilities & 0x800).toBe(0)
        expect(plain.capabilities).not.toContain("CLIENT_SSL")
      })
  )

  it.effect("malformed greetings: truncated, wrong protocol, wrong sequence, too long, ERR packet", () =>
    Effect.gen(function* () {
      const truncated = mysql8.subarray(0, 16)
      const cases: ReadonlyArray<readonly [Uint8Array, string]> = [
        [packet(0, truncated), "UnexpectedReply"],
        [packet(0, mysql8.subarray(0, mysql8.length - 30)), "UnexpectedReply"],
        [packet(0, concat([0x09], "3.22.0\u0000", [1, 0, 0, 0], "abcdefgh")), "UnexpectedReply"],
        [packet(1, mysql8), "UnexpectedReply"],
        [concat([0xff, 0xff, 0x00, 0x00], mysql8), "ReplyTooLong"],
        [packet(0, concat([0xff, 0x10, 0x04], "Too many connections")), "ServiceUnavailable"],
        [concat([80, 0, 0, 0], mysql8.subarray(0, 30)), "Closed"]
      ]
      for (const [greetingBytes, reason] of cases) {
        const error = failureOf((yield* dialogue([{ send: greetingBytes }, { sleep: 200 }, { close: true }])).result)
        expect(error.reason, `${Array.from(greetingBytes.subarray(0, 6))}`).toBe(reason)
      }
    })
  )

  for (const delivery of ["as-written", "batched"] as const) {
    it.effect(`bytes after the handshake are refused as injection at the switch (${delivery})`, () =>
      Effect.gen(function* () {
        // a fake OK packet that a man in the middle wants read as if it came over TLS
        const ok = packet(2, Uint8Array.of(0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00))
        const { result, session } = yield* dialogue(
          [{ send: concat(packet(0, mysql8), ok) }, { expectBytes: 36 }, { sleep: 1000 }],
          { delivery }
        )
        const error = failureOf(result)
        expect(error.reason).toBe("Injection")
        expect(session.encrypted()).toBe(false)
      })
    )
  }

  it.effect("silence: no greeting times out; no answer to the ClientHello hits the handshake timeout", () =>
    Effect.gen(function* () {
      const started = Date.now()
      const noGreeting = failureOf((yield* dialogue([{ sleep: 3000 }], { stepTimeout: "300 millis" })).result)
      expect(noGreeting.reason).toBe("TimedOut")
      expect(noGreeting.step).toBe("greeting")
      const noHandshake = failureOf(
        (yield* dialogue(greeting(mysql8, [{ expectBytes: 36 }, { sleep: 3000 }]), {
          options: { tls: { handshakeTimeout: "300 millis" } }
        })).result
      )
      expect(noHandshake.reason).toBe("TimedOut")
      expect(noHandshake.step).toBe("handshake")
      expect(Date.now() - started).toBeLessThan(5000)
      const closed = failureOf((yield* dialogue(greeting(mysql8, [{ expectBytes: 36 }, { close: true }]))).result)
      expect(["Closed", "TlsFailed"]).toContain(closed.reason)
    })
  )

  it.effect("a server that answers the ClientHello in plaintext: TlsFailed", () =>
    Effect.gen(function* () {
      const err = packet(2, concat([0xff, 0x15, 0x04, 0x23], "08S01Bad handshake"))
      const error = failureOf(
        (yield* dialogue(greeting(mysql8, [{ expectBytes: 36 }, { expectBytes: 5 }, { send: err }, { sleep: 2000 }])))
          .result
      )
      expect(error.reason).toBe("TlsFailed")
      expect(error.step).toBe("handshake")
    })
  )

  it("parses a short (pre-4.1 style) handshake and names flags", () => {
    const short = concat([0x0a], "4.0.0\u0000", [1, 0, 0, 0], "abcdefgh", [0], le16(0x0a2c))
    const parsed = parseHandshake(short)
    if (typeof parsed === "string") throw new Error(parsed)
    expect(parsed.capabilities).toBe(0x0a2c)
    expect(parsed.authPluginName).toBeUndefined()
    expect(capabilityNames(0x80000801)).toEqual(["CLIENT_LONG_PASSWORD", "CLIENT_SSL", "CLIENT_REMEMBER_OPTIONS"])
    expect(parseHandshake(Uint8Array.of(0x0a, 0x41))).toContain("truncated")
    expect([mysql.plainPort, mysql.implicitPort]).toEqual([3306, undefined])
  })
})
