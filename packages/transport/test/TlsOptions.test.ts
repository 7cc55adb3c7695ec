import { describe, expect, it } from "@effect/vitest"
import { makeTestPki } from "@netdial/testkit"
import { Result, Schema } from "effect"
import {
  includesLegacyVersions,
  isEmptyRange,
  refusedScheme,
  TlsClientFields,
  TlsClientOptions,
  TlsServerFields,
  TlsServerOptions,
  tlsVersionRange,
  versionOfScheme
} from "../src/TlsOptions.ts"

const pki = await makeTestPki()

// The lead decodes with excess properties as errors; so do these tests.
const decodeClient = Schema.decodeUnknownResult(TlsClientOptions, { onExcessProperty: "error" })
const decodeServer = Schema.decodeUnknownResult(TlsServerOptions, { onExcessProperty: "error" })

const failureOf = <A, E extends { message: string }>(result: Result.Result<A, E>): string => {
  expect(Result.isFailure(result)).toBe(true)
  return Result.isFailure(result) ? result.failure.message : ""
}

const sha256 = pki.server.fingerprints.sha256

describe("TlsClientOptions", () => {
  it("decodes every option", () => {
    const input = {
      verifyPeer: true,
      verifyPeerName: false,
      peerName: "netdial.test",
      allowSelfSigned: false,
      ca: [pki.ca.certPem, { file: "/etc/ssl/ca.pem" }, { directory: "/etc/ssl/certs" }],
      cert: { file: "client.pem" },
      key: pki.client.encryptedKeyPem,
      passphrase: "netdial",
      ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256",
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      securityLevel: 2,
      groups: ["X25519MLKEM768", "X25519", "P-256"],
      peerFingerprint: { sha256, md5: pki.server.fingerprints.md5 },
      capturePeerCertificate: true,
      capturePeerCertificateChain: true,
      alpn: ["h2", "http/1.1"],
      session: new Uint8Array([1, 2, 3])
    }
    const result = decodeClient(input)
    expect(Result.isSuccess(result)).toBe(true)
    expect(Result.getOrThrow(result)).toEqual(input)
    expect(Object.keys(TlsClientFields).sort()).toEqual(Object.keys(input).sort())
  })

  it("accepts an empty object (every option has a default)", () => {
    expect(Result.getOrThrow(decodeClient({}))).toEqual({})
  })

  it("rejects unknown keys, also inside nested options", () => {
    expect(failureOf(decodeClient({ verify_peer: false }))).toContain("verify_peer")
    expect(failureOf(decodeClient({ handshakeTimeout: 1000 }))).toContain("handshakeTimeout")
    expect(Result.isFailure(decodeClient({ ca: { file: "/ca.pem", directory: "/certs" } }))).toBe(true)
    expect(Result.isFailure(decodeClient({ peerFingerprint: { sha256, sha512: "00" } }))).toBe(true)
  })

  it("accepts a 64-hex sha256 fingerprint string (PHP does not), 40 and 32 hex, colons and upper case", () => {
    for (const peerFingerprint of [
      sha256,
      sha256.toUpperCase(),
      sha256.replace(/(..)(?!$)/g, "$1:"),
      pki.server.fingerprints.sha1,
      pki.server.fingerprints.md5
    ]) {
      expect(Result.isSuccess(decodeClient({ peerFingerprint }))).toBe(true)
    }
  })

  it("rejects fingerprints of the wrong length or alphabet, and empty or mislabelled sets", () => {
    expect(failureOf(decodeClient({ peerFingerprint: sha256.slice(2) }))).toContain(
      "32 (md5), 40 (sha1) or 64 (sha256)"
    )
    expect(Result.isFailure(decodeClient({ peerFingerprint: `${sha256.slice(1)}g` }))).toBe(true)
    expect(failureOf(decodeClient({ peerFingerprint: {} }))).toContain("at least one of sha256, sha1, md5")
    expect(failureOf(decodeClient({ peerFingerprint: { sha1: sha256 } }))).toContain("40 hex digits")
  })

  it("tells a path given as text from PEM", () => {
    const message = failureOf(decodeClient({ ca: "/etc/ssl/certs/ca.pem" }))
    expect(message).toContain("expected PEM text")
    expect(message).toContain("{ file:")
    expect(Result.isFailure(decodeClient({ cert: "client.pem" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ key: "client.key" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ ca: { file: "" } }))).toBe(true)
  })

  it("checks types and ranges of scalars", () => {
    expect(Result.isFailure(decodeClient({ verifyPeer: "no" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ minVersion: "TLSv1.4" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ minVersion: "SSLv3" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ securityLevel: 6 }))).toBe(true)
    expect(Result.isFailure(decodeClient({ securityLevel: -1 }))).toBe(true)
    expect(Result.isFailure(decodeClient({ securityLevel: 1.5 }))).toBe(true)
    expect(Result.isSuccess(decodeClient({ securityLevel: 0 }))).toBe(true)
    expect(Result.isFailure(decodeClient({ peerName: "" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ ciphers: "" }))).toBe(true)
    expect(Result.isFailure(decodeClient({ session: [1, 2, 3] }))).toBe(true)
  })

  it("takes key-exchange groups one name per entry, at least one", () => {
    expect(Result.isSuccess(decodeClient({ groups: ["X25519", "ffdhe2048", "P-521"] }))).toBe(true)
    expect(failureOf(decodeClient({ groups: ["X25519:P-256"] }))).toContain("one OpenSSL name")
    expect(failureOf(decodeClient({ groups: [""] }))).toContain("one OpenSSL name")
    expect(Result.isFailure(decodeClient({ groups: [] }))).toBe(true)
    expect(Result.isFailure(decodeClient({ groups: "X25519" }))).toBe(true)
  })

  it("limits ALPN names to 1–255 bytes (counted in UTF-8)", () => {
    expect(failureOf(decodeClient({ alpn: [""] }))).toContain("1 to 255 bytes, got 0")
    expect(Result.isSuccess(decodeClient({ alpn: ["x".repeat(255)] }))).toBe(true)
    expect(failureOf(decodeClient({ alpn: ["x".repeat(256)] }))).toContain("got 256")
    expect(failureOf(decodeClient({ alpn: ["é".repeat(128)] }))).toContain("got 256")
  })
})

