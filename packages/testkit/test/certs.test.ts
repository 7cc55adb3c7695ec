import "reflect-metadata"
import { createHash, createPrivateKey, X509Certificate } from "node:crypto"
import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import type { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import * as x509 from "@peculiar/x509"
import { beforeAll, describe, expect, it } from "vitest"
import { makeTestPki, type TestCert, type TestPki, writeTestPki } from "../src/index.ts"

const HOUR = 60 * 60 * 1000
const DAY = 24 * HOUR

const parse = (cert: TestCert) => new X509Certificate(cert.certPem)

/** Node prints IPv6 SANs in full, uncompressed form. */
const LOCAL_SANS = "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"

const leafNames = [
  "server",
  "client",
  "expired",
  "notYetValid",
  "wrongHost",
  "selfSigned",
  "ipOnly",
  "untrusted"
] as const
const allNames = ["ca", "otherCa", ...leafNames] as const

let pki: TestPki

beforeAll(async () => {
  pki = await makeTestPki()
})

describe("makeTestPki", () => {
  it("memoizes one PKI per options in the process", async () => {
    expect(makeTestPki()).toBe(makeTestPki({}))
    expect(makeTestPki({ algorithm: "ecdsa", passphrase: "netdial" })).toBe(makeTestPki())
    expect(await makeTestPki()).toBe(pki)
    expect(makeTestPki({ passphrase: "other" })).not.toBe(makeTestPki())
    expect(pki.algorithm).toBe("ecdsa")
    expect(pki.passphrase).toBe("netdial")
  })

  it("makes PEM certificates and unencrypted PKCS#8 keys", () => {
    for (const name of allNames) {
      const cert = pki[name]
      expect(cert.certPem, name).toMatch(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/)
      expect(cert.keyPem, name).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/)
    }
    expect(pki.server.chainPem).toBe(pki.server.certPem + pki.ca.certPem)
  })

  it("gives every certificate its own key and a random positive serial number", () => {
    const keys = new Set(allNames.map((name) => pki[name].keyPem))
    const serials = new Set(allNames.map((name) => pki[name].serialNumber))
    expect(keys.size).toBe(allNames.length)
    expect(serials.size).toBe(allNames.length)
    for (const name of allNames) {
      const serial = pki[name].serialNumber
      expect(serial, name).toMatch(/^[0-7][0-9a-f]+$/)
      expect(BigInt(`0x${serial}`) > 0n, name).toBe(true)
      expect(parse(pki[name]).serialNumber.toLowerCase(), name).toBe(serial)
    }
  })

  it("uses ECDSA P-256 keys by default", () => {
    for (const name of allNames) {
      const key = createPrivateKey(pki[name].keyPem)
      expect(key.asymmetricKeyType, name).toBe("ec")
      expect(key.asymmetricKeyDetails?.namedCurve, name).toBe("prime256v1")
    }
  })
})

