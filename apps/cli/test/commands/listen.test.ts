/**
 * `netdial listen` with real clients from the test (node:net, node:tls, node:dgram) and netdial's own `connect`:
 * data to stdout, --echo, stdin to the most recent client, --once / --max-connections, udp, unix, the JSON document
 * and the exit codes.
 */
import { spawn } from "node:child_process"
import * as Dgram from "node:dgram"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { run, runJson, start, startListener, stopAll } from "../support/cli.ts"
import { hasTool } from "../support/peers.ts"
import { makePki, type Pki } from "../support/pki.ts"

let pki: Pki
const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-cli-listen-"))

beforeAll(async () => {
  pki = await makePki()
})

afterAll(() => {
  stopAll()
  pki?.cleanup()
  Fs.rmSync(tmp, { recursive: true, force: true })
})

/** Connects, writes `text`, half-closes, and resolves with everything received until the server closes. */
const exchange = (connect: () => Net.Socket, text: string, timeoutMs = 10_000) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect()
    let got = ""
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got)}`))
    }, timeoutMs)
    socket.on("data", (d) => (got += d.toString("utf8")))
    socket.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(got)
    })
    socket.write(text, () => socket.end())
  })

describe("netdial listen", () => {
  it("prints what a client sends, and exits 0 after --once", async () => {
    const server = await startListener(["tcp://127.0.0.1:0", "--once"])
    expect(server.url).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    await exchange(() => Net.connect(server.port, "127.0.0.1"), "from the client\n")
    expect(await server.exited()).toMatchObject({ code: 0 })
    expect(server.stdout()).toBe("from the client\n")
    expect(server.stderr()).toMatch(/connection from 127\.0\.0\.1:\d+/)
    expect(server.stderr()).toMatch(/closed: received 16 bytes/)
  })

  it("--echo sends each client's data back; --max-connections 2 ends after two", async () => {
    const server = await startListener(["tcp://[::1]:0", "--echo", "--max-connections", "2", "--quiet"])
    expect(await exchange(() => Net.connect(server.port, "::1"), "first")).toBe("first")
    expect(await exchange(() => Net.connect(server.port, "::1"), "second")).toBe("second")
    expect(await server.exited()).toMatchObject({ code: 0 })
  })

  it("sends stdin to the connected client", async () => {
    const server = await startListener(["tcp://127.0.0.1:0", "--once"])
    const client = Net.connect(server.port, "127.0.0.1")
    let got = ""
    client.on("data", (d) => (got += d.toString("utf8")))
    await server.waitForStderr(/connection from/)
    server.child.stdin!.write("to the client\n")
    for (let i = 0; i < 100 && !got.includes("\n"); i++) await new Promise((r) => setTimeout(r, 50))
    expect(got).toBe("to the client\n")
    client.end()
    expect(await server.exited()).toMatchObject({ code: 0 })
  })

  it("serves TLS with --cert/--key (and --groups); netdial connect verifies it against the CA", async () => {
    const server = await startListener([
      "tls://127.0.0.1:0",
      "--cert",
      pki.files.server.chain,
      "--key",
      pki.files.server.key,
      "--groups",
      "P-384",
      "--echo",
      "--once"
    ])
    const client = await run(["connect", `tls://localhost:${server.port}`, "--ca", pki.files.ca.cert], {
      stdin: "over tls\n"
    })
    expect(client.code).toBe(0)
    expect(client.stdout).toBe("over tls\n")
    // The client's default offer includes P-384, the only group this server accepts.
    expect(client.stderr).toMatch(/tls\s+TLSv1\.3 \S+ \(\d+ bits\), P-384/)
    expect(await server.exited()).toMatchObject({ code: 0 })
    expect(server.stderr()).toMatch(/tls\s+TLSv1\.3/)
  })

  it("asks for client certificates with --ca --require-client-cert and refuses clients without one", async () => {
    const server = await startListener([
      "tls://127.0.0.1:0",
      "--cert",
      pki.files.server.chain,
      "--key",
      pki.files.server.key,
      "--ca",
      pki.files.ca.cert,
      "--require-client-cert",
      "--echo",
      "--once",
      "--json"
    ])
    const without = await runJson(["connect", `tls://localhost:${server.port}`, "--ca", pki.files.ca.cert], {
      stdin: "no cert\n"
    })
    expect(without.code).toBe(1)
    const withCert = await run(
      [
        "connect",
        `tls://localhost:${server.port}`,
        "--ca",
        pki.files.ca.cert,
        "--cert",
        pki.files.client.cert,
        "--key",
        pki.files.client.key,
        "--quiet"
      ],
      { stdin: "with cert\n" }
    )
    expect(withCert.code).toBe(0)
    expect(withCert.stdout).toBe("with cert\n")
    expect(await server.exited()).toMatchObject({ code: 0 })
    const doc = JSON.parse(server.stdout())
    expect(doc.connections).toHaveLength(1)
    expect(doc.connections[0].tls).toMatchObject({
      verified: true,
      peerCertificate: { subject: expect.stringContaining("CN=") }
    })
    expect(doc.stats.handshakeFailures).toBeGreaterThanOrEqual(1)
  })

  it("udp: prints each datagram on a line, answers the latest sender from stdin, exits after --max-connections", async () => {
    const server = await startListener(["udp://127.0.0.1:0", "--max-connections", "2"])
    const client = Dgram.createSocket("udp4")
    const replies: Array<string> = []
    client.on("message", (m) => replies.push(m.toString("utf8")))
    await new Promise<void>((r) => client.bind(0, "127.0.0.1", r))
    client.send("hello udp", server.port, "127.0.0.1")
    await server.waitForStdout(/hello udp\n/)
    server.child.stdin!.write("reply line\n")
    for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(replies).toEqual(["reply line"])
    client.send("bye", server.port, "127.0.0.1")
    expect(await server.exited()).toMatchObject({ code: 0 })
    expect(server.stdout()).toBe("hello udp\nbye\n")
    client.close()
  })

  it("udp --echo with netdial connect on the other end", async () => {
    const server = await startListener(["udp://127.0.0.1:0", "--echo", "--max-connections", "2", "--quiet"])
    const client = await run(["connect", `udp://127.0.0.1:${server.port}`, "--quiet", "--wait", "0.5"], {
      stdin: "a\nb\n"
    })
    expect(client.code).toBe(0)
    expect(client.stdout.split("\n").filter(Boolean).sort()).toEqual(["a", "b"])
    expect(await server.exited()).toMatchObject({ code: 0 })
  })

  it("unix: serves on a path and removes the socket file when done", async () => {
    const path = Path.join(tmp, "listen.sock")
    const server = await startListener([`unix://${path}`, "--echo", "--once", "--quiet"])
    expect(Fs.existsSync(path)).toBe(true)
    expect(await exchange(() => Net.connect(path), "unix data")).toBe("unix data")
    expect(await server.exited()).toMatchObject({ code: 0 })
    expect(Fs.existsSync(path)).toBe(false)
  })

  it("--json: one document with every connection and what it sent, and nothing on stderr but the address", async () => {
    const server = await startListener(["tcp://127.0.0.1:0", "--once", "--json"])
    await exchange(() => Net.connect(server.port, "127.0.0.1"), "recorded")
    expect(await server.exited()).toMatchObject({ code: 0 })
    const doc = JSON.parse(server.stdout())
    expect(doc).toMatchObject({
      command: "listen",
      ok: true,
      url: server.url,
      connections: [{ role: "server", ended: "closed", received: { bytes: 8, text: "recorded" } }],
      stats: { accepted: 1 }
    })
    expect(server.stderr().trim().split("\n")).toEqual([`listening on ${server.url}`])
  })

  it("Ctrl-C (SIGINT) stops the server: exit 130, and the JSON document is still written", async () => {
    const server = await startListener(["tcp://127.0.0.1:0", "--json"])
    // The server closes its end only after recording the connection, so once the exchange is over it is recorded.
    await exchange(() => Net.connect(server.port, "127.0.0.1"), "before the signal")
    server.child.kill("SIGINT")
    expect(await server.exited()).toMatchObject({ code: 130 })
    expect(JSON.parse(server.stdout()).connections[0].received.text).toBe("before the signal")
  })

  it("exit 1 when the address is in use, exit 2 for a TLS listener without a certificate or a bad URL", async () => {
    const first = await startListener(["tcp://127.0.0.1:0", "--quiet"])
    const busy = await runJson(["listen", `tcp://127.0.0.1:${first.port}`])
    expect(busy.code).toBe(1)
    expect(busy.json.error).toMatchObject({ type: "TransportError", reason: "AddressInUse" })
    first.child.kill("SIGINT")
    await first.exited()
    const noCert = await runJson(["listen", "tls://127.0.0.1:0"])
    expect(noCert.code).toBe(2)
    expect(noCert.json.error.message).toMatch(/--cert and --key/)
    const badUrl = await runJson(["listen", "tcp://127.0.0.1"])
    expect(badUrl.code).toBe(2)
    expect(badUrl.json.error.reason).toBe("MissingPort")
  })

  it("a server started by hand keeps running until told to stop", async () => {
    const server = start(["listen", "tcp://127.0.0.1:0", "--echo"])
    await server.waitForStderr(/listening on/)
    await new Promise((r) => setTimeout(r, 300))
    expect(server.child.exitCode).toBe(null)
    server.child.kill("SIGTERM")
    expect((await server.exited()).code).toBe(130)
  })

  it.skipIf(!hasTool("openssl"))("serves TLS that `openssl s_client` verifies (chain and name)", async () => {
    const server = await startListener([
      "tls://127.0.0.1:0",
      "--cert",
      pki.files.server.chain,
      "--key",
      pki.files.server.key,
      "--echo",
      "--once"
    ])
    const client = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        "openssl",
        [
          "s_client",
          "-connect",
          `127.0.0.1:${server.port}`,
          "-servername",
          "localhost",
          "-verify_hostname",
          "localhost",
          "-CAfile",
          pki.files.ca.cert,
          "-verify_return_error",
          "-quiet",
          "-no_ign_eof" // -quiet turns on -ign_eof; the session must end with stdin
        ],
        { stdio: ["pipe", "pipe", "pipe"] }
      )
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d
        // The echo is back: end the session (s_client closes on stdin's end).
        if (stdout.includes("from s_client\n")) child.stdin.end()
      })
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`openssl s_client did not finish: ${stderr}`))
      }, 15_000)
      child.on("close", (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
      child.stdin.write("from s_client\n")
    })
    expect(client.stdout).toBe("from s_client\n")
    expect(client.stderr).toMatch(/verify return:1/)
    expect(await server.exited()).toMatchObject({ code: 0 })
  })
})