describe("TlsServerOptions", () => {
  it("decodes every option", () => {
    const input = {
      cert: pki.server.chainPem,
      key: { file: "server.key" },
      passphrase: "secret",
      ca: { directory: "/etc/netdial/clients" },
      sniCertificates: {
        "netdial.test": { cert: pki.server.certPem, key: pki.server.keyPem },
        "*.example.com": { cert: { file: "wild.pem" }, key: { file: "wild.key" }, passphrase: "p" }
      },
      requestClientCertificate: true,
      requireClientCertificate: false,
      ciphers: "HIGH",
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      securityLevel: 1,
      groups: ["P-384"],
      alpn: ["h2"]
    }
    expect(Result.getOrThrow(decodeServer(input))).toEqual(input)
    expect(Object.keys(TlsServerFields).sort()).toEqual(Object.keys(input).sort())
  })

  it("validates SNI patterns: a name, or `*.` then a name", () => {
    const entry = { cert: pki.server.certPem, key: pki.server.keyPem }
    for (const pattern of ["localhost", "Example.COM", "*.example.com", "xn--bcher-kva.example", "a.example."]) {
      expect(Result.isSuccess(decodeServer({ sniCertificates: { [pattern]: entry } }))).toBe(true)
    }
    for (const pattern of ["", "*", "a.*.example", "*example.com", "**.example.com", "has space.example", "a..b"]) {
      expect(Result.isFailure(decodeServer({ sniCertificates: { [pattern]: entry } }))).toBe(true)
    }
    expect(Result.isFailure(decodeServer({ sniCertificates: { "a.example": { cert: pki.server.certPem } } }))).toBe(
      true
    )
    expect(Result.isFailure(decodeServer({ sniCertificates: { "a.example": { ...entry, extra: 1 } } }))).toBe(true)
  })

  it("rejects client-only options", () => {
    expect(failureOf(decodeServer({ verifyPeer: true }))).toContain("verifyPeer")
    expect(failureOf(decodeServer({ peerFingerprint: sha256 }))).toContain("peerFingerprint")
  })
})

describe("schemes and versions", () => {
  it("versionOfScheme pins tlsvX.Y and leaves ssl/tls to the default range", () => {
    expect(versionOfScheme("tlsv1.0")).toBe("TLSv1")
    expect(versionOfScheme("tlsv1.1")).toBe("TLSv1.1")
    expect(versionOfScheme("tlsv1.2")).toBe("TLSv1.2")
    expect(versionOfScheme("tlsv1.3")).toBe("TLSv1.3")
    expect(versionOfScheme("TLSv1.3")).toBe("TLSv1.3")
    expect(versionOfScheme("tls")).toBeUndefined()
    expect(versionOfScheme("ssl")).toBeUndefined()
    expect(versionOfScheme("tcp")).toBeUndefined()
  })

  it("refusedScheme explains sslv2 and sslv3 and points to tls://", () => {
    expect(refusedScheme("sslv2")).toContain("RFC 6176")
    expect(refusedScheme("sslv3")).toContain("RFC 7568")
    expect(refusedScheme("sslv3")).toContain("tls://")
    expect(refusedScheme("tls")).toBeUndefined()
    expect(refusedScheme("tlsv1.0")).toBeUndefined()
  })

  it("tlsVersionRange: default 1.2–1.3, a scheme pins both ends, explicit options override the pin", () => {
    expect(tlsVersionRange("tls", {})).toEqual({ minVersion: "TLSv1.2", maxVersion: "TLSv1.3" })
    expect(tlsVersionRange(undefined, {})).toEqual({ minVersion: "TLSv1.2", maxVersion: "TLSv1.3" })
    expect(tlsVersionRange("tlsv1.2", {})).toEqual({ minVersion: "TLSv1.2", maxVersion: "TLSv1.2" })
    expect(tlsVersionRange("tlsv1.2", { maxVersion: "TLSv1.3" })).toEqual({
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3"
    })
    expect(tlsVersionRange("tls", { minVersion: "TLSv1" })).toEqual({ minVersion: "TLSv1", maxVersion: "TLSv1.3" })
    expect(isEmptyRange(tlsVersionRange("tlsv1.3", { maxVersion: "TLSv1.2" }))).toBe(true)
    expect(isEmptyRange(tlsVersionRange("tls", {}))).toBe(false)
    expect(includesLegacyVersions(tlsVersionRange("tlsv1.1", {}))).toBe(true)
    expect(includesLegacyVersions(tlsVersionRange("tls", {}))).toBe(false)
  })
})
