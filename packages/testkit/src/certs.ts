/**
 * A throwaway PKI for TLS tests: a test CA, a good server and client certificate, and one certificate for each way
 * a TLS handshake can fail (expired, not yet valid, wrong host, self-signed, signed by an unknown CA), all made in
 * memory with `@peculiar/x509` on Node's WebCrypto. No `openssl` binary is needed to make them.
 */
// tsyringe (used inside @peculiar/x509) needs the Reflect metadata API, which must be loaded first.
import "reflect-metadata"
import { createHash, createPrivateKey, KeyObject } from "node:crypto"
import { chmod, mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as x509 from "@peculiar/x509"

/** `"ecdsa"` is ECDSA on P-256 (fast to make); `"rsa"` is RSA-2048 with SHA-256 (for TLS 1.0/1.1 tests). */
export type TestPkiAlgorithm = "ecdsa" | "rsa"

export interface MakeTestPkiOptions {
  /** Key type of every certificate. Default `"ecdsa"`. */
  readonly algorithm?: TestPkiAlgorithm
  /** Passphrase of `client.encryptedKeyPem`. Default `"netdial"`. */
  readonly passphrase?: string
}

/** Fingerprints of the DER certificate, lower-case hex without colons. */
export interface TestCertFingerprints {
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
}

export interface TestCert {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  readonly certPem: string
  /** The private key, unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly keyPem: string
  readonly fingerprints: TestCertFingerprints
  /** Serial number, lower-case hex. */
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
}

export interface TestServerCert extends TestCert {
  /** Leaf then CA, PEM: what a server sends when the client only has the CA. */
  readonly chainPem: string
}

export interface TestClientCert extends TestCert {
  /** The private key as encrypted PKCS#8 PEM (AES-256-CBC) under `TestPki.passphrase`. */
  readonly encryptedKeyPem: string
}

export interface TestPki {
  readonly algorithm: TestPkiAlgorithm
  /** The passphrase of `client.encryptedKeyPem`. */
  readonly passphrase: string
  /** Self-signed root CA, CN "netdial Test CA" (CA:true, keyCertSign + cRLSign). Trust this one. */
  readonly ca: TestCert
  /** Signed by `ca`; DNS:localhost, DNS:netdial.test, IP:127.0.0.1, IP:::1; serverAuth. */
  readonly server: TestServerCert
  /** Signed by `ca`; CN "netdial client"; clientAuth. */
  readonly client: TestClientCert
  /** Signed by `ca`; localhost, 127.0.0.1, ::1; its validity ended a day ago. */
  readonly expired: TestCert
  /** Signed by `ca`; localhost, 127.0.0.1, ::1; its validity starts in a day. */
  readonly notYetValid: TestCert
  /** Signed by `ca`; DNS:wrong.example only. */
  readonly wrongHost: TestCert
  /** Self-signed leaf (CA:false); localhost, 127.0.0.1, ::1. */
  readonly selfSigned: TestCert
  /** Signed by `ca`; IP:127.0.0.1 and IP:::1 only, no DNS name. */
  readonly ipOnly: TestCert
  /** A second root CA, unrelated to `ca`, CN "netdial Other Test CA". */
  readonly otherCa: TestCert
  /** Signed by `otherCa`; localhost, 127.0.0.1, ::1. Fails against `ca`. */
  readonly untrusted: TestCert
}

const HOUR = 60 * 60 * 1000
const DAY = 24 * HOUR

/** Node's WebCrypto (`globalThis.crypto` is `node:crypto`'s `webcrypto` since Node 19), passed explicitly to @peculiar/x509. */
const crypto: Crypto = globalThis.crypto

interface Algorithms {
  readonly generate: RsaHashedKeyGenParams | EcKeyGenParams
  readonly signing: Algorithm | EcdsaParams
  /** Key usage of a leaf: RSA key exchange (TLS 1.0–1.2 without ECDHE) also needs keyEncipherment. */
  readonly leafKeyUsage: x509.KeyUsageFlags
}

const algorithms = (algorithm: TestPkiAlgorithm): Algorithms =>
  algorithm === "rsa"
    ? {
        generate: {
          name: "RSASSA-PKCS1-v1_5",
          hash: "SHA-256",
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1])
        },
        signing: { name: "RSASSA-PKCS1-v1_5" },
        leafKeyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      }
    : {
        generate: { name: "ECDSA", namedCurve: "P-256" },
        signing: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
        leafKeyUsage: x509.KeyUsageFlags.digitalSignature
      }

/** 16 random bytes with the top bit cleared and the next one set: positive, non-zero and of minimal DER length. */
const randomSerial = (): string => {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  bytes[0] = (bytes[0] & 0x7f) | 0x40
  return Buffer.from(bytes).toString("hex")
}

