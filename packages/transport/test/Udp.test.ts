import { spawn, spawnSync } from "node:child_process"
import * as Os from "node:os"
import { describe, expect, it } from "@effect/vitest"
import { parse } from "@netdial/url"
import { type Duration, Effect, Exit, Fiber, Result, Scope, Stream } from "effect"
import { NetAddress } from "effect/net"
import { Socket } from "effect/socket"
import { TransportError } from "../src/TransportError.ts"
import {
  bindUdp,
  type Datagram,
  type DatagramEndpoint,
  openConnectedUdp,
  type UdpConnection,
  type UdpOptions
} from "../src/Udp.ts"

// ---------------------------------------------------------------------------------------------------------------
// helpers

const urlOf = (host: string, port: number) =>
  Result.getOrThrow(parse(`udp://${host.includes(":") ? `[${host}]` : host}:${port}`, { allowPortZero: true }))

const inet = (host: string, port = 0) => NetAddress.inetAddressFromIpStringUnsafe(host, port)

const bind = (host: string, options: UdpOptions = {}, port = 0) =>
  bindUdp(inet(host, port), options, { url: urlOf(host, port) })

const dial = (remote: NetAddress.InetAddress, options: UdpOptions = {}) =>
  openConnectedUdp(remote, options, { url: urlOf(NetAddress.formatHost(remote), remote.port) })

const decoder = new TextDecoder()
const text = (bytes: Uint8Array) => decoder.decode(bytes)
const same = (a: NetAddress.InetAddress, b: NetAddress.InetAddress) =>
  expect(NetAddress.formatInet(a)).toBe(NetAddress.formatInet(b))

/** A payload whose every byte depends on its position, so truncation or reordering shows. */
const pattern = (size: number, seed = 0) => {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff
  return bytes
}

/** Pulls until `count` datagrams have arrived: bounded in pulls (count) and in time. */
const pullDatagrams = (
  pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError>,
  count: number,
  within: Duration.Input = "5 seconds"
) =>
  Effect.gen(function* () {
    const out: Array<Uint8Array> = []
    for (let i = 0; i < count && out.length < count; i++) out.push(...(yield* pull))
    return out
  }).pipe(Effect.timeout(within))

/** Receives until `count` datagrams have arrived, each within `each`. */
const receiveN = (endpoint: DatagramEndpoint, count: number, each: Duration.Input = "3 seconds") =>
  Effect.gen(function* () {
    const out: Array<Datagram> = []
    for (let i = 0; i < count; i++) out.push(yield* endpoint.receive.pipe(Effect.timeout(each)))
    return out
  })

/** `true` when nothing more arrives within `ms`. */
const quiet = (endpoint: DatagramEndpoint, ms = 150) =>
  endpoint.receive.pipe(
    Effect.timeoutOption(ms),
    Effect.map((option) => option._tag === "None")
  )

/** A local port that nothing listens on (bound, then released). */
const closedPort = (host: string) => Effect.scoped(Effect.map(bind(host), (endpoint) => endpoint.localAddress))

/** Polls `condition` every 10 ms, at most `tries` times. */
const eventually = (condition: () => boolean, tries = 200) =>
  Effect.gen(function* () {
    for (let i = 0; i < tries && !condition(); i++) yield* Effect.sleep("10 millis")
    return condition()
  })

const readerCause = (error: unknown): unknown => {
  expect(Socket.isSocketError(error)).toBe(true)
  const reason = (error as Socket.SocketError).reason
  expect(reason._tag).toBe("SocketReadError")
  return (reason as Socket.SocketReadError).cause
}

const writerCause = (error: unknown): unknown => {
  expect(Socket.isSocketError(error)).toBe(true)
  const reason = (error as Socket.SocketError).reason
  expect(reason._tag).toBe("SocketWriteError")
  return (reason as Socket.SocketWriteError).cause
}

const hasIpv6Loopback = Object.values(Os.networkInterfaces()).some((list) =>
  (list ?? []).some((info) => info.family === "IPv6" && info.address === "::1")
)
const hasSocat = spawnSync("socat", ["-V"], { stdio: "ignore" }).error === undefined

