/**
 * Interop with OpenSSL's own tools: our client against `openssl s_server`, and `openssl s_client` against a
 * `tls.Server` built from `tlsServerSecureContextOptions`. Skipped, with the reason in the test name, when the
 * `openssl` binary is not on PATH.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import { describe, expect, it } from "@effect/vitest"
import { makeTestPki, type TestPkiFiles, writeTestPki } from "@netdial/testkit"
import { Effect } from "effect"
import { handshake, tlsClientConnectOptions } from "../../src/internal/tlsClient.ts"
import { tlsServerSecureContextOptions } from "../../src/internal/tlsServer.ts"
import type { TlsClientOptions } from "../../src/TlsOptions.ts"

const opensslVersion = spawnSync("openssl", ["version"], { encoding: "utf8" })
const hasOpenssl = opensslVersion.status === 0
const needs = hasOpenssl ? "" : " [skipped: the `openssl` command is not installed or not on PATH]"

const pki = await makeTestPki()

// -- Helpers ------------------------------------------------------------------------------------------------------

/** The test PKI as files, in a temporary directory removed at scope end. */
const pkiFiles = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await mkdtemp(join(tmpdir(), "netdial-openssl-"))
    return writeTestPki(pki, dir)
  }),
  (files) => Effect.promise(() => rm(files.dir, { recursive: true, force: true }))
)

/** A free port: bind port 0, read it, close. s_server does not report an ephemeral port it picked itself. */
const freePort = Effect.callback<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

interface Tool {
  readonly child: ChildProcessWithoutNullStreams
  /** stdout and stderr, interleaved as they arrived. */
  readonly output: () => string
}

/** Spawns an openssl tool; its stdin stays open (s_server and s_client quit at EOF); killed at scope end. */
const openssl = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Tool => {
      const child = spawn("openssl", [...args], { stdio: ["pipe", "pipe", "pipe"] })
      let output = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
      child.on("error", (error) => (output += `\nspawn error: ${error.message}`))
      return { child, output: () => output }
    }),
    ({ child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => child.kill("SIGKILL"), 2000)
        child.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        child.kill("SIGTERM")
      })
  )

/** Waits (on the real clock, at most 10 s) until the tool's output matches. */
const waitForOutput = (tool: Tool, pattern: RegExp) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200 && !pattern.test(tool.output()); i++) {
      if (tool.child.exitCode !== null) break
      yield* Effect.sleep("50 millis")
    }
    if (!pattern.test(tool.output())) {
      throw new Error(`openssl output never matched ${pattern}:\n${tool.output()}`)
    }
  })

/** `openssl s_server` on 127.0.0.1 with the test server certificate; ready once it prints ACCEPT. */
const sServer = (files: TestPkiFiles, extra: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const tool = yield* openssl([
      "s_server",
      "-accept",
      `127.0.0.1:${port}`,
      "-cert",
      files.server.cert,
      "-key",
      files.server.key,
      ...extra
    ])
    yield* waitForOutput(tool, /^ACCEPT$/m)
    return { port, tool }
  })

const dial = (port: number, opts: TlsClientOptions, scheme = "tls") =>
  Effect.gen(function* () {
    const context = { host: "localhost", isIpLiteral: false, scheme }
    const options = yield* tlsClientConnectOptions(opts, context)
    const socket = tls.connect({ ...options, host: "127.0.0.1", port })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    const details = yield* handshake(socket, opts, context).pipe(Effect.timeout("10 seconds"))
    socket.on("error", () => {})
    return { socket, details }
  })

const trusting: TlsClientOptions = { ca: pki.ca.certPem }

// -- Our client against s_server ----------------------------------------------------------------------------------

describe("netdial client ↔ openssl s_server", () => {
  it.live.skipIf(!hasOpenssl)(`tlsv1.2:// against s_server -tls1_2${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const { port } = yield* sServer(files, ["-tls1_2"])
      const { details } = yield* dial(port, trusting, "tlsv1.2")
      expect(details.protocol).toBe("TLSv1.2")
      expect(details.authorized).toBe(true)
      expect(details.cipher.version).toBe("TLSv1.2")
    })
  )

  it.live.skipIf(!hasOpenssl)(`tlsv1.3:// against s_server -tls1_3${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const { port } = yield* sServer(files, ["-tls1_3"])
      const { details } = yield* dial(port, trusting, "tlsv1.3")
      expect(details.protocol).toBe("TLSv1.3")
      expect(details.cipher.name).toMatch(/^TLS_/)
    })
  )

  it.live.skipIf(!hasOpenssl)(`tlsv1.3:// against s_server -tls1_2 → ProtocolVersion${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const { port } = yield* sServer(files, ["-tls1_2"])
      const error = yield* Effect.flip(dial(port, trusting, "tlsv1.3"))
      expect(error._tag).toBe("TransportError")
      if (error._tag === "TransportError") {
        expect(error.tlsProblem).toBe("ProtocolVersion")
        expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION")
      }
    })
  )

  it.live.skipIf(!hasOpenssl)(`client certificate against s_server -Verify 1${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const { port, tool } = yield* sServer(files, ["-Verify", "1", "-CAfile", files.ca.cert, "-tls1_2"])
      const { details } = yield* dial(
        port,
        {
          ...trusting,
          cert: { file: files.client.cert },
          key: { file: files.client.encryptedKey },
          passphrase: pki.passphrase
        },
        "tlsv1.2"
      )
      expect(details.authorized).toBe(true)
      // s_server prints the verified client chain.
      yield* waitForOutput(tool, /CN\s*=\s*netdial client/)
      expect(tool.output()).toMatch(/verify return:1/)
    })
  )

  it.live.skipIf(!hasOpenssl)(`s_server -Verify 1 without a client certificate fails the handshake${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const { port } = yield* sServer(files, ["-Verify", "1", "-CAfile", files.ca.cert, "-tls1_2"])
      const error = yield* Effect.flip(dial(port, trusting, "tlsv1.2"))
      expect(error._tag).toBe("TransportError")
      if (error._tag === "TransportError") {
        expect(error.reason).toBe("TlsHandshakeFailed")
        // OpenSSL's server sends handshake_failure (40) for a missing certificate in TLS 1.2.
        expect(error.code).toBe("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE")
      }
    })
  )

  it.live.skipIf(!hasOpenssl)(`ALPN with s_server -alpn: the server's preference wins${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const { port, tool } = yield* sServer(files, ["-alpn", "h2,http/1.1"])
      const { details } = yield* dial(port, { ...trusting, alpn: ["http/1.1", "h2"] })
      expect(details.alpnProtocol).toBe("h2")
      yield* waitForOutput(tool, /ALPN protocols selected: h2/)
    })
  )
})

