import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it, layer } from "@effect/vitest"
import { knownSchemes } from "@netdial/url"
import { Effect, Layer, Result, Stream } from "effect"
import { AddressResolver, Dns, NetAddress } from "effect/net"
import { Socket } from "effect/socket"
import { AddressPolicy, alias, type Connection, TransportError, Transports } from "../src/index.ts"

/** Reads until `n` bytes arrived (bounded by the test timeout). */
const readBytes = (connection: Connection, n: number) =>
  Effect.gen(function* () {
    const reader = yield* connection.reader
    const chunks: Array<Uint8Array> = []
    let total = 0
    while (total < n) {
      const batch = yield* reader.pull
      for (const chunk of batch) {
        const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk
        chunks.push(bytes)
        total += bytes.length
      }
    }
    return Buffer.concat(chunks).toString("utf8")
  })

const write = (connection: Connection, text: string) =>
  Effect.gen(function* () {
    const writer = yield* connection.writer
    yield* writer.write(new TextEncoder().encode(text))
  })

const echoSink = (connection: Connection) =>
  Effect.gen(function* () {
    const reader = yield* connection.reader
    const writer = yield* connection.writer
    while (true) {
      const batch = yield* reader.pull
      yield* writer.writeAll(batch as never)
    }
  }).pipe(Effect.catch(() => Effect.void))

