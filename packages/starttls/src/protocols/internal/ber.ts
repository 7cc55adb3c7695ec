/**
 * The BER subset LDAP needs (RFC 4511 §5.1 restricts it: definite lengths only): TLV headers with high tag numbers
 * and long-form lengths, element lists, INTEGER/ENUMERATED values, and an encoder for requests. Pure functions over
 * bytes, so that a reader can wait for exactly one whole element and consume nothing past it.
 */

export interface Tlv {
  /** The first identifier octet: class (bits 8–7), constructed (bit 6), tag number (bits 5–1, 31 = high form). */
  readonly identifier: number
  readonly tagClass: "universal" | "application" | "context" | "private"
  readonly constructed: boolean
  readonly tagNumber: number
  readonly content: Uint8Array
  /** Header and content. */
  readonly size: number
}

export type HeaderResult =
  | { readonly headerLength: number; readonly contentLength: number }
  | "incomplete"
  | { readonly error: string }

const classes = ["universal", "application", "context", "private"] as const

/** Decodes the identifier and length octets at `at`; an indefinite length (0x80) is an error, as in LDAP. */
export const decodeHeader = (bytes: Uint8Array, at = 0): HeaderResult => {
  let i = at
  if (i >= bytes.length) return "incomplete"
  const identifier = bytes[i++]
  if ((identifier & 0x1f) === 0x1f) {
    let count = 0
    while (true) {
      if (i >= bytes.length) return "incomplete"
      const b = bytes[i++]
      if (++count > 4) return { error: "a tag number that is too large" }
      if ((b & 0x80) === 0) break
    }
  }
  if (i >= bytes.length) return "incomplete"
  const first = bytes[i++]
  if (first < 0x80) return { headerLength: i - at, contentLength: first }
  if (first === 0x80) return { error: "an indefinite length (LDAP allows definite lengths only)" }
  const octets = first & 0x7f
  if (octets > 4 || first === 0xff) return { error: `a length of ${octets} octets` }
  if (i + octets > bytes.length) return "incomplete"
  let length = 0
  for (let k = 0; k < octets; k++) length = length * 256 + bytes[i++]
  return { headerLength: i - at, contentLength: length }
}

/** One whole element at `at`, or why not. */
export const decodeTlv = (bytes: Uint8Array, at = 0): Tlv | "incomplete" | { readonly error: string } => {
  const header = decodeHeader(bytes, at)
  if (header === "incomplete" || "error" in header) return header
  const start = at + header.headerLength
  if (start + header.contentLength > bytes.length) return "incomplete"
  const identifier = bytes[at]
  let tagNumber = identifier & 0x1f
  if (tagNumber === 0x1f) {
    tagNumber = 0
    for (let i = at + 1; i < start; i++) {
      tagNumber = tagNumber * 128 + (bytes[i] & 0x7f)
      if ((bytes[i] & 0x80) === 0) break
    }
  }
  return {
    identifier,
    tagClass: classes[identifier >> 6],
    constructed: (identifier & 0x20) !== 0,
    tagNumber,
    content: bytes.subarray(start, start + header.contentLength),
    size: header.headerLength + header.contentLength
  }
}

/** The elements that exactly fill `bytes` (a constructed element's content). */
export const decodeAll = (bytes: Uint8Array): ReadonlyArray<Tlv> | { readonly error: string } => {
  const out: Array<Tlv> = []
  let at = 0
  while (at < bytes.length) {
    const tlv = decodeTlv(bytes, at)
    if (tlv === "incomplete") return { error: "an element longer than the one containing it" }
    if ("error" in tlv) return tlv
    out.push(tlv)
    at += tlv.size
  }
  return out
}

/** An INTEGER or ENUMERATED value (two's complement, up to 6 octets, leading padding allowed), or undefined. */
export const decodeInteger = (content: Uint8Array): number | undefined => {
  if (content.length === 0) return undefined
  let start = 0
  // BER allows redundant leading 0x00/0xff octets; skip them while the sign is unchanged
  while (
    start < content.length - 1 &&
    ((content[start] === 0 && (content[start + 1] & 0x80) === 0) ||
      (content[start] === 0xff && (content[start + 1] & 0x80) !== 0))
  )
    start++
  if (content.length - start > 6) return undefined
  // a negative number starts from -1, so that each octet shifts in two's complement
  let value = (content[start] & 0x80) !== 0 ? -1 : 0
  for (let i = start; i < content.length; i++) value = value * 256 + content[i]
  return value
}

// -- Encoding -----------------------------------------------------------------------------------------------------

const lengthOctets = (length: number): Array<number> => {
  if (length < 0x80) return [length]
  const bytes: Array<number> = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff)
  return [0x80 | bytes.length, ...bytes]
}

/** An element with a one-octet identifier. */
export const encodeTlv = (identifier: number, content: Uint8Array | ReadonlyArray<Uint8Array>): Uint8Array => {
  const parts = content instanceof Uint8Array ? [content] : content
  const total = parts.reduce((n, p) => n + p.length, 0)
  const header = [identifier, ...lengthOctets(total)]
  const out = new Uint8Array(header.length + total)
  out.set(header, 0)
  let at = header.length
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** A non-negative INTEGER (identifier 0x02) or ENUMERATED (0x0a), minimally encoded. */
export const encodeInteger = (value: number, identifier = 0x02): Uint8Array => {
  const bytes: Array<number> = []
  let n = value
  do {
    bytes.unshift(n & 0xff)
    n = Math.floor(n / 256)
  } while (n > 0)
  if ((bytes[0] & 0x80) !== 0) bytes.unshift(0)
  return encodeTlv(identifier, Uint8Array.from(bytes))
}