const localNames: ReadonlyArray<x509.JsonGeneralName> = [
  { type: "dns", value: "localhost" },
  { type: "ip", value: "127.0.0.1" },
  { type: "ip", value: "::1" }
]

interface Issued {
  readonly cert: x509.X509Certificate
  readonly keys: CryptoKeyPair
  readonly info: TestCert
}

const summarize = (cert: x509.X509Certificate, keys: CryptoKeyPair): Issued => {
  const der = Buffer.from(cert.rawData)
  const digest = (hash: string) => createHash(hash).update(der).digest("hex")
  const keyPem = KeyObject.from(keys.privateKey).export({ type: "pkcs8", format: "pem" }).toString()
  return {
    cert,
    keys,
    info: {
      certPem: `${cert.toString("pem")}\n`,
      keyPem,
      fingerprints: { sha256: digest("sha256"), sha1: digest("sha1"), md5: digest("md5") },
      serialNumber: cert.serialNumber.toLowerCase(),
      notBefore: cert.notBefore,
      notAfter: cert.notAfter
    }
  }
}

interface LeafSpec {
  readonly subject: string
  readonly names?: ReadonlyArray<x509.JsonGeneralName>
  readonly extendedKeyUsage?: ReadonlyArray<x509.ExtendedKeyUsage>
  readonly notBefore: Date
  readonly notAfter: Date
}

const generate = async (options: MakeTestPkiOptions): Promise<TestPki> => {
  const algorithm = options.algorithm ?? "ecdsa"
  const passphrase = options.passphrase ?? "netdial"
  const algs = algorithms(algorithm)
  const now = Date.now()
  const validFrom = new Date(now - HOUR)
  const validTo = new Date(now + 30 * DAY)

  const newKeys = () => crypto.subtle.generateKey(algs.generate, true, ["sign", "verify"]) as Promise<CryptoKeyPair>

  const makeCa = async (subject: string): Promise<Issued> => {
    const keys = await newKeys()
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: subject,
        notBefore: validFrom,
        notAfter: validTo,
        keys,
        signingAlgorithm: algs.signing,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto)
        ]
      },
      crypto
    )
    return summarize(cert, keys)
  }

  const leafExtensions = async (spec: LeafSpec, keys: CryptoKeyPair): Promise<x509.Extension[]> => {
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(algs.leafKeyUsage, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto)
    ]
    if (spec.extendedKeyUsage !== undefined) {
      extensions.push(new x509.ExtendedKeyUsageExtension([...spec.extendedKeyUsage], false))
    }
    if (spec.names !== undefined) {
      extensions.push(new x509.SubjectAlternativeNameExtension([...spec.names], false))
    }
    return extensions
  }

  const makeLeaf = async (issuer: Issued, spec: LeafSpec): Promise<Issued> => {
    const keys = await newKeys()
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: spec.subject,
        issuer: issuer.cert.subjectName,
        notBefore: spec.notBefore,
        notAfter: spec.notAfter,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
        signingAlgorithm: algs.signing,
        extensions: [
          ...(await leafExtensions(spec, keys)),
          await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey, false, crypto)
        ]
      },
      crypto
    )
    return summarize(cert, keys)
  }

  const makeSelfSignedLeaf = async (spec: LeafSpec): Promise<Issued> => {
    const keys = await newKeys()
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: spec.subject,
        notBefore: spec.notBefore,
        notAfter: spec.notAfter,
        keys,
        signingAlgorithm: algs.signing,
        extensions: await leafExtensions(spec, keys)
      },
      crypto
    )
    return summarize(cert, keys)
  }

  const serverAuth = [x509.ExtendedKeyUsage.serverAuth]
  const valid = { notBefore: validFrom, notAfter: validTo }

  const [ca, otherCa] = await Promise.all([
    makeCa("CN=netdial Test CA, O=netdial"),
    makeCa("CN=netdial Other Test CA, O=netdial")
  ])
  const [server, client, expired, notYetValid, wrongHost, selfSigned, ipOnly, untrusted] = await Promise.all([
    makeLeaf(ca, {
      subject: "CN=localhost, O=netdial",
      names: [
        { type: "dns", value: "localhost" },
        { type: "dns", value: "netdial.test" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" }
      ],
      extendedKeyUsage: serverAuth,
      ...valid
    }),
    makeLeaf(ca, {
      subject: "CN=netdial client, O=netdial",
      extendedKeyUsage: [x509.ExtendedKeyUsage.clientAuth],
      ...valid
    }),
    makeLeaf(ca, {
      subject: "CN=netdial expired, O=netdial",
      names: localNames,
      extendedKeyUsage: serverAuth,
      notBefore: new Date(now - 30 * DAY),
      notAfter: new Date(now - DAY)
    }),
    makeLeaf(ca, {
      subject: "CN=netdial not yet valid, O=netdial",
      names: localNames,
      extendedKeyUsage: serverAuth,
      notBefore: new Date(now + DAY),
      notAfter: new Date(now + 30 * DAY)
    }),
    makeLeaf(ca, {
      subject: "CN=wrong.example, O=netdial",
      names: [{ type: "dns", value: "wrong.example" }],
      extendedKeyUsage: serverAuth,
      ...valid
    }),
    makeSelfSignedLeaf({
      subject: "CN=netdial self-signed, O=netdial",
      names: localNames,
      extendedKeyUsage: serverAuth,
      ...valid
    }),
    makeLeaf(ca, {
      subject: "CN=netdial ip only, O=netdial",
      names: [
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" }
      ],
      extendedKeyUsage: serverAuth,
      ...valid
    }),
    makeLeaf(otherCa, {
      subject: "CN=netdial untrusted, O=netdial",
      names: localNames,
      extendedKeyUsage: serverAuth,
      ...valid
    })
  ])

  const encryptedKeyPem = createPrivateKey(client.info.keyPem)
    .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase })
    .toString()

  return {
    algorithm,
    passphrase,
    ca: ca.info,
    server: { ...server.info, chainPem: server.info.certPem + ca.info.certPem },
    client: { ...client.info, encryptedKeyPem },
    expired: expired.info,
    notYetValid: notYetValid.info,
    wrongHost: wrongHost.info,
    selfSigned: selfSigned.info,
    ipOnly: ipOnly.info,
    otherCa: otherCa.info,
    untrusted: untrusted.info
  }
}