// ---------------------------------------------------------------------------------------------------------------

describe("openConnectedUdp ↔ bindUdp echo", () => {
  const echo = (host: string) =>
    Effect.gen(function* () {
      const server = yield* bind(host)
      expect(server.localAddress.port).toBeGreaterThan(0)
      same(server.localAddress, inet(host, server.localAddress.port))

      const client = yield* dial(server.localAddress)
      expect(client.mode).toBe("datagram")
      expect(client.role).toBe("client")
      expect(client.tls).toBeUndefined()
      same(client.remoteAddress, server.localAddress)
      same(client.localAddress, inet(host, client.localAddress.port))
      expect(Socket.isSocket(client)).toBe(true)

      const reader = yield* client.reader
      const writer = yield* client.writer
      yield* writer.write("ping")
      const [request] = yield* receiveN(server, 1)
      expect(text(request!.data)).toBe("ping")
      same(request!.from, client.localAddress)

      yield* server.send("pong", request!.from)
      const reply = yield* pullDatagrams(reader.pull, 1)
      expect(reply.map(text)).toEqual(["pong"])
    })

  it.live("over IPv4 (127.0.0.1)", () => echo("127.0.0.1"))
  it.live.skipIf(!hasIpv6Loopback)("over IPv6 (::1)", () => echo("::1"))
})

describe("datagram boundaries", () => {
  it.live("3 datagrams of different sizes arrive as exactly those 3, each whole, client → endpoint", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const writer = yield* client.writer
      const sizes = [1, 1400, 9000]
      for (const [i, size] of sizes.entries()) yield* writer.write(pattern(size, i))
      const got = yield* receiveN(server, 3)
      expect(got.map((d) => d.data.byteLength)).toEqual(sizes)
      for (const [i, d] of got.entries()) expect(d.data).toEqual(pattern(sizes[i]!, i))
      expect(yield* quiet(server)).toBe(true)
    })
  )

  it.live("writeAll sends one datagram per element, a string as UTF-8, and an empty datagram is one too", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const writer = yield* client.writer
      yield* writer.writeAll(["héllo", new Uint8Array(0), "wörld"])
      const got = yield* receiveN(server, 3)
      expect(got.map((d) => text(d.data))).toEqual(["héllo", "", "wörld"])
      expect(got[0]!.data.byteLength).toBe(6)
      expect(yield* quiet(server)).toBe(true)
    })
  )

  it.live("endpoint → client: pull gives one array element per datagram, never merged", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const reader = yield* client.reader
      const sizes = [3, 700, 20000]
      for (const [i, size] of sizes.entries()) yield* server.send(pattern(size, i), client.localAddress)
      // let all three land in the queue, so that a single pull may return them together
      yield* Effect.sleep("100 millis")
      const got = yield* pullDatagrams(reader.pull, 3)
      expect(got.map((d) => d.byteLength)).toEqual(sizes)
      for (const [i, d] of got.entries()) expect(d).toEqual(pattern(sizes[i]!, i))
    })
  )

  it.live("a 60000-byte datagram is delivered whole, both ways", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const reader = yield* client.reader
      const writer = yield* client.writer
      const big = pattern(60000, 7)
      yield* writer.write(big)
      const [received] = yield* receiveN(server, 1)
      expect(received!.data.byteLength).toBe(60000)
      expect(received!.data).toEqual(big)
      yield* server.send(received!.data, received!.from)
      const [back] = yield* pullDatagrams(reader.pull, 1)
      expect(back!.byteLength).toBe(60000)
      expect(back).toEqual(big)
    })
  )

  it.live("a datagram larger than UDP allows fails the write with EMSGSIZE, and the connection goes on", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const writer = yield* client.writer
      const error = yield* Effect.flip(writer.write(new Uint8Array(70000)))
      const cause = writerCause(error)
      expect(cause).toBeInstanceOf(TransportError)
      expect((cause as TransportError).code).toBe("EMSGSIZE")
      expect((cause as TransportError).message).toContain("70000 bytes")
      const endpointError = yield* Effect.flip(server.send(new Uint8Array(70000), client.localAddress))
      expect(endpointError.code).toBe("EMSGSIZE")
      yield* writer.write("still fine")
      expect(text((yield* receiveN(server, 1))[0]!.data)).toBe("still fine")
    })
  )
})

