import { X509Certificate } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import {
  expectedFingerprints,
  fingerprintMismatch,
  fingerprintsOf,
  matchesFingerprints,
  normalizeFingerprint,
  sameFingerprint
} from "../src/internal/fingerprint.ts"
import { cipherBits, parseSubjectAltNames, peerCertificateOf, unwrapSession, wrapSession } from "../src/TlsInfo.ts"

const pki = await makeTestPki()

describe("cipherBits", () => {
  it("reads the key size off OpenSSL and IANA cipher names", () => {
    expect(cipherBits("TLS_AES_128_GCM_SHA256")).toBe(128)
    expect(cipherBits("TLS_AES_256_GCM_SHA384")).toBe(256)
    expect(cipherBits("TLS_CHACHA20_POLY1305_SHA256")).toBe(256)
    expect(cipherBits("ECDHE-ECDSA-AES128-GCM-SHA256")).toBe(128)
    expect(cipherBits("ECDHE-RSA-AES256-SHA384")).toBe(256)
    expect(cipherBits("ECDHE-RSA-CHACHA20-POLY1305")).toBe(256)
    expect(cipherBits("AES128-SHA")).toBe(128)
    expect(cipherBits("DES-CBC3-SHA")).toBe(112)
    expect(cipherBits("TLS_RSA_WITH_3DES_EDE_CBC_SHA")).toBe(112)
    expect(cipherBits("CAMELLIA256-SHA")).toBe(256)
    expect(cipherBits("ECDHE-ECDSA-ARIA128-GCM-SHA256")).toBe(128)
    expect(cipherBits("NULL-SHA256")).toBe(0)
    expect(cipherBits("SOMETHING-NEW")).toBeUndefined()
  })
})

describe("parseSubjectAltNames", () => {
  it("normalizes Node's text: IP Address → IP, IPv6 compressed, certificate order kept", () => {
    expect(
      parseSubjectAltNames("DNS:localhost, DNS:netdial.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1")
    ).toEqual(["DNS:localhost", "DNS:netdial.test", "IP:127.0.0.1", "IP:::1"])
    expect(parseSubjectAltNames("IP Address:2001:DB8:0:0:0:0:0:1")).toEqual(["IP:2001:db8::1"])
  })

  it("reads Node's JSON-quoted entries (a comma or quote inside a name)", () => {
    expect(parseSubjectAltNames('DNS:"a, b.example", email:x@example.com, URI:"https://e/?q=\\"1\\""')).toEqual([
      "DNS:a, b.example",
      "email:x@example.com",
      'URI:https://e/?q="1"'
    ])
  })

  it("gives an empty list for no SAN", () => {
    expect(parseSubjectAltNames(undefined)).toEqual([])
    expect(parseSubjectAltNames("")).toEqual([])
  })
})

describe("peerCertificateOf", () => {
  it("describes a certificate as testkit made it", () => {
    const cert = peerCertificateOf(new X509Certificate(pki.server.certPem))
    expect(cert.subject).toBe("CN=localhost, O=netdial")
    expect(cert.issuer).toBe("CN=netdial Test CA, O=netdial")
    expect(cert.subjectAltNames).toEqual(["DNS:localhost", "DNS:netdial.test", "IP:127.0.0.1", "IP:::1"])
    expect(cert.serialNumber).toBe(pki.server.serialNumber)
    expect(cert.fingerprints).toEqual(pki.server.fingerprints)
    expect(cert.validFrom.getTime()).toBe(pki.server.notBefore.getTime())
    expect(cert.validTo.getTime()).toBe(pki.server.notAfter.getTime())
    expect(new X509Certificate(cert.pem).fingerprint256).toBe(new X509Certificate(pki.server.certPem).fingerprint256)
    expect(peerCertificateOf(new X509Certificate(pki.client.certPem)).subjectAltNames).toEqual([])
  })
})

describe("session envelope", () => {
  it("round-trips the peer certificate and Node's bytes, and passes foreign bytes through", () => {
    const der = new X509Certificate(pki.server.certPem).raw
    const node = Buffer.from("node session bytes")
    const wrapped = wrapSession(node, der)
    const { nodeSession, peerDer } = unwrapSession(new Uint8Array(wrapped))
    expect(nodeSession.equals(node)).toBe(true)
    expect(peerDer?.equals(der)).toBe(true)
    expect(unwrapSession(wrapSession(node, undefined)).peerDer).toBeUndefined()
    const foreign = unwrapSession(node)
    expect(foreign.nodeSession.equals(node)).toBe(true)
    expect(foreign.peerDer).toBeUndefined()
    // A truncated envelope is not trusted for its certificate.
    expect(unwrapSession(wrapped.subarray(0, 30)).peerDer).toBeUndefined()
  })
})

describe("fingerprints", () => {
  const der = new X509Certificate(pki.server.certPem).raw

  it("computes md5/sha1/sha256 of the DER as testkit does", () => {
    expect(fingerprintsOf(der)).toEqual(pki.server.fingerprints)
  })

  it("normalizes colons and case", () => {
    const colons = pki.server.fingerprints.sha1.toUpperCase().replace(/(..)(?!$)/g, "$1:")
    expect(normalizeFingerprint(colons)).toBe(pki.server.fingerprints.sha1)
  })

  it("chooses the digest by length and requires every digest of a set", () => {
    expect(expectedFingerprints(pki.server.fingerprints.md5)).toEqual([
      { algorithm: "md5", hex: pki.server.fingerprints.md5 }
    ])
    expect(matchesFingerprints(der, expectedFingerprints(pki.server.fingerprints.sha256))).toBe(true)
    expect(matchesFingerprints(der, expectedFingerprints(pki.server.fingerprints.sha1.toUpperCase()))).toBe(true)
    expect(matchesFingerprints(der, expectedFingerprints(pki.client.fingerprints.sha256))).toBe(false)
    expect(
      matchesFingerprints(
        der,
        expectedFingerprints({ sha256: pki.server.fingerprints.sha256, md5: pki.client.fingerprints.md5 })
      )
    ).toBe(false)
    expect(matchesFingerprints(der, [])).toBe(false)
  })

  it("compares in constant time without throwing on different lengths", () => {
    expect(sameFingerprint("abcd", "abcd")).toBe(true)
    expect(sameFingerprint("abcd", "abce")).toBe(false)
    expect(sameFingerprint("abcd", "abcdef")).toBe(false)
  })

  it("makes a mismatch error that classify recognizes and that shows both sides", () => {
    const error = fingerprintMismatch(fingerprintsOf(der), expectedFingerprints(pki.client.fingerprints.sha256))
    expect(error.code).toBe("ERR_NETDIAL_FINGERPRINT_MISMATCH")
    expect(error.message).toContain(pki.client.fingerprints.sha256)
    expect(error.message).toContain(pki.server.fingerprints.sha256)
    expect(fingerprintMismatch(undefined, []).message).toContain("no certificate")
  })
})