const memo = new Map<string, Promise<TestPki>>()

/**
 * Makes (once per process and options) the test PKI. Repeated calls with the same options return the same promise,
 * so every test file in a worker shares one set of keys; a failed generation is not cached.
 */
export const makeTestPki = (options: MakeTestPkiOptions = {}): Promise<TestPki> => {
  const key = JSON.stringify([options.algorithm ?? "ecdsa", options.passphrase ?? "netdial"])
  const cached = memo.get(key)
  if (cached !== undefined) return cached
  const made = generate(options)
  memo.set(key, made)
  made.catch(() => memo.delete(key))
  return made
}

/** File paths of one certificate written by `writeTestPki`. */
export interface TestCertFiles {
  readonly cert: string
  readonly key: string
}

export interface TestPkiFiles {
  readonly dir: string
  readonly ca: TestCertFiles
  readonly server: TestCertFiles & { readonly chain: string }
  readonly client: TestCertFiles & { readonly encryptedKey: string }
  readonly expired: TestCertFiles
  readonly notYetValid: TestCertFiles
  readonly wrongHost: TestCertFiles
  readonly selfSigned: TestCertFiles
  readonly ipOnly: TestCertFiles
  readonly otherCa: TestCertFiles
  readonly untrusted: TestCertFiles
}

/**
 * Writes every certificate (`NAME.pem`) and private key (`NAME.key`, mode 0600) into `dir` (created if missing),
 * plus `server-chain.pem` and `client.encrypted.key`, for tools that want files (`openssl s_server`, `php`, …).
 * NAME is the kebab-case field name: `ca`, `server`, `client`, `expired`, `not-yet-valid`, `wrong-host`,
 * `self-signed`, `ip-only`, `other-ca`, `untrusted`.
 */
export const writeTestPki = async (pki: TestPki, dir: string): Promise<TestPkiFiles> => {
  await mkdir(dir, { recursive: true })
  const write = async (file: string, contents: string, mode: number): Promise<string> => {
    const path = join(dir, file)
    await writeFile(path, contents, { mode })
    await chmod(path, mode) // `mode` above only applies to a new file
    return path
  }
  const pair = async (name: string, cert: TestCert): Promise<TestCertFiles> => ({
    cert: await write(`${name}.pem`, cert.certPem, 0o644),
    key: await write(`${name}.key`, cert.keyPem, 0o600)
  })
  return {
    dir,
    ca: await pair("ca", pki.ca),
    server: {
      ...(await pair("server", pki.server)),
      chain: await write("server-chain.pem", pki.server.chainPem, 0o644)
    },
    client: {
      ...(await pair("client", pki.client)),
      encryptedKey: await write("client.encrypted.key", pki.client.encryptedKeyPem, 0o600)
    },
    expired: await pair("expired", pki.expired),
    notYetValid: await pair("not-yet-valid", pki.notYetValid),
    wrongHost: await pair("wrong-host", pki.wrongHost),
    selfSigned: await pair("self-signed", pki.selfSigned),
    ipOnly: await pair("ip-only", pki.ipOnly),
    otherCa: await pair("other-ca", pki.otherCa),
    untrusted: await pair("untrusted", pki.untrusted)
  }
}
