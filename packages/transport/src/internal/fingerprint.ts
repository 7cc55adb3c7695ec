/**
 * Certificate fingerprints: digests of the DER encoding, as lower-case hex without colons (the form `openssl x509
 * -fingerprint` prints, minus colons and case). Pins are compared in constant time so that a probing peer learns
 * nothing from how long a mismatch takes.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import type { PeerFingerprint } from "../TlsOptions.ts"

export type FingerprintAlgorithm = "sha256" | "sha1" | "md5"

export interface Fingerprints {
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
}

/** Node/OpenSSL-style error code for a pin mismatch; `classify` maps it to the `FingerprintMismatch` TLS problem. */
export const fingerprintMismatchCode = "ERR_NETDIAL_FINGERPRINT_MISMATCH"

export const fingerprintOf = (der: Uint8Array, algorithm: FingerprintAlgorithm): string =>
  createHash(algorithm).update(der).digest("hex")

export const fingerprintsOf = (der: Uint8Array): Fingerprints => ({
  sha256: fingerprintOf(der, "sha256"),
  sha1: fingerprintOf(der, "sha1"),
  md5: fingerprintOf(der, "md5")
})

/** Drops colons (and surrounding blanks) and lower-cases: `AB:CD:…` and `abcd…` are the same fingerprint. */
export const normalizeFingerprint = (hex: string): string => hex.trim().replaceAll(":", "").toLowerCase()

/** The digest a bare hex fingerprint stands for, by its number of hex digits. */
export const algorithmOfLength = (hexDigits: number): FingerprintAlgorithm | undefined =>
  hexDigits === 64 ? "sha256" : hexDigits === 40 ? "sha1" : hexDigits === 32 ? "md5" : undefined

export interface ExpectedFingerprint {
  readonly algorithm: FingerprintAlgorithm
  /** Normalized hex. */
  readonly hex: string
}

/** The digests a `peerFingerprint` option asks for (all must match). Decoded options always give at least one. */
export const expectedFingerprints = (pin: PeerFingerprint): ReadonlyArray<ExpectedFingerprint> => {
  if (typeof pin === "string") {
    const hex = normalizeFingerprint(pin)
    const algorithm = algorithmOfLength(hex.length)
    // An undecodable length cannot match anything; keep it so that the comparison fails instead of passing.
    return [{ algorithm: algorithm ?? "sha256", hex }]
  }
  const expected: Array<ExpectedFingerprint> = []
  for (const algorithm of ["sha256", "sha1", "md5"] as const) {
    const hex = pin[algorithm]
    if (hex !== undefined) expected.push({ algorithm, hex: normalizeFingerprint(hex) })
  }
  return expected
}

/** Constant-time equality of two hex strings (different lengths are unequal, which leaks only the length). */
export const sameFingerprint = (a: string, b: string): boolean => {
  const left = Buffer.from(a, "utf8")
  const right = Buffer.from(b, "utf8")
  return left.length === right.length && timingSafeEqual(left, right)
}

/** True when every expected digest matches the DER certificate; false for an empty expectation. */
export const matchesFingerprints = (der: Uint8Array, expected: ReadonlyArray<ExpectedFingerprint>): boolean => {
  if (expected.length === 0) return false
  let ok = true
  // No early exit: every digest is computed and compared, whatever the first one gave.
  for (const { algorithm, hex } of expected) ok = sameFingerprint(fingerprintOf(der, algorithm), hex) && ok
  return ok
}

/** An Error shaped like Node's (a `code`), so that `classify` turns it into `FingerprintMismatch`. */
export const fingerprintMismatch = (
  actual: Fingerprints | undefined,
  expected: ReadonlyArray<ExpectedFingerprint>
): Error & { readonly code: string } => {
  const wanted = expected.map(({ algorithm, hex }) => `${algorithm} ${hex}`).join(", ")
  const got =
    actual === undefined
      ? "the peer sent no certificate"
      : `the peer's certificate has ${expected.map(({ algorithm }) => `${algorithm} ${actual[algorithm]}`).join(", ")}`
  return Object.assign(new Error(`expected ${wanted}; ${got}`), { code: fingerprintMismatchCode })
}
