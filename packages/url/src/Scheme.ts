/**
 * Transport schemes: the part before `://`.
 *
 * Any RFC 3986 scheme token parses, so that custom transports can be registered later; the known ones are PHP's.
 */

/** The schemes PHP registers (plus the two SSL names it no longer offers), in PHP's order. */
export const knownSchemes = [
  "tcp",
  "udp",
  "ssl",
  "tls",
  "tlsv1.0",
  "tlsv1.1",
  "tlsv1.2",
  "tlsv1.3",
  "sslv2",
  "sslv3",
  "unix",
  "udg"
] as const

/** A scheme netdial knows by name. */
export type KnownScheme = (typeof knownSchemes)[number]

/** A lower-case RFC 3986 scheme token, known or custom. */
export type Scheme = KnownScheme | (string & {})

/** Schemes whose address is a filesystem path (or a Linux abstract name), not `host:port` (the parser tests these two by name). */
export const pathSchemes: ReadonlyArray<Scheme> = ["unix", "udg"]

/** The scheme used when the input has none, as in PHP. */
export const defaultScheme: Scheme = "tcp"

const known: ReadonlySet<string> = new Set(knownSchemes)

/** `true` for one of {@link knownSchemes}; the argument must already be lower case. */
export const isKnownScheme = (scheme: string): scheme is KnownScheme => known.has(scheme)

/** `true` for a string that is an RFC 3986 scheme of at least two characters (`ALPHA *( ALPHA / DIGIT / + / - / . )`). */
export const isSchemeToken = (text: string): boolean => {
  if (text.length < 2) return false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    if (i === 0 ? !alpha : !(alpha || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) return false
  }
  return true
}
