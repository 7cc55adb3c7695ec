/**
 * `netdial probe` against node TLS servers with the test PKI's good and bad certificates, netdial's SMTP server
 * (--starttls), and `openssl s_server` (skipped, naming openssl, when it is missing).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { run, runJson, stopAll } from "../support/cli.ts"
import { closedPort, echoServer, hasTool, type Peer, tlsEchoServer } from "../support/peers.ts"
import { makePki, type Pki } from "../support/pki.ts"
import { startSmtp } from "../support/smtp.ts"

let pki: Pki
let good: Peer
let expired: Peer
let wrongHost: Peer
let plain: Peer
let smtp: Awaited<ReturnType<typeof startSmtp>>

beforeAll(async () => {
  pki = await makePki()
  good = await tlsEchoServer({
    cert: pki.pki.server.chainPem,
    key: pki.pki.server.keyPem,
    ALPNProtocols: ["h2", "http/1.1"]
  })
  expired = await tlsEchoServer({ cert: pki.pki.expired.certPem, key: pki.pki.expired.keyPem })
  wrongHost = await tlsEchoServer({ cert: pki.pki.wrongHost.certPem, key: pki.pki.wrongHost.keyPem })
  plain = await echoServer()
  smtp = await startSmtp(pki.pki.server.chainPem, pki.pki.server.keyPem)
})

afterAll(async () => {
  stopAll()
  await Promise.all([good, expired, wrongHost, plain].map((p) => p?.close()))
  await smtp?.close()
  pki?.cleanup()
})

describe("netdial probe", () => {
  it("reports protocol, cipher, ALPN, the chain with fingerprints, the verdict and the time of each phase", async () => {
    const r = await runJson(["probe", `tls://localhost:${good.port}`, "--ca", pki.files.ca.cert, "--alpn", "h2"])
    expect(r.code).toBe(0)
    expect(r.json).toMatchObject({
      command: "probe",
      ok: true,
      target: `tls://localhost:${good.port}`,
      // Both ends are Node 24 (OpenSSL 3.5): the post-quantum hybrid is the first group offered and accepted.
      tls: { protocol: "TLSv1.3", alpn: "h2", servername: "localhost", keyExchange: "X25519MLKEM768" },
      verification: { verified: true, reason: null, checkedName: "localhost" }
    })
    expect(r.json.addresses.length).toBeGreaterThan(0)
    const chain = r.json.tls.chain
    expect(chain.map((c: { subject: string }) => c.subject)).toEqual([
      "CN=localhost, O=netdial",
      "CN=netdial Test CA, O=netdial"
    ])
    expect(chain[0].sha256).toBe(pki.pki.server.fingerprints.sha256)
    expect(chain[0].subjectAltNames).toEqual(["DNS:localhost", "DNS:netdial.test", "IP:127.0.0.1", "IP:::1"])
    expect(chain[0].daysLeft).toBeGreaterThan(0)
    for (const phase of ["resolveMs", "connectMs", "handshakeMs", "totalMs"]) {
      expect(r.json.phases[phase]).toBeGreaterThanOrEqual(0)
    }
  })

  it("prints the report for people, with colon-separated fingerprints", async () => {
    const r = await run(["probe", `tls://127.0.0.1:${good.port}`, "--ca", pki.files.ca.cert])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/protocol\s+TLSv1\.3/)
    expect(r.stdout).toMatch(/key exchange\s+X25519MLKEM768/)
    expect(r.stdout).toMatch(/certificate 0 \(leaf\)/)
    expect(r.stdout).toMatch(/verdict\s+verified/)
    expect(r.stdout).toMatch(/sha256\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/)
    expect(r.stdout).toMatch(/timings[\s\S]*handshake\s+[\d.]+ ms/)
  })

  it.each([
    [
      "an untrusted chain",
      () => good,
      [],
      /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/
    ],
    ["an expired certificate", () => expired, ["--ca"], /CERT_HAS_EXPIRED/],
    ["a certificate for another name", () => wrongHost, ["--ca"], /ERR_TLS_CERT_ALTNAME_INVALID/]
  ])("shows %s and its reason, exit 1; --insecure reports it and exits 0", async (_, server, ca, reason) => {
    const caArgs = ca.length > 0 ? ["--ca", pki.files.ca.cert] : []
    const r = await runJson(["probe", `tls://localhost:${server().port}`, ...caArgs])
    expect(r.code).toBe(1)
    expect(r.json.ok).toBe(false)
    expect(r.json.verification.verified).toBe(false)
    expect(r.json.verification.reason).toMatch(reason)
    expect(r.json.error).toMatchObject({ type: "VerificationFailed", message: expect.stringMatching(reason) })
    expect(r.json.tls.peerCertificate).not.toBeNull()
    const insecure = await runJson(["probe", `tls://localhost:${server().port}`, ...caArgs, "--insecure"])
    expect(insecure.code).toBe(0)
    expect(insecure.json).toMatchObject({ ok: true, verification: { verified: false, enforced: false } })
  })

  it("--groups chooses the key exchange; a malformed list or a group OpenSSL lacks is exit 2", async () => {
    const x25519 = await runJson([
      "probe",
      `tls://localhost:${good.port}`,
      "--ca",
      pki.files.ca.cert,
      "--groups",
      "X25519,P-256"
    ])
    expect(x25519.code).toBe(0)
    expect(x25519.json.tls.keyExchange).toBe("X25519")
    const colons = await runJson([
      "probe",
      `tls://localhost:${good.port}`,
      "--ca",
      pki.files.ca.cert,
      "--groups",
      "P-256:X25519"
    ])
    expect(colons.json.tls.keyExchange).toBe("P-256")
    const malformed = await runJson(["probe", `tls://localhost:${good.port}`, "--groups", "X25519;P-256"])
    expect(malformed.code).toBe(2)
    expect(malformed.json.error.message).toMatch(/`groups`: .*"X25519;P-256"/)
    const unknown = await runJson(["probe", `tls://localhost:${good.port}`, "--groups", "X25519,X9999"])
    expect(unknown.code).toBe(2)
    expect(unknown.json.error.message).toMatch(/`groups`: OpenSSL [\d.]+ knows no key-exchange group "X9999"/)
  })

  it("--pin: matched, or a mismatch that fails the probe", async () => {
    const ok = await runJson([
      "probe",
      `tls://localhost:${good.port}`,
      "--ca",
      pki.files.ca.cert,
      "--pin",
      `sha256:${pki.pki.server.fingerprints.sha256}`
    ])
    expect(ok.code).toBe(0)
    expect(ok.json.verification.pin).toMatchObject({ matched: true })
    const bad = await runJson([
      "probe",
      `tls://localhost:${good.port}`,
      "--ca",
      pki.files.ca.cert,
      "--pin",
      `sha256:${"0".repeat(64)}`
    ])
    expect(bad.code).toBe(1)
    expect(bad.json.verification).toMatchObject({ verified: false, reason: "PIN_MISMATCH", pin: { matched: false } })
  })

  it("--starttls smtp: the dialogue first, then the handshake, with the capabilities after TLS", async () => {
    const r = await runJson([
      "probe",
      `127.0.0.1:${smtp.port}`,
      "--starttls",
      "smtp",
      "--ca",
      pki.files.ca.cert,
      "--peer-name",
      "localhost"
    ])
    expect(r.code).toBe(0)
    expect(r.json.verification).toMatchObject({ verified: true, checkedName: "localhost" })
    expect(r.json.starttls.protocol).toBe("smtp")
    expect(r.json.starttls.capabilitiesBeforeTls).toContain("STARTTLS")
    expect(r.json.phases.starttlsAndHandshakeMs).toBeGreaterThan(0)
  })

  it("exit 1 when the server does not speak TLS, naming the handshake", async () => {
    const r = await runJson(["probe", `tls://127.0.0.1:${plain.port}`, "--handshake-timeout", "5"])
    expect(r.code).toBe(1)
    expect(r.json.error.type).toBe("TransportError")
    expect(r.json.phases.connectMs).toBeGreaterThanOrEqual(0)
  })

  it("exit 1 when nothing listens, with the address tried and the time spent resolving", async () => {
    const port = await closedPort()
    const r = await runJson(["probe", `tls://localhost:${port}`])
    expect(r.code).toBe(1)
    expect(r.json.error).toMatchObject({ type: "TransportError", reason: "Refused", code: "ECONNREFUSED" })
    expect(r.json.phases.resolveMs).toBeGreaterThanOrEqual(0)
  })

  it("exit 1 when the handshake times out against a silent server", async () => {
    const silent = Net.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const port = (silent.address() as Net.AddressInfo).port
    const r = await runJson(["probe", `tls://127.0.0.1:${port}`, "--handshake-timeout", "0.5"])
    expect(r.code).toBe(1)
    expect(r.json.error.reason).toBe("TimedOut")
    silent.close()
  })

  it("exit 2 for udp:// and for --starttls with a tls:// URL", async () => {
    expect((await runJson(["probe", "udp://127.0.0.1:53"])).code).toBe(2)
    const r = await runJson(["probe", "tls://127.0.0.1:587", "--starttls", "smtp"])
    expect(r.code).toBe(2)
    expect(r.json.error.message).toMatch(/plaintext/)
  })

  describe.skipIf(!hasTool("openssl"))("against openssl s_server", () => {
    let server: ChildProcess | undefined
    afterAll(() => server?.kill("SIGKILL"))

    it("sees the version, cipher, key-exchange group and ALPN that openssl s_server chose", async () => {
      const port = await new Promise<number>((resolve) => {
        const probe = Net.createServer()
        probe.listen(0, "127.0.0.1", () => {
          const p = (probe.address() as Net.AddressInfo).port
          probe.close(() => resolve(p))
        })
      })
      server = spawn(
        "openssl",
        [
          "s_server",
          "-accept",
          `127.0.0.1:${port}`,
          "-cert",
          pki.files.server.cert,
          "-key",
          pki.files.server.key,
          "-cert_chain",
          pki.files.ca.cert,
          "-tls1_2",
          "-groups",
          "P-384",
          "-alpn",
          "imap",
          "-quiet"
        ],
        { stdio: ["ignore", "ignore", "pipe"] }
      )
      // s_server prints nothing reliable when ready: probe until it answers (bounded: 40 tries, 100 ms apart).
      let r: Awaited<ReturnType<typeof runJson>> | undefined
      for (let i = 0; i < 40; i++) {
        r = await runJson(["probe", `tls://localhost:${port}`, "--ca", pki.files.ca.cert, "--alpn", "imap,smtp"])
        if (r.code === 0) break
        await new Promise((res) => setTimeout(res, 100))
      }
      expect(r!.code).toBe(0)
      expect(r!.json.tls).toMatchObject({ protocol: "TLSv1.2", alpn: "imap", verified: true, keyExchange: "P-384" })
      expect(r!.json.tls.cipher).toMatch(/^ECDHE-(RSA|ECDSA)-AES/)
    })
  })
})