// -- s_client against our server ----------------------------------------------------------------------------------

/** A tls.Server from our options that greets every client; closed at scope end. */
const ourServer = (opts: Parameters<typeof tlsServerSecureContextOptions>[0], scheme = "tls") =>
  Effect.gen(function* () {
    const options = yield* tlsServerSecureContextOptions(opts, { scheme })
    const sockets = new Set<tls.TLSSocket>()
    const server = yield* Effect.acquireRelease(
      Effect.callback<tls.Server>((resume) => {
        const server = tls.createServer(options, (socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => {})
          socket.write(`hello ${socket.getProtocol()} ${socket.authorized ? "authorized" : "anonymous"}\n`)
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return (server.address() as net.AddressInfo).port
  })

const sClient = (port: number, files: TestPkiFiles, extra: ReadonlyArray<string>) =>
  openssl([
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-CAfile",
    files.ca.cert,
    "-servername",
    "localhost",
    "-verify_return_error",
    "-brief",
    ...extra
  ])

describe("openssl s_client ↔ netdial server options", () => {
  it.live.skipIf(!hasOpenssl)(`s_client negotiates TLSv1.3 by default and TLSv1.2 when pinned${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const port = yield* ourServer({ cert: { file: files.server.cert }, key: { file: files.server.key } })
      const v13 = yield* sClient(port, files, [])
      yield* waitForOutput(v13, /hello TLSv1\.3 anonymous/)
      expect(v13.output()).toMatch(/Protocol version: TLSv1\.3/)
      expect(v13.output()).toMatch(/Verification: OK/)
      const v12 = yield* sClient(port, files, ["-tls1_2"])
      yield* waitForOutput(v12, /hello TLSv1\.2 anonymous/)
      expect(v12.output()).toMatch(/Protocol version: TLSv1\.2/)
    })
  )

  it.live.skipIf(!hasOpenssl)(`a tlsv1.2 listener refuses s_client -tls1_3${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const port = yield* ourServer({ cert: pki.server.certPem, key: pki.server.keyPem }, "tlsv1.2")
      const client = yield* sClient(port, files, ["-tls1_3"])
      yield* waitForOutput(client, /alert protocol version/)
    })
  )

  it.live.skipIf(!hasOpenssl)(`requireClientCertificate with s_client -cert/-key/-pass${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const port = yield* ourServer({
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        ca: { file: files.ca.cert },
        requireClientCertificate: true
      })
      const client = yield* sClient(port, files, [
        "-cert",
        files.client.cert,
        "-key",
        files.client.encryptedKey,
        "-pass",
        `pass:${pki.passphrase}`
      ])
      yield* waitForOutput(client, /hello TLSv1\.3 authorized/)
    })
  )

  it.live.skipIf(!hasOpenssl)(`ALPN and SNI certificates as s_client sees them${needs}`, () =>
    Effect.gen(function* () {
      const files = yield* pkiFiles
      const port = yield* ourServer({
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        alpn: ["h2", "http/1.1"],
        sniCertificates: { "wrong.example": { cert: pki.wrongHost.certPem, key: pki.wrongHost.keyPem } }
      })
      const alpn = yield* sClient(port, files, ["-alpn", "http/1.1,h2"])
      yield* waitForOutput(alpn, /hello TLSv1\.3/)
      // -brief prints the peer certificate's subject.
      expect(alpn.output()).toMatch(/Peer certificate: CN\s*=\s*localhost/)
      const sni = yield* openssl([
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-CAfile",
        files.ca.cert,
        "-servername",
        "wrong.example",
        "-verify_return_error",
        "-brief"
      ])
      yield* waitForOutput(sni, /hello TLSv1\.3/)
      expect(sni.output()).toMatch(/Peer certificate: CN\s*=\s*wrong\.example/)
    })
  )
})
