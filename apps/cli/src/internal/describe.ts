/**
 * Connections, TLS sessions and certificates as the stable JSON fields of the CLI, and as the lines of its human
 * summary. Types only from the packages: this is plain data mapping.
 */
import type { Connection, PeerCertificate, TlsDetails } from "@netdial/transport"
import { format } from "@netdial/url"
import type { Style } from "./output.ts"

export interface CertificateReport {
  readonly subject: string
  readonly issuer: string
  readonly subjectAltNames: ReadonlyArray<string>
  readonly validFrom: string
  readonly validTo: string
  /** Whole days until `validTo` (negative once expired). */
  readonly daysLeft: number
  readonly serialNumber: string
  readonly sha256: string
}

export const certificateReport = (c: PeerCertificate, now = Date.now()): CertificateReport => ({
  subject: c.subject,
  issuer: c.issuer,
  subjectAltNames: c.subjectAltNames,
  validFrom: c.validFrom.toISOString(),
  validTo: c.validTo.toISOString(),
  daysLeft: Math.floor((c.validTo.getTime() - now) / 86_400_000),
  serialNumber: c.serialNumber,
  sha256: c.fingerprints.sha256
})

export const tlsReport = (t: TlsDetails) => ({
  protocol: t.protocol,
  cipher: t.cipher.name,
  cipherStandardName: t.cipher.standardName,
  cipherBits: t.cipher.bits ?? null,
  keyExchange: t.keyExchange ?? null,
  alpn: t.alpnProtocol ?? null,
  servername: t.servername ?? null,
  sessionReused: t.sessionReused,
  verified: t.authorized,
  verifyError: t.authorizationError ?? null,
  peerCertificate: t.peerCertificate === undefined ? null : certificateReport(t.peerCertificate),
  ...(t.peerCertificateChain !== undefined ? { chain: t.peerCertificateChain.map((c) => certificateReport(c)) } : {})
})

const addressText = (a: Connection["remoteAddress"]): string => {
  const x = a as unknown as { _tag?: string; hostname?: string; port?: number; path?: string; address?: unknown }
  if (typeof x.path === "string") return x.path.startsWith("\u0000") ? `@${x.path.slice(1)}` : x.path || "(unnamed)"
  return String(a)
}

export const connectionReport = (c: Connection) => ({
  url: format(c.url),
  role: c.role,
  mode: c.mode,
  localAddress: addressText(c.localAddress),
  remoteAddress: addressText(c.remoteAddress),
  tls: c.tls === undefined ? null : tlsReport(c.tls)
})

/** Hex fingerprint with colons, as `openssl x509 -fingerprint` prints it. */
export const colonHex = (hex: string): string => hex.toUpperCase().replace(/(..)(?!$)/g, "$1:")

const expiry = (c: CertificateReport, s: Style): string => {
  const date = c.validTo.slice(0, 10)
  if (c.daysLeft < 0) return s.red(`${date} (expired ${-c.daysLeft} days ago)`)
  if (c.daysLeft < 14) return s.yellow(`${date} (${c.daysLeft} days left)`)
  return `${date} (${c.daysLeft} days left)`
}

/** The short summary of `connect` / `listen` on stderr: one line per fact. */
export const summaryRows = (
  r: ReturnType<typeof connectionReport>,
  s: Style
): ReadonlyArray<readonly [string, string]> => {
  const rows: Array<readonly [string, string]> = [
    ["address", `${r.remoteAddress} ${s.dim(`(from ${r.localAddress})`)}`]
  ]
  if (r.tls !== null) {
    const t = r.tls
    rows.push([
      "tls",
      `${t.protocol} ${t.cipher}${t.cipherBits !== null ? ` (${t.cipherBits} bits)` : ""}${t.keyExchange !== null ? `, ${t.keyExchange}` : ""}`
    ])
    if (t.alpn !== null) rows.push(["alpn", t.alpn])
    if (t.peerCertificate !== null) {
      rows.push(["peer", t.peerCertificate.subject])
      rows.push(["issuer", t.peerCertificate.issuer])
      rows.push(["expires", expiry(t.peerCertificate, s)])
    }
    if (r.role === "server" && t.verifyError === "verification disabled")
      rows.push(["client cert", s.dim("not requested")])
    else if (r.role === "server" && t.verifyError === "no peer certificate")
      rows.push(["client cert", s.dim("none sent")])
    else rows.push(["verified", t.verified ? s.green("yes") : s.red(`no (${t.verifyError ?? "unknown"})`)])
  }
  return rows
}

/** Every detail of a certificate for `probe`. */
export const certificateRows = (c: CertificateReport, s: Style): ReadonlyArray<readonly [string, string]> => [
  ["subject", s.bold(c.subject)],
  ["issuer", c.issuer],
  ["valid", `${c.validFrom.slice(0, 10)} → ${expiry(c, s)}`],
  ...(c.subjectAltNames.length > 0 ? [["names", c.subjectAltNames.join(", ")] as const] : []),
  ["serial", c.serialNumber],
  ["sha256", colonHex(c.sha256)]
]

export { expiry }