describe("ICMP port unreachable → Refused", () => {
  const refused = (host: string) =>
    Effect.gen(function* () {
      const dead = yield* closedPort(host)
      const client = yield* dial(dead)
      const reader = yield* client.reader
      const writer = yield* client.writer
      // like PHP, connect sends nothing and succeeds; the write succeeds too
      yield* writer.write("anyone?")
      // the ICMP arrives asynchronously: the pull must fail within a few seconds, not hang
      const error = yield* Effect.flip(reader.pull.pipe(Effect.timeout("3 seconds")))
      const cause = readerCause(error)
      expect(cause).toBeInstanceOf(TransportError)
      expect((cause as TransportError).reason).toBe("Refused")
      expect((cause as TransportError).code).toBe("ECONNREFUSED")
      expect((cause as TransportError).url).toBe(`udp://${NetAddress.formatInet(dead)}`)

      // the same connection stays usable: once something listens there, a write and a read succeed
      const revived = yield* bind(host, {}, dead.port)
      yield* writer.write("now?")
      const [request] = yield* receiveN(revived, 1)
      expect(text(request!.data)).toBe("now?")
      yield* revived.send("yes", request!.from)
      expect((yield* pullDatagrams(reader.pull, 1)).map(text)).toEqual(["yes"])

      // and a new connection to a live port works
      const live = yield* bind(host)
      const other = yield* dial(live.localAddress)
      yield* Effect.flatMap(other.writer, (w) => w.write("fresh"))
      expect(text((yield* receiveN(live, 1))[0]!.data)).toBe("fresh")
    })

  it.live("over IPv4: typed failure on the next pull, then the socket works again", () => refused("127.0.0.1"))
  it.live.skipIf(!hasIpv6Loopback)("over IPv6: typed failure on the next pull, then the socket works again", () =>
    refused("::1")
  )

  it.live("a pull already waiting when the ICMP arrives fails with Refused", () =>
    Effect.gen(function* () {
      const dead = yield* closedPort("127.0.0.1")
      const client = yield* dial(dead)
      const reader = yield* client.reader
      const writer = yield* client.writer
      const pending = yield* Effect.forkChild(Effect.flip(reader.pull.pipe(Effect.timeout("3 seconds"))))
      yield* Effect.sleep("20 millis")
      yield* writer.write("x")
      const cause = readerCause(yield* Fiber.join(pending))
      expect((cause as TransportError).reason).toBe("Refused")
    })
  )
})

describe("effect/socket combinators on the connected client", () => {
  it.live("Socket.toStream emits one Uint8Array per datagram, and the connection outlives the stream", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      for (const word of ["one", "two", "three"]) yield* server.send(word, client.localAddress)
      const got = yield* Socket.toStream(client).pipe(Stream.take(3), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(got.map(text)).toEqual(["one", "two", "three"])
      // releasing the stream's reader did not close the socket
      yield* Effect.flatMap(client.writer, (w) => w.write("after"))
      expect(text((yield* receiveN(server, 1))[0]!.data)).toBe("after")
      yield* server.send("four", client.localAddress)
      const again = yield* Socket.toStream(client).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(again.map(text)).toEqual(["four"])
    })
  )

  it.live("Socket.toChannel writes a datagram per element and reads the echoes", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      // a bounded echo: three datagrams, then stop
      yield* Effect.forkChild(
        Effect.gen(function* () {
          for (let i = 0; i < 3; i++) {
            const d = yield* server.receive
            yield* server.send(d.data, d.from)
          }
        })
      )
      const client = yield* dial(server.localAddress)
      const got = yield* Stream.make("a", "bb", "ccc").pipe(
        Stream.pipeThroughChannel(Socket.toChannel(client)),
        Stream.take(3),
        Stream.runCollect,
        Effect.timeout("5 seconds")
      )
      expect(got.map(text)).toEqual(["a", "bb", "ccc"])
    })
  )

  it.live("shutdownWrite is a no-op that succeeds, and writes keep working", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      yield* client.shutdownWrite
      yield* Effect.flatMap(client.writer, (w) => w.write("still"))
      expect(text((yield* receiveN(server, 1))[0]!.data)).toBe("still")
    })
  )

  it.live("releasing a reader fails its pending pull, closes nothing", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const scope = yield* Scope.make()
      const reader = yield* Scope.provide(client.reader, scope)
      const pending = yield* Effect.forkChild(Effect.flip(reader.pull))
      yield* Effect.sleep("20 millis")
      yield* Scope.close(scope, Exit.void)
      const error = yield* Fiber.join(pending).pipe(Effect.timeout("1 second"))
      expect(Socket.isSocketError(error)).toBe(true)
      expect(error.reason._tag).toBe("SocketCloseError")
      const next = yield* client.reader
      yield* server.send("later", client.localAddress)
      expect((yield* pullDatagrams(next.pull, 1)).map(text)).toEqual(["later"])
    })
  )
})