describe("certificate contents", () => {
  it("ca is a self-signed root CA for keyCertSign and cRLSign", async () => {
    const ca = parse(pki.ca)
    expect(ca.subject).toBe("CN=netdial Test CA\nO=netdial")
    expect(ca.issuer).toBe(ca.subject)
    expect(ca.ca).toBe(true)
    expect(ca.checkIssued(ca)).toBe(true)
    expect(ca.verify(ca.publicKey)).toBe(true)
    const parsed = new x509.X509Certificate(pki.ca.certPem)
    const basic = parsed.getExtension(x509.BasicConstraintsExtension)
    expect(basic?.ca).toBe(true)
    expect(basic?.critical).toBe(true)
    const usage = parsed.getExtension(x509.KeyUsagesExtension)
    expect(usage?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)
    expect(await parsed.isSelfSigned(globalThis.crypto)).toBe(true)
  })

  it("otherCa is a second, unrelated root CA", () => {
    const ca = parse(pki.ca)
    const other = parse(pki.otherCa)
    expect(other.subject).toBe("CN=netdial Other Test CA\nO=netdial")
    expect(other.ca).toBe(true)
    expect(other.checkIssued(other)).toBe(true)
    expect(other.verify(other.publicKey)).toBe(true)
    expect(other.verify(ca.publicKey)).toBe(false)
    expect(ca.verify(other.publicKey)).toBe(false)
  })

  it("server has exactly localhost, netdial.test, 127.0.0.1 and ::1, for serverAuth", () => {
    const server = parse(pki.server)
    expect(server.subject).toBe("CN=localhost\nO=netdial")
    expect(server.issuer).toBe(parse(pki.ca).subject)
    expect(server.ca).toBe(false)
    expect(server.subjectAltName).toBe(
      "DNS:localhost, DNS:netdial.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    )
    expect(server.keyUsage).toEqual([x509.ExtendedKeyUsage.serverAuth])
    expect(server.checkHost("localhost")).toBe("localhost")
    expect(server.checkHost("netdial.test")).toBe("netdial.test")
    expect(server.checkHost("a.localhost")).toBeUndefined()
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1")
    expect(server.checkIP("::1")).toBe("::1")
  })

  it("client is CN netdial client, for clientAuth", () => {
    const client = parse(pki.client)
    expect(client.subject).toBe("CN=netdial client\nO=netdial")
    expect(client.issuer).toBe(parse(pki.ca).subject)
    expect(client.ca).toBe(false)
    expect(client.keyUsage).toEqual([x509.ExtendedKeyUsage.clientAuth])
  })

  it("the other leaves carry the names their failure needs", () => {
    expect(parse(pki.expired).subjectAltName).toBe(LOCAL_SANS)
    expect(parse(pki.notYetValid).subjectAltName).toBe(LOCAL_SANS)
    expect(parse(pki.selfSigned).subjectAltName).toBe(LOCAL_SANS)
    expect(parse(pki.untrusted).subjectAltName).toBe(LOCAL_SANS)
    expect(parse(pki.wrongHost).subjectAltName).toBe("DNS:wrong.example")
    expect(parse(pki.wrongHost).checkHost("localhost")).toBeUndefined()
    expect(parse(pki.wrongHost).checkIP("127.0.0.1")).toBeUndefined()
    const ipOnly = parse(pki.ipOnly)
    expect(ipOnly.subjectAltName).toBe("IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1")
    expect(ipOnly.checkHost("localhost")).toBeUndefined()
    expect(ipOnly.checkIP("127.0.0.1")).toBe("127.0.0.1")
    expect(ipOnly.checkIP("::1")).toBe("::1")
  })

  it("selfSigned is a self-signed leaf, not a CA", async () => {
    const self = parse(pki.selfSigned)
    expect(self.ca).toBe(false)
    expect(self.issuer).toBe(self.subject)
    expect(self.verify(self.publicKey)).toBe(true)
    expect(await new x509.X509Certificate(pki.selfSigned.certPem).isSelfSigned(globalThis.crypto)).toBe(true)
    // OpenSSL's checkIssued also wants keyCertSign in the issuer's keyUsage, which a leaf does not have.
    expect(self.checkIssued(self)).toBe(false)
    expect(self.checkIssued(parse(pki.ca))).toBe(false)
  })

  it("every CA-signed leaf is issued and signed by ca; untrusted only by otherCa", () => {
    const ca = parse(pki.ca)
    const other = parse(pki.otherCa)
    for (const name of ["server", "client", "expired", "notYetValid", "wrongHost", "ipOnly"] as const) {
      const leaf = parse(pki[name])
      expect(leaf.checkIssued(ca), name).toBe(true)
      expect(leaf.verify(ca.publicKey), name).toBe(true)
      expect(leaf.checkIssued(other), name).toBe(false)
      expect(leaf.verify(other.publicKey), name).toBe(false)
    }
    const untrusted = parse(pki.untrusted)
    expect(untrusted.checkIssued(ca)).toBe(false)
    expect(untrusted.verify(ca.publicKey)).toBe(false)
    expect(untrusted.checkIssued(other)).toBe(true)
    expect(untrusted.verify(other.publicKey)).toBe(true)
  })

  it("valid certificates run from an hour ago to 30 days ahead", () => {
    const now = Date.now()
    for (const name of [
      "ca",
      "otherCa",
      "server",
      "client",
      "wrongHost",
      "selfSigned",
      "ipOnly",
      "untrusted"
    ] as const) {
      const cert = parse(pki[name])
      const from = cert.validFromDate.getTime()
      const to = cert.validToDate.getTime()
      // Generated at most a few minutes ago (the PKI is memoized), and X.509 times have whole seconds.
      expect(now - from, name).toBeGreaterThanOrEqual(HOUR - 1000)
      expect(now - from, name).toBeLessThan(HOUR + 5 * 60 * 1000)
      expect(to - from, name).toBe(30 * DAY + HOUR)
      expect(pki[name].notBefore.getTime(), name).toBe(from)
      expect(pki[name].notAfter.getTime(), name).toBe(to)
    }
  })

  it("expired has ended and notYetValid has not started", () => {
    const now = Date.now()
    const expired = parse(pki.expired)
    expect(expired.validToDate.getTime()).toBeLessThan(now)
    expect(expired.validFromDate.getTime()).toBeLessThan(expired.validToDate.getTime())
    const future = parse(pki.notYetValid)
    expect(future.validFromDate.getTime()).toBeGreaterThan(now)
    expect(future.validToDate.getTime()).toBeGreaterThan(future.validFromDate.getTime())
  })

  it("fingerprints are lower-case, colon-free hashes of the DER certificate", () => {
    for (const name of allNames) {
      const cert = parse(pki[name])
      const { fingerprints } = pki[name]
      expect(fingerprints.sha256, name).toBe(cert.fingerprint256.replaceAll(":", "").toLowerCase())
      expect(fingerprints.sha1, name).toBe(cert.fingerprint.replaceAll(":", "").toLowerCase())
      expect(fingerprints.md5, name).toBe(createHash("md5").update(cert.raw).digest("hex"))
      expect(fingerprints.sha256, name).toMatch(/^[0-9a-f]{64}$/)
      expect(fingerprints.sha1, name).toMatch(/^[0-9a-f]{40}$/)
      expect(fingerprints.md5, name).toMatch(/^[0-9a-f]{32}$/)
    }
  })

  it("each key belongs to its certificate and to no other", () => {
    for (const name of allNames) {
      const cert = parse(pki[name])
      expect(cert.checkPrivateKey(createPrivateKey(pki[name].keyPem)), name).toBe(true)
    }
    expect(parse(pki.server).checkPrivateKey(createPrivateKey(pki.client.keyPem))).toBe(false)
    expect(parse(pki.ca).checkPrivateKey(createPrivateKey(pki.otherCa.keyPem))).toBe(false)
  })

  it("the encrypted client key opens with the passphrase and not without it", () => {
    expect(pki.client.encryptedKeyPem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
    const key = createPrivateKey({ key: pki.client.encryptedKeyPem, passphrase: "netdial" })
    expect(key.export({ type: "pkcs8", format: "pem" })).toBe(pki.client.keyPem)
    expect(parse(pki.client).checkPrivateKey(key)).toBe(true)
    expect(() => createPrivateKey(pki.client.encryptedKeyPem)).toThrow()
    expect(() => createPrivateKey({ key: pki.client.encryptedKeyPem, passphrase: "wrong" })).toThrow()
  })

  it("takes another passphrase", async () => {
    const other = await makeTestPki({ passphrase: "s3cret pass" })
    expect(other.passphrase).toBe("s3cret pass")
    const key = createPrivateKey({ key: other.client.encryptedKeyPem, passphrase: "s3cret pass" })
    expect(parse(other.client).checkPrivateKey(key)).toBe(true)
    expect(() => createPrivateKey({ key: other.client.encryptedKeyPem, passphrase: "netdial" })).toThrow()
  })
})

describe("RSA", () => {
  it("makes RSA-2048 keys with SHA-256 signatures", async () => {
    const rsa = await makeTestPki({ algorithm: "rsa" })
    expect(rsa.algorithm).toBe("rsa")
    expect(await makeTestPki({ algorithm: "rsa" })).toBe(rsa)
    const ca = parse(rsa.ca)
    for (const name of allNames) {
      const key = createPrivateKey(rsa[name].keyPem)
      expect(key.asymmetricKeyType, name).toBe("rsa")
      expect(key.asymmetricKeyDetails?.modulusLength, name).toBe(2048)
      expect(parse(rsa[name]).checkPrivateKey(key), name).toBe(true)
      expect(new x509.X509Certificate(rsa[name].certPem).signatureAlgorithm, name).toMatchObject({
        name: "RSASSA-PKCS1-v1_5",
        hash: { name: "SHA-256" }
      })
    }
    expect(parse(rsa.server).verify(ca.publicKey)).toBe(true)
    expect(parse(rsa.untrusted).verify(ca.publicKey)).toBe(false)
    const usage = new x509.X509Certificate(rsa.server.certPem).getExtension(x509.KeyUsagesExtension)
    expect(usage?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment)
    const decrypted = createPrivateKey({ key: rsa.client.encryptedKeyPem, passphrase: "netdial" })
    expect(parse(rsa.client).checkPrivateKey(decrypted)).toBe(true)
  })
})

describe("writeTestPki", () => {
  it("writes every certificate and key to files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "netdial-pki-"))
    try {
      const target = join(dir, "nested")
      const files = await writeTestPki(pki, target)
      expect(files.dir).toBe(target)
      expect(files.ca).toEqual({ cert: join(target, "ca.pem"), key: join(target, "ca.key") })
      expect(files.notYetValid.cert).toBe(join(target, "not-yet-valid.pem"))
      expect(files.server.chain).toBe(join(target, "server-chain.pem"))
      expect(files.client.encryptedKey).toBe(join(target, "client.encrypted.key"))
      for (const name of allNames) {
        expect(await readFile(files[name].cert, "utf8"), name).toBe(pki[name].certPem)
        expect(await readFile(files[name].key, "utf8"), name).toBe(pki[name].keyPem)
        expect((await stat(files[name].key)).mode & 0o077, name).toBe(0)
      }
      expect(await readFile(files.server.chain, "utf8")).toBe(pki.server.chainPem)
      expect(await readFile(files.client.encryptedKey, "utf8")).toBe(pki.client.encryptedKeyPem)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

// --- Real handshakes on loopback -------------------------------------------------------------------------------

type Outcome =
  | { readonly ok: true; readonly authorized: boolean; readonly peerFingerprint256: string | undefined }
  | { readonly ok: false; readonly code: string | undefined }

/** Runs `body` against a TLS server on 127.0.0.1 (ephemeral port); closes the server and every socket afterwards. */
const withServer = async <A>(options: tls.TlsOptions, body: (port: number, server: tls.Server) => Promise<A>) => {
  const server = tls.createServer(options, (socket) => socket.end())
  const sockets = new Set<Socket>()
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  // A client that rejects the certificate aborts the handshake; that is expected here.
  server.on("tlsClientError", () => {})
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  try {
    const address = server.address()
    if (address === null || typeof address === "string") throw new Error("no TCP address")
    return await body(address.port, server)
  } finally {
    await Promise.all(
      [...sockets].map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.closed) return resolve()
            socket.once("close", () => resolve())
            socket.destroy()
          })
      )
    )
    await new Promise<void>((resolve) => server.close(() => resolve()))
    expect(sockets.size).toBe(0)
    expect(server.listening).toBe(false)
  }
}

/**
 * Connects, records how the handshake ended, and resolves once the client socket is fully closed. After a handshake
 * it waits for `until` (e.g. the server's side of it) before closing.
 */
const connect = (port: number, options: tls.ConnectionOptions, until?: Promise<unknown>): Promise<Outcome> =>
  new Promise((resolve) => {
    let outcome: Outcome | undefined
    const socket = tls.connect({ host: "127.0.0.1", port, ...options })
    socket.once("secureConnect", () => {
      outcome = {
        ok: true,
        authorized: socket.authorized,
        peerFingerprint256: socket.getPeerX509Certificate()?.fingerprint256
      }
      void (until ?? Promise.resolve()).finally(() => socket.destroy())
    })
    socket.once("error", (error: NodeJS.ErrnoException) => {
      outcome ??= { ok: false, code: error.code }
      socket.destroy()
    })
    socket.once("close", () => resolve(outcome ?? { ok: false, code: "CLOSED_BEFORE_HANDSHAKE" }))
  })

const serve = (cert: TestCert, options: tls.ConnectionOptions = {}) =>
  withServer({ cert: cert.certPem, key: cert.keyPem }, (port) =>
    connect(port, { ca: pki.ca.certPem, servername: "localhost", ...options })
  )

const colonFingerprint = (cert: TestCert) => parse(cert).fingerprint256

describe("TLS handshake on 127.0.0.1", () => {
  it("succeeds against server with the CA and servername localhost", async () => {
    expect(await serve(pki.server)).toEqual({
      ok: true,
      authorized: true,
      peerFingerprint256: colonFingerprint(pki.server)
    })
  })

  it("succeeds for servername netdial.test and with the chain as the server certificate", async () => {
    expect(await serve(pki.server, { servername: "netdial.test" })).toMatchObject({ ok: true, authorized: true })
    const chained = await withServer({ cert: pki.server.chainPem, key: pki.server.keyPem }, (port) =>
      connect(port, { ca: pki.ca.certPem, servername: "localhost" })
    )
    expect(chained).toMatchObject({ ok: true, authorized: true })
  })

  it("checks ipOnly against the IP address when no servername is sent", async () => {
    const byIp = await withServer({ cert: pki.ipOnly.certPem, key: pki.ipOnly.keyPem }, (port) =>
      connect(port, { ca: pki.ca.certPem })
    )
    expect(byIp).toEqual({ ok: true, authorized: true, peerFingerprint256: colonFingerprint(pki.ipOnly) })
    expect(await serve(pki.ipOnly)).toEqual({ ok: false, code: "ERR_TLS_CERT_ALTNAME_INVALID" })
  })

  it("fails for expired with CERT_HAS_EXPIRED", async () => {
    expect(await serve(pki.expired)).toEqual({ ok: false, code: "CERT_HAS_EXPIRED" })
  })

  it("fails for notYetValid with CERT_NOT_YET_VALID", async () => {
    expect(await serve(pki.notYetValid)).toEqual({ ok: false, code: "CERT_NOT_YET_VALID" })
  })

  it("fails for wrongHost with ERR_TLS_CERT_ALTNAME_INVALID", async () => {
    expect(await serve(pki.wrongHost)).toEqual({ ok: false, code: "ERR_TLS_CERT_ALTNAME_INVALID" })
  })

  it("fails for selfSigned with DEPTH_ZERO_SELF_SIGNED_CERT", async () => {
    expect(await serve(pki.selfSigned)).toEqual({ ok: false, code: "DEPTH_ZERO_SELF_SIGNED_CERT" })
  })

  it("fails for untrusted against ca with UNABLE_TO_VERIFY_LEAF_SIGNATURE, and passes with otherCa", async () => {
    expect(await serve(pki.untrusted)).toEqual({ ok: false, code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
    // When the server also sends the unknown root, OpenSSL reports that root instead.
    const withRoot = await withServer(
      { cert: pki.untrusted.certPem + pki.otherCa.certPem, key: pki.untrusted.keyPem },
      (port) => connect(port, { ca: pki.ca.certPem, servername: "localhost" })
    )
    expect(withRoot).toEqual({ ok: false, code: "SELF_SIGNED_CERT_IN_CHAIN" })
    expect(await serve(pki.untrusted, { ca: pki.otherCa.certPem })).toMatchObject({ ok: true, authorized: true })
  })

  it("authenticates the client certificate, also from the encrypted key", async () => {
    for (const key of [
      { key: pki.client.keyPem },
      { key: pki.client.encryptedKeyPem, passphrase: pki.passphrase }
    ] as const) {
      const seen = await withServer(
        {
          cert: pki.server.certPem,
          key: pki.server.keyPem,
          ca: pki.ca.certPem,
          requestCert: true,
          rejectUnauthorized: true
        },
        async (port, server) => {
          const accepted = new Promise<{ authorized: boolean; subject: string | undefined }>((resolve) =>
            server.once("secureConnection", (socket) =>
              resolve({ authorized: socket.authorized, subject: socket.getPeerX509Certificate()?.subject })
            )
          )
          const outcome = await connect(
            port,
            { ca: pki.ca.certPem, servername: "localhost", cert: pki.client.certPem, ...key },
            accepted
          )
          return { outcome, accepted: await accepted }
        }
      )
      expect(seen.outcome).toMatchObject({ ok: true, authorized: true })
      expect(seen.accepted).toEqual({ authorized: true, subject: "CN=netdial client\nO=netdial" })
    }
  })

  it("works with the RSA PKI too", async () => {
    const rsa = await makeTestPki({ algorithm: "rsa" })
    const outcome = await withServer({ cert: rsa.server.certPem, key: rsa.server.keyPem }, (port) =>
      connect(port, { ca: rsa.ca.certPem, servername: "localhost" })
    )
    expect(outcome).toEqual({ ok: true, authorized: true, peerFingerprint256: parse(rsa.server).fingerprint256 })
    const expired = await withServer({ cert: rsa.expired.certPem, key: rsa.expired.keyPem }, (port) =>
      connect(port, { ca: rsa.ca.certPem, servername: "localhost" })
    )
    expect(expired).toEqual({ ok: false, code: "CERT_HAS_EXPIRED" })
  })
})
