/**
 * `netdial connect` against real loopback peers: node echo servers (tcp, ::1, udp, unix), a node TLS server with the
 * test PKI, and netdial's SMTP server for --starttls. Output, JSON document and exit codes as a user sees them.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bin, run, runJson, stopAll } from "../support/cli.ts"
import { closedPort, echoServer, hasTool, type Peer, tlsEchoServer, udpEchoServer } from "../support/peers.ts"
import { makePki, type Pki } from "../support/pki.ts"
import { startSmtp } from "../support/smtp.ts"

let pki: Pki
let tcp: Peer
let tcp6: Peer
let tls: Peer
let wrongHost: Peer
let udp: Awaited<ReturnType<typeof udpEchoServer>>
let unix: Peer
let unixPath: string
let smtp: Awaited<ReturnType<typeof startSmtp>>
let smtpInjector: Awaited<ReturnType<typeof startSmtp>>
const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-cli-connect-"))

beforeAll(async () => {
  pki = await makePki()
  tcp = await echoServer()
  tcp6 = await echoServer({ host: "::1" })
  tls = await tlsEchoServer({ cert: pki.pki.server.chainPem, key: pki.pki.server.keyPem })
  wrongHost = await tlsEchoServer({ cert: pki.pki.wrongHost.certPem, key: pki.pki.wrongHost.keyPem })
  udp = await udpEchoServer()
  unixPath = Path.join(tmp, "echo.sock")
  unix = await echoServer({ path: unixPath })
  smtp = await startSmtp(pki.pki.server.chainPem, pki.pki.server.keyPem)
  smtpInjector = await startSmtp(pki.pki.server.chainPem, pki.pki.server.keyPem, { inject: "250 INJECTED\r\n" })
})

afterAll(async () => {
  stopAll()
  await Promise.all([tcp, tcp6, tls, wrongHost, unix].map((p) => p?.close()))
  await udp?.close()
  await smtp?.close()
  await smtpInjector?.close()
  pki?.cleanup()
  Fs.rmSync(tmp, { recursive: true, force: true })
})

describe("netdial connect", () => {
  it("copies stdin to a TCP peer and the reply to stdout, then exits 0 when the peer closes", async () => {
    const r = await run(["connect", `tcp://127.0.0.1:${tcp.port}`, "--quiet"], { stdin: "hello\nworld\n" })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("hello\nworld\n")
    expect(r.stderr).toBe("")
  })

  it("prints a summary on stderr unless --quiet", async () => {
    const r = await run(["connect", `127.0.0.1:${tcp.port}`], { stdin: "x" })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`connected tcp://127.0.0.1:${tcp.port}`)
    expect(r.stderr).toMatch(new RegExp(`address\\s+127\\.0\\.0\\.1:${tcp.port}`))
    expect(r.stderr).toMatch(/sent 1 bytes, received 1 bytes/)
  })

  it("dials IPv6 loopback in brackets, and the fsockopen form with --port", async () => {
    const v6 = await run(["connect", `tcp://[::1]:${tcp6.port}`, "--quiet"], { stdin: "six\n" })
    expect(v6.code).toBe(0)
    expect(v6.stdout).toBe("six\n")
    const split = await run(["connect", "127.0.0.1", "--port", String(tcp.port), "--quiet"], { stdin: "apart\n" })
    expect(split.code).toBe(0)
    expect(split.stdout).toBe("apart\n")
  })

  it("sends one UDP datagram per input line and prints each reply on its own line", async () => {
    const before = udp.received.length
    const r = await run(["connect", `udp://127.0.0.1:${udp.port}`, "--quiet", "--wait", "0.5"], {
      stdin: "one\ntwo\r\nthree"
    })
    expect(r.code).toBe(0)
    expect(udp.received.slice(before)).toEqual(["one", "two", "three"])
    expect(r.stdout.split("\n").filter(Boolean).sort()).toEqual(["one", "three", "two"])
  })

  it("--crlf sends stdin's line ends as CRLF, leaving existing CRLFs alone", async () => {
    const r = await run(["connect", `tcp://127.0.0.1:${tcp.port}`, "--quiet", "--crlf"], {
      stdin: "EHLO a\nNOOP\r\nQUIT\n"
    })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("EHLO a\r\nNOOP\r\nQUIT\r\n")
  })

  it("stops quietly when the reader of its output goes away (EPIPE)", async () => {
    const { spawn } = await import("node:child_process")
    // 4 MiB through the echo server into `head`, which leaves after 10 bytes: netdial must not print a stack trace.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      // The echo server lives in this process: the pipeline must run asynchronously.
      const child = spawn("sh", [
        "-c",
        `head -c 4194304 /dev/zero | tr '\\0' x | "${process.execPath}" "${bin}" connect tcp://127.0.0.1:${tcp.port} --quiet | head -c 10`
      ])
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d) => (stdout += d))
      child.stderr.on("data", (d) => (stderr += d))
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`pipeline did not finish in 20 s; stderr: ${stderr}`))
      }, 20_000)
      child.on("close", (status) => {
        clearTimeout(timer)
        resolve({ status, stdout, stderr })
      })
    })
    expect(r.status).toBe(0)
    expect(r.stdout).toBe("x".repeat(10))
    expect(r.stderr).toBe("")
  })

  it("connects to a unix socket", async () => {
    const r = await run(["connect", `unix://${unixPath}`, "--quiet"], { stdin: "local\n" })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("local\n")
  })

  it("speaks TLS verified against --ca, and reports version, cipher, peer and expiry", async () => {
    const r = await run(["connect", `tls://localhost:${tls.port}`, "--ca", pki.files.ca.cert], { stdin: "secret\n" })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("secret\n")
    expect(r.stderr).toMatch(/tls\s+TLSv1\.3 TLS_\w+/)
    expect(r.stderr).toMatch(/peer\s+CN=localhost/)
    expect(r.stderr).toMatch(/expires\s+\d{4}-\d\d-\d\d \(\d+ days left\)/)
    expect(r.stderr).toMatch(/verified\s+yes/)
  })

  it("gives the session as one JSON document with --json", async () => {
    const r = await runJson(["connect", `tls://127.0.0.1:${tls.port}`, "--ca", pki.files.ca.cert, "--tls-max", "1.2"], {
      stdin: "json\n"
    })
    expect(r.code).toBe(0)
    expect(r.json).toMatchObject({
      command: "connect",
      ok: true,
      ended: "peer closed",
      sent: 5,
      received: { bytes: 5, truncated: false, text: "json\n" },
      connection: {
        url: `tls://127.0.0.1:${tls.port}`,
        role: "client",
        remoteAddress: `127.0.0.1:${tls.port}`,
        tls: {
          protocol: "TLSv1.2",
          verified: true,
          verifyError: null,
          peerCertificate: { subject: "CN=localhost, O=netdial" }
        }
      }
    })
    expect(r.json.connection.tls.peerCertificate.sha256).toBe(pki.pki.server.fingerprints.sha256)
  })

  it("refuses an untrusted certificate: exit 1 with the TLS problem", async () => {
    const r = await runJson(["connect", `tls://localhost:${tls.port}`], { stdin: "never\n" })
    expect(r.code).toBe(1)
    expect(r.json).toMatchObject({ ok: false, error: { type: "TransportError", reason: "TlsHandshakeFailed" } })
    expect(r.json.error.tlsProblem).toBeDefined()
    expect(tls.received).not.toContain("never\n")
  })

  it("refuses a certificate for another name, and --insecure connects anyway while saying what was wrong", async () => {
    const refused = await runJson(["connect", `tls://localhost:${wrongHost.port}`, "--ca", pki.files.ca.cert])
    expect(refused.code).toBe(1)
    expect(refused.json.error.tlsProblem).toBe("HostnameMismatch")
    const insecure = await run(
      ["connect", `tls://localhost:${wrongHost.port}`, "--ca", pki.files.ca.cert, "--insecure"],
      {
        stdin: "anyway\n"
      }
    )
    expect(insecure.code).toBe(0)
    expect(insecure.stdout).toBe("anyway\n")
    expect(insecure.stderr).toMatch(/verified\s+no \(ERR_TLS_CERT_ALTNAME_INVALID\)/)
  })

  it("checks --pin against the certificate's sha256", async () => {
    const good = `sha256:${pki.pki.server.fingerprints.sha256.toUpperCase().replace(/(..)(?!$)/g, "$1:")}`
    const ok = await run(
      ["connect", `tls://localhost:${tls.port}`, "--ca", pki.files.ca.cert, "--pin", good, "--quiet"],
      {
        stdin: "pinned\n"
      }
    )
    expect(ok.code).toBe(0)
    expect(ok.stdout).toBe("pinned\n")
    const bad = await runJson([
      "connect",
      `tls://localhost:${tls.port}`,
      "--ca",
      pki.files.ca.cert,
      "--pin",
      `sha256:${"ab".repeat(32)}`
    ])
    expect(bad.code).toBe(1)
    expect(bad.json.error.tlsProblem).toBe("FingerprintMismatch")
    const malformed = await runJson(["connect", `tls://localhost:${tls.port}`, "--pin", "sha256:xyz"])
    expect(malformed.code).toBe(2)
    expect(malformed.json.error.message).toMatch(/--pin/)
  })

  it("runs the SMTP STARTTLS dialogue with --starttls smtp, then hands over the TLS session", async () => {
    const r = await runJson(
      [
        "connect",
        `tcp://127.0.0.1:${smtp.port}`,
        "--starttls",
        "smtp",
        "--ca",
        pki.files.ca.cert,
        "--peer-name",
        "localhost"
      ],
      { stdin: "NOOP\r\nQUIT\r\n" }
    )
    expect(r.code).toBe(0)
    expect(r.json.starttls.protocol).toBe("smtp")
    expect(r.json.starttls.capabilitiesBeforeTls).toContain("STARTTLS")
    expect(r.json.starttls.capabilities).not.toContain("STARTTLS")
    expect(r.json.connection.tls).toMatchObject({ verified: true })
    expect(r.json.received.text).toMatch(/^250 .*\r\n221 /s)
  })

  it("refuses a response injected after STARTTLS's 220: exit 1, nothing sent", async () => {
    const r = await runJson(
      [
        "connect",
        `tcp://127.0.0.1:${smtpInjector.port}`,
        "--starttls",
        "smtp",
        "--ca",
        pki.files.ca.cert,
        "--peer-name",
        "localhost"
      ],
      { stdin: "QUIT\r\n" }
    )
    expect(r.code).toBe(1)
    expect(r.json.error).toMatchObject({ type: "StartTlsError", reason: "Injection", protocol: "smtp" })
  })

  it("exit 1 for a refused connection, with the address and the OS code", async () => {
    const port = await closedPort()
    const r = await runJson(["connect", `tcp://127.0.0.1:${port}`])
    expect(r.code).toBe(1)
    expect(r.json.error).toMatchObject({
      type: "TransportError",
      reason: "Refused",
      code: "ECONNREFUSED",
      address: `127.0.0.1:${port}`
    })
    const text = await run(["connect", `tcp://127.0.0.1:${port}`])
    expect(text.stderr).toMatch(/netdial connect: .*\[Refused\]/)
  })

  it("exit 2 for a bad URL, with the reason, position and fix", async () => {
    const r = await runJson(["connect", "::1:80"])
    expect(r.code).toBe(2)
    expect(r.json.error).toMatchObject({
      type: "TransportUrlError",
      reason: "UnbracketedIpv6",
      position: 0,
      suggestion: "tcp://[::1]:80"
    })
    const text = await run(["connect", "tcp://127.0.0.1:80abc"])
    expect(text.code).toBe(2)
    expect(text.stderr).toMatch(/\[InvalidPort\]/)
  })

  it("exit 2 for TLS flags on a plaintext URL, and for sslv3://", async () => {
    const flags = await runJson(["connect", `tcp://127.0.0.1:${tcp.port}`, "--ca", pki.files.ca.cert])
    expect(flags.code).toBe(2)
    expect(flags.json.error.message).toMatch(/tls:\/\/127\.0\.0\.1:\d+\) or --starttls/)
    const sslv3 = await runJson(["connect", `sslv3://127.0.0.1:${tls.port}`])
    expect(sslv3.code).toBe(1)
    expect(sslv3.json.error.message).toMatch(/RFC 7568/)
  })

  describe.skipIf(!hasTool("openssl"))("against openssl s_server", () => {
    it("talks TLS to `openssl s_server -rev` (it sends each line back reversed)", async () => {
      const server = spawn(
        "openssl",
        [
          "s_server",
          "-accept",
          "127.0.0.1:0",
          "-cert",
          pki.files.server.cert,
          "-key",
          pki.files.server.key,
          "-cert_chain",
          pki.files.ca.cert,
          "-rev",
          "-naccept",
          "1"
        ],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
      try {
        let out = ""
        server.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
        // s_server prints `ACCEPT 127.0.0.1:PORT` when it listens (bounded wait).
        let port: number | undefined
        for (let i = 0; i < 100 && port === undefined; i++) {
          const m = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(out)
          if (m !== null) port = Number(m[1])
          else await new Promise((r) => setTimeout(r, 50))
        }
        expect(port, `openssl s_server did not start: ${out}`).toBeDefined()
        const r = await runJson(["connect", `tls://localhost:${port}`, "--ca", pki.files.ca.cert], {
          stdin: "hello openssl\n"
        })
        expect(r.code).toBe(0)
        expect(r.json.received.text).toBe("lssnepo olleh\n")
        expect(r.json.ended).toBe("peer closed")
        expect(r.json.connection.tls).toMatchObject({ protocol: "TLSv1.3", verified: true })
      } finally {
        server.kill("SIGKILL")
      }
    })
  })
})