describe("bind errors", () => {
  it.live("binding an address in use without reuseAddress → AddressInUse", () =>
    Effect.gen(function* () {
      const first = yield* bind("127.0.0.1")
      const port = first.localAddress.port
      const error = yield* Effect.flip(bind("127.0.0.1", {}, port))
      expect(error).toBeInstanceOf(TransportError)
      expect(error.reason).toBe("AddressInUse")
      expect(error.code).toBe("EADDRINUSE")
      expect(error.operation).toBe("bind")
      expect(error.address).toBe(`127.0.0.1:${port}`)
      expect(error.url).toBe(`udp://127.0.0.1:${port}`)
      // the connected client's local bind is classified the same way
      const clientError = yield* Effect.flip(dial(inet("127.0.0.1", 9), { localAddress: "127.0.0.1", localPort: port }))
      expect(clientError.reason).toBe("AddressInUse")
      // the first endpoint was not disturbed
      const client = yield* dial(first.localAddress)
      yield* Effect.flatMap(client.writer, (w) => w.write("ok"))
      expect(text((yield* receiveN(first, 1))[0]!.data)).toBe("ok")
    })
  )

  it.live("two sockets that both set reuseAddress may share the address", () =>
    Effect.gen(function* () {
      const first = yield* bind("127.0.0.1", { reuseAddress: true })
      const second = yield* bind("127.0.0.1", { reuseAddress: true }, first.localAddress.port)
      same(second.localAddress, first.localAddress)
    })
  )

  it.live("bad options fail with BadOption before any socket is made", () =>
    Effect.gen(function* () {
      const remote = inet("127.0.0.1", 9)
      const cases: ReadonlyArray<UdpOptions> = [
        { receiveQueue: 0 },
        { receiveQueue: 1.5 },
        { receiveBufferSize: -1 },
        { localPort: 70000 },
        { localAddress: "localhost" },
        { localAddress: "::1" }
      ]
      for (const options of cases) {
        const error = yield* Effect.flip(dial(remote, options))
        expect(error.reason).toBe("BadOption")
      }
      expect((yield* Effect.flip(bind("127.0.0.1", { receiveQueue: -3 }))).reason).toBe("BadOption")
      expect((yield* Effect.flip(dial(inet("127.0.0.1", 0)))).reason).toBe("BadOption")
    })
  )

  it.live("an IPv4 endpoint cannot send to an IPv6 address: UnsupportedTransport", () =>
    Effect.gen(function* () {
      const endpoint = yield* bind("127.0.0.1")
      const error = yield* Effect.flip(endpoint.send("x", inet("::1", 9)))
      expect(error.reason).toBe("UnsupportedTransport")
      expect(error.code).toBe("EAFNOSUPPORT")
    })
  )

  it.live.skipIf(!hasIpv6Loopback)("a dual-stack endpoint ([::]) sends to and receives from IPv4 peers", () =>
    Effect.gen(function* () {
      const dual = yield* bind("::")
      const v4 = yield* bind("127.0.0.1")
      yield* dual.send("to v4", v4.localAddress)
      const [got] = yield* receiveN(v4, 1)
      expect(text(got!.data)).toBe("to v4")
      expect(got!.from.port).toBe(dual.localAddress.port)
      yield* v4.send("to dual", inet("127.0.0.1", dual.localAddress.port))
      const [back] = yield* receiveN(dual, 1)
      expect(text(back!.data)).toBe("to dual")
      expect(back!.from.port).toBe(v4.localAddress.port)
    })
  )
})