layer(Transports.layerNode, { excludeTestServices: true })("Transports on Node", (it) => {
  it.effect("tcp: connect to a netdial listener on 127.0.0.1 and ::1, echo, addresses", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      for (const host of ["127.0.0.1", "[::1]"]) {
        const listener = yield* transports.listen(`tcp://${host}:0`)
        expect(listener.url.port).toBeGreaterThan(0)
        yield* listener.serve(echoSink).pipe(Effect.forkScoped)
        const connection = yield* transports.connect(listener.url)
        expect(connection.mode).toBe("stream")
        expect(connection.tls).toBeUndefined()
        expect(NetAddress.isInetAddress(connection.remoteAddress)).toBe(true)
        expect((connection.remoteAddress as NetAddress.InetAddress).port).toBe(listener.url.port)
        yield* write(connection, "hello netdial")
        expect(yield* readBytes(connection, 13)).toBe("hello netdial")
      }
    }).pipe(Effect.scoped)
  )

  it.effect("tcp: the fsockopen form with a raw IPv6 host", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://[::1]:0")
      yield* listener.serve(echoSink).pipe(Effect.forkScoped)
      const connection = yield* transports.connectHostPort("::1", listener.url.port!)
      yield* write(connection, "v6")
      expect(yield* readBytes(connection, 2)).toBe("v6")
    }).pipe(Effect.scoped)
  )

  it.effect("tcp: pull-style accept and half-close", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      const client = yield* transports.connect(listener.url)
      const server = yield* listener.accept
      yield* write(client, "request")
      yield* client.shutdownWrite
      // the server reads to EOF, then answers on its still-open write side
      const reader = yield* server.reader
      let got = ""
      const closed = yield* Effect.gen(function* () {
        while (true) {
          const batch = yield* reader.pull
          for (const c of batch) got += typeof c === "string" ? c : Buffer.from(c).toString()
        }
      }).pipe(Effect.flip)
      expect(got).toBe("request")
      expect(closed.reason._tag).toBe("SocketCloseError")
      yield* write(server, "response after FIN")
      expect(yield* readBytes(client, 18)).toBe("response after FIN")
      expect((yield* listener.stats).accepted).toBe(1)
    }).pipe(Effect.scoped)
  )

  it.effect("serve: each handler runs in its connection's scope, released when the handler ends", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      let released = 0
      yield* listener.serve(() => Effect.addFinalizer(() => Effect.sync(() => released++))).pipe(Effect.forkScoped)
      for (let i = 0; i < 3; i++) yield* Effect.scoped(transports.connect(listener.url))
      for (let i = 0; i < 100 && released < 3; i++) yield* Effect.sleep("10 millis")
      // the server is still running, and every finished handler's finalizers have run
      expect(released).toBe(3)
    }).pipe(Effect.scoped)
  )

  it.effect("tcp: Socket.toStream of effect/socket works on a connection", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      yield* listener
        .serve((c) =>
          Effect.gen(function* () {
            const writer = yield* c.writer
            yield* writer.write(new TextEncoder().encode("a".repeat(100_000)))
          })
        )
        .pipe(Effect.forkScoped)
      const connection = yield* transports.connect(listener.url)
      const bytes = yield* Socket.toStream(connection).pipe(
        Stream.catch(() => Stream.empty),
        Stream.runFold(
          () => 0,
          (n, chunk) => n + chunk.length
        )
      )
      expect(bytes).toBe(100_000)
    }).pipe(Effect.scoped)
  )

  it.effect("refused: a closed port gives Refused with the address and the OS code", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const port = yield* Effect.promise(() => freePort())
      const error = yield* transports.connect(`tcp://127.0.0.1:${port}`).pipe(Effect.flip)
      expect(error).toBeInstanceOf(TransportError)
      expect(error.reason).toBe("Refused")
      expect(error.code).toBe("ECONNREFUSED")
      expect(error.address).toBe(`127.0.0.1:${port}`)
      expect(error.errno).toBe(111)
      expect(error.message).toContain("refused")
    }).pipe(Effect.scoped)
  )

  it.effect("bad input: URL and options errors are typed, before any I/O", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const url = yield* transports.connect("tcp://::1:80").pipe(Effect.flip)
      expect(url.reason).toBe("BadUrl")
      expect(url.message).toContain("tcp://[::1]:80")
      const unknown = yield* transports.connect("tcp://127.0.0.1:1", { conectTimeout: 5 } as never).pipe(Effect.flip)
      expect(unknown.reason).toBe("BadOption")
      expect(unknown.message).toContain("conectTimeout")
      const typed = yield* transports.connect("tcp://127.0.0.1:1", { noDelay: "yes" } as never).pipe(Effect.flip)
      expect(typed.reason).toBe("BadOption")
      expect(typed.message).toContain("noDelay")
      const scheme = yield* transports.connect("gopher://127.0.0.1:70").pipe(Effect.flip)
      expect(scheme.reason).toBe("UnsupportedTransport")
      const sslv3 = yield* transports.connect("sslv3://127.0.0.1:443").pipe(Effect.flip)
      expect(sslv3.reason).toBe("UnsupportedTransport")
      expect(sslv3.message).toContain("RFC 7568")
      const sslv2 = yield* transports.connect("sslv2://127.0.0.1:443").pipe(Effect.flip)
      expect(sslv2.message).toContain("RFC 6176")
      const udg = yield* transports.connect("udg:///tmp/x.sock").pipe(Effect.flip)
      expect(udg.reason).toBe("UnsupportedTransport")
      expect(udg.message).toContain("dgram")
    })
  )

  it.effect("registry: lists every built-in scheme and takes an alias", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const schemes = (yield* transports.list).map((t) => t.scheme)
      // every scheme @netdial/url knows, in PHP's order
      expect(schemes).toEqual([...knownSchemes])
      // an alias: a new scheme with default options over an existing transport
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      yield* transports.register(alias("plain", yield* transports.get("tcp"), { connect: { noDelay: true } }))
      expect((yield* transports.list).map((t) => t.scheme)).toContain("plain")
      const connection = yield* transports.connect(`plain://127.0.0.1:${listener.url.port}`)
      expect(connection.url.scheme).toBe("plain")
      yield* listener.accept
    }).pipe(Effect.scoped)
  )

  it.effect("unix: listen, connect, echo; the socket file is removed on close", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-"))
      const file = Path.join(dir, "echo.sock")
      yield* Effect.gen(function* () {
        const listener = yield* transports.listen(`unix://${file}`)
        yield* listener.serve(echoSink).pipe(Effect.forkScoped)
        expect(Fs.existsSync(file)).toBe(true)
        const connection = yield* transports.connect(`unix://${file}`)
        expect(NetAddress.isUnixPathAddress(connection.remoteAddress)).toBe(true)
        yield* write(connection, "over unix")
        expect(yield* readBytes(connection, 9)).toBe("over unix")
      }).pipe(Effect.scoped)
      expect(Fs.existsSync(file)).toBe(false)
      Fs.rmSync(dir, { recursive: true, force: true })
    })
  )

  it.effect("unix: a stale socket file is replaced; a live one is AddressInUse; a regular file is never removed", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-"))
      const stale = Path.join(dir, "stale.sock")
      // make a stale socket: a server that exits without unlinking (as PHP leaves them)
      yield* Effect.promise(() => makeStaleSocket(stale))
      expect(Fs.existsSync(stale)).toBe(true)
      yield* Effect.scoped(transports.listen(`unix://${stale}`))
      const strict = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Effect.promise(() => makeStaleSocket(stale))
          return yield* transports.listen(`unix://${stale}`, { existingSocketFile: "fail" })
        })
      ).pipe(Effect.flip)
      expect(strict.reason).toBe("AddressInUse")
      const live = Path.join(dir, "live.sock")
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* transports.listen(`unix://${live}`)
          const error = yield* transports.listen(`unix://${live}`).pipe(Effect.flip)
          expect(error.reason).toBe("AddressInUse")
          expect(error.message).toContain("already listening")
        })
      )
      const regular = Path.join(dir, "regular.txt")
      Fs.writeFileSync(regular, "keep me")
      const error = yield* Effect.scoped(transports.listen(`unix://${regular}`)).pipe(Effect.flip)
      expect(error.reason).toBe("AddressInUse")
      expect(Fs.readFileSync(regular, "utf8")).toBe("keep me")
      Fs.rmSync(dir, { recursive: true, force: true })
    })
  )

  it.effect("unix: Linux abstract sockets", () =>
    Effect.gen(function* () {
      if (process.platform !== "linux") return
      const transports = yield* Transports
      const name = `netdial-test-${process.pid}-${Date.now()}`
      const listener = yield* transports.listen(`unix://@${name}`)
      yield* listener.serve(echoSink).pipe(Effect.forkScoped)
      const connection = yield* transports.connect(`unix://@${name}`)
      yield* write(connection, "abstract")
      expect(yield* readBytes(connection, 8)).toBe("abstract")
    }).pipe(Effect.scoped)
  )

  it.effect("udp: a bound endpoint's url carries the port the OS chose", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const endpoint = yield* transports.bind("udp://127.0.0.1:0")
      expect(endpoint.url.port).toBeGreaterThan(0)
      expect(endpoint.url.port).toBe(endpoint.localAddress.port)
    }).pipe(Effect.scoped)
  )

  it.effect("tcp: address in use", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      const error = yield* transports.listen(listener.url).pipe(Effect.flip)
      expect(error.reason).toBe("AddressInUse")
      expect(error.code).toBe("EADDRINUSE")
    }).pipe(Effect.scoped)
  )

  it.effect("policy: IP literals are checked too", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      const error = yield* transports
        .connect(listener.url, { addressPolicy: AddressPolicy.publicOnly })
        .pipe(Effect.flip)
      expect(error.reason).toBe("AddressDenied")
      expect(error.message).toContain("loopback")
      const mapped = yield* transports
        .connect(`tcp://[::ffff:127.0.0.1]:${listener.url.port}`, { addressPolicy: AddressPolicy.denyLoopback })
        .pipe(Effect.flip)
      expect(mapped.reason).toBe("AddressDenied")
    }).pipe(Effect.scoped)
  )
})