describe("interruption", () => {
  it.live("interrupting a pending receive returns promptly and leaves the endpoint working", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const fiber = yield* Effect.forkChild(server.receive)
      yield* Effect.sleep("20 millis")
      const started = Date.now()
      yield* Fiber.interrupt(fiber).pipe(Effect.timeout("1 second"))
      expect(Date.now() - started).toBeLessThan(500)
      // a timeout is an interruption too, and returns on time
      expect(yield* quiet(server, 50)).toBe(true)
      const client = yield* dial(server.localAddress)
      yield* Effect.flatMap(client.writer, (w) => w.write("after interrupt"))
      expect(text((yield* receiveN(server, 1))[0]!.data)).toBe("after interrupt")
    })
  )

  it.live("interrupting a pending pull returns promptly and leaves the connection working", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const reader = yield* client.reader
      const fiber = yield* Effect.forkChild(reader.pull)
      yield* Effect.sleep("20 millis")
      const started = Date.now()
      yield* Fiber.interrupt(fiber).pipe(Effect.timeout("1 second"))
      expect(Date.now() - started).toBeLessThan(500)
      yield* server.send("after interrupt", client.localAddress)
      expect((yield* pullDatagrams(reader.pull, 1)).map(text)).toEqual(["after interrupt"])
      yield* Effect.flatMap(client.writer, (w) => w.write("and back"))
      expect(text((yield* receiveN(server, 1))[0]!.data)).toBe("and back")
    })
  )

  it.live("close fails a pending receive and a pending pull at once", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress)
      const reader = yield* client.reader
      const receiving = yield* Effect.forkChild(Effect.flip(server.receive))
      const pulling = yield* Effect.forkChild(Effect.flip(reader.pull))
      yield* Effect.sleep("20 millis")
      yield* server.close
      yield* client.close
      const receiveError = yield* Fiber.join(receiving).pipe(Effect.timeout("1 second"))
      expect(receiveError.reason).toBe("Closed")
      const pullError = yield* Fiber.join(pulling).pipe(Effect.timeout("1 second"))
      expect(pullError.reason._tag).toBe("SocketCloseError")
      expect((pullError.reason as Socket.SocketCloseError).code).toBe(1000)
    })
  )
})

describe("scope ownership", () => {
  /** Binding the same port again without reuseAddress succeeds only if the OS socket is gone. */
  const portIsFree = (address: NetAddress.InetAddress) =>
    Effect.scoped(
      Effect.map(bind(NetAddress.formatHost(address), {}, address.port), (e) => e.localAddress.port === address.port)
    )

  it.live("closing the scope closes the connected client's socket", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const client: UdpConnection = yield* Effect.scoped(dial(server.localAddress))
      expect(yield* portIsFree(client.localAddress)).toBe(true)
      const writer = yield* Effect.scoped(client.writer)
      const cause = writerCause(yield* Effect.flip(writer.write("too late")))
      expect((cause as TransportError).reason).toBe("Closed")
      const readerError = yield* Effect.flip(Effect.scoped(client.reader))
      expect(readerError.reason._tag).toBe("SocketCloseError")
    })
  )

  it.live("closing the scope closes the endpoint's socket, on success, failure and interruption", () =>
    Effect.gen(function* () {
      const onSuccess = yield* Effect.scoped(bind("127.0.0.1"))
      expect(yield* portIsFree(onSuccess.localAddress)).toBe(true)
      expect((yield* Effect.flip(onSuccess.receive)).reason).toBe("Closed")
      expect((yield* Effect.flip(onSuccess.send("x", onSuccess.localAddress))).reason).toBe("Closed")

      let leaked: DatagramEndpoint | undefined
      const failed = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            leaked = yield* bind("127.0.0.1")
            return yield* Effect.fail("boom" as const)
          })
        )
      )
      expect(Exit.isFailure(failed)).toBe(true)
      expect(yield* portIsFree(leaked!.localAddress)).toBe(true)

      let bound: DatagramEndpoint | undefined
      const fiber = yield* Effect.forkChild(
        Effect.scoped(
          Effect.gen(function* () {
            bound = yield* bind("127.0.0.1")
            return yield* Effect.never
          })
        )
      )
      expect(yield* eventually(() => bound !== undefined)).toBe(true)
      yield* Fiber.interrupt(fiber).pipe(Effect.timeout("1 second"))
      expect(yield* portIsFree(bound!.localAddress)).toBe(true)
    })
  )

  it.live("endpoint.datagrams streams in arrival order and ends when the endpoint closes", () =>
    Effect.gen(function* () {
      const server = yield* bind("127.0.0.1")
      const collecting = yield* Effect.forkChild(Stream.runCollect(server.datagrams))
      const client = yield* dial(server.localAddress)
      const writer = yield* client.writer
      for (const word of ["a", "b", "c"]) yield* writer.write(word)
      yield* Effect.sleep("100 millis")
      yield* server.close
      const got = yield* Fiber.join(collecting).pipe(Effect.timeout("2 seconds"))
      expect(got.map((d) => text(d.data))).toEqual(["a", "b", "c"])
      for (const d of got) same(d.from, client.localAddress)
    })
  )
})

describe("bounded receive queue", () => {
  it.live("an endpoint nobody reads keeps receiveQueue datagrams and drops and counts the rest", () =>
    Effect.gen(function* () {
      const limit = 8
      const total = 50
      const server = yield* bind("127.0.0.1", { receiveQueue: limit })
      const client = yield* dial(server.localAddress)
      const writer = yield* client.writer
      for (let i = 0; i < total; i++) yield* writer.write(`#${i}`)
      expect(yield* eventually(() => server.dropped() >= total - limit)).toBe(true)
      expect(server.dropped()).toBe(total - limit)
      const kept: Array<string> = []
      for (let i = 0; i < total; i++) {
        const next = yield* server.receive.pipe(Effect.timeoutOption("150 millis"))
        if (next._tag === "None") break
        kept.push(text(next.value.data))
      }
      expect(kept.length).toBeLessThanOrEqual(limit)
      // the queue drops the newcomers, so the oldest are the ones kept
      expect(kept).toEqual(Array.from({ length: limit }, (_, i) => `#${i}`))
    })
  )

  it.live("a connected client nobody reads does the same, and pull returns what was kept", () =>
    Effect.gen(function* () {
      const limit = 4
      const total = 20
      const server = yield* bind("127.0.0.1")
      const client = yield* dial(server.localAddress, { receiveQueue: limit })
      for (let i = 0; i < total; i++) yield* server.send(`#${i}`, client.localAddress)
      expect(yield* eventually(() => client.dropped() >= total - limit)).toBe(true)
      expect(client.dropped()).toBe(total - limit)
      const reader = yield* client.reader
      const batch = yield* reader.pull.pipe(Effect.timeout("1 second"))
      expect(batch.map(text)).toEqual(["#0", "#1", "#2", "#3"])
    })
  )
})

describe("interop", () => {
  it.live.skipIf(!hasSocat)(
    `with socat (\`socat - UDP:127.0.0.1:PORT\`)${hasSocat ? "" : " — skipped: socat is not installed"}`,
    () =>
      Effect.gen(function* () {
        const server = yield* bind("127.0.0.1")
        const child = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawn("socat", ["-T", "5", "-", `UDP:127.0.0.1:${server.localAddress.port}`], {
              stdio: ["pipe", "pipe", "ignore"]
            })
          ),
          (process) => Effect.sync(() => process.kill())
        )
        let output = ""
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8")
        })
        child.stdin.write("hello from socat\n")
        const [got] = yield* receiveN(server, 1, "5 seconds")
        expect(text(got!.data)).toBe("hello from socat\n")
        yield* server.send("hello from netdial\n", got!.from)
        expect(yield* eventually(() => output.includes("hello from netdial"), 300)).toBe(true)
      })
  )
})