// Names resolved by a static zone, so Happy Eyeballs and the policy are tested without real DNS.
const zone = Dns.makeStatic({
  hosts: {
    "dual.test": ["::1", "127.0.0.1"],
    "rebind.test": ["127.0.0.1"],
    "blackhole.test": ["192.0.2.1"]
  }
})
// "hang.test" never answers: a DNS server that is down, for the connect timeout (which includes resolution).
const staticDns = Layer.succeed(Dns.Dns)(
  Dns.make({
    lookup: (host, family) => (host === "hang.test" ? Effect.never : Result.getOrThrow(zone).lookup(host, { family }))
  })
)
const staticLayer = Transports.layer.pipe(Layer.provide(AddressResolver.layer()), Layer.provide(staticDns))

layer(staticLayer, { excludeTestServices: true })("Transports with a static resolver", (it) => {
  it.effect("Happy Eyeballs: a name with ::1 and 127.0.0.1, only the IPv4 one listening, connects", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const listener = yield* transports.listen("tcp://127.0.0.1:0")
      yield* listener.serve(echoSink).pipe(Effect.forkScoped)
      const started = Date.now()
      const connection = yield* transports.connect(`tcp://dual.test:${listener.url.port}`)
      // ::1 is refused at once, so IPv4 starts immediately rather than after the 250 ms attempt delay
      expect(Date.now() - started).toBeLessThan(2000)
      expect(NetAddress.formatHost(connection.remoteAddress as NetAddress.InetAddress)).toBe("127.0.0.1")
      const v6 = yield* transports.connect(`tcp://dual.test:${listener.url.port}`, { family: "ipv6" }).pipe(Effect.flip)
      expect(v6.reason).toBe("Refused")
    }).pipe(Effect.scoped)
  )

  it.effect("every address refused: one error that lists the attempts", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const port = yield* Effect.promise(() => freePort())
      const error = yield* transports.connect(`tcp://dual.test:${port}`).pipe(Effect.flip)
      expect(error.reason).toBe("Refused")
      expect(error.attempts?.length).toBe(2)
      expect(error.message).toContain(`[::1]:${port}`)
      expect(error.message).toContain(`127.0.0.1:${port}`)
    })
  )

  it.effect("host not found", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const error = yield* transports.connect("tcp://missing.test:80").pipe(Effect.flip)
      expect(error.reason).toBe("HostNotFound")
      expect(error.message).toContain("missing.test")
    })
  )

  it.effect("SSRF guard: a name that resolves to loopback is refused after resolution", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const error = yield* transports
        .connect("tcp://rebind.test:80", { addressPolicy: AddressPolicy.publicOnly })
        .pipe(Effect.flip)
      expect(error.reason).toBe("AddressDenied")
      expect(error.message).toContain("127.0.0.1 is a loopback address")
    })
  )

  it.effect("connect timeout covers DNS; the policy refuses before any packet", () =>
    Effect.gen(function* () {
      const transports = yield* Transports
      const started = Date.now()
      const timedOut = yield* transports
        .connect("tcp://hang.test:80", { connectTimeout: "300 millis" })
        .pipe(Effect.flip)
      expect(timedOut.reason).toBe("TimedOut")
      expect(timedOut.message).toContain("connectTimeout")
      expect(Date.now() - started).toBeLessThan(5000)
      // 192.0.2.1 (TEST-NET-1) is never dialed: the policy refuses it first
      const denied = yield* transports
        .connect("tcp://blackhole.test:80", {
          addressPolicy: AddressPolicy.allowOnly("loopback", NetAddress.isLoopback)
        })
        .pipe(Effect.flip)
      expect(denied.reason).toBe("AddressDenied")
    })
  )
})

describe("AddressPolicy", () => {
  const ip = (s: string) => NetAddress.ipFromStringUnsafe(s)
  it("publicOnly denies loopback, private, link-local, unspecified, multicast, mapped forms", () => {
    for (const denied of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "fe80::1",
      "fd00::1",
      "::",
      "ff02::1",
      "224.0.0.1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1"
    ]) {
      expect(AddressPolicy.publicOnly.check(ip(denied)), denied).toBeDefined()
    }
    for (const allowed of ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"]) {
      expect(AddressPolicy.publicOnly.check(ip(allowed)), allowed).toBeUndefined()
    }
  })
})

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** A unix socket file left behind by a server that is gone (bind without listen, then close without unlink). */
const makeStaleSocket = (path: string): Promise<void> =>
  new Promise((resolve, reject) => {
    Fs.rmSync(path, { force: true })
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(path, () => {
      // Node unlinks on close; keep the file by closing the handle the hard way: a copy of the inode via link()
      Fs.linkSync(path, `${path}.keep`)
      server.close(() => {
        Fs.renameSync(`${path}.keep`, path)
        resolve()
      })
    })
  })
