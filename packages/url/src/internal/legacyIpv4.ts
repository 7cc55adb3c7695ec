/**
 * The IPv4 spellings that C's inet_aton (and so glibc's getaddrinfo, and PHP) accept besides dotted decimal:
 * 1 to 4 parts, each decimal, octal (leading 0) or hexadecimal (0x), the last part filling the remaining bytes.
 * `127.1`, `0x7f.0.0.1`, `0177.0.0.1` and `2130706433` all mean 127.0.0.1. They are a classic SSRF trick, so the
 * parser refuses them unless asked; this module only recognises them.
 */

/** The four octets an inet_aton spelling stands for, or `undefined` when the text is not one. */
export const legacyIpv4Octets = (text: string): [number, number, number, number] | undefined => {
  const parts = text.split(".")
  if (parts.length > 4) return undefined
  const values: Array<number> = []
  for (const part of parts) {
    const value = parsePart(part)
    if (value === undefined) return undefined
    values.push(value)
  }
  const last = values.length - 1
  for (let i = 0; i < last; i++) if (values[i] > 0xff) return undefined
  const tail = values[last]
  if (tail >= 2 ** (8 * (4 - last))) return undefined
  let word = tail
  for (let i = 0; i < last; i++) word += values[i] * 2 ** (8 * (3 - i))
  return [Math.floor(word / 0x1000000) & 0xff, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff]
}

const parsePart = (part: string): number | undefined => {
  if (part.length === 0 || part.length > 34) return undefined
  let digits: string
  let radix: number
  if (part.length > 1 && part[0] === "0" && (part[1] === "x" || part[1] === "X")) {
    digits = part.slice(2)
    radix = 16
    // inet_aton reads a bare "0x" as zero
    if (digits.length === 0) return 0
    if (!/^[0-9a-fA-F]+$/.test(digits)) return undefined
  } else if (part.length > 1 && part[0] === "0") {
    digits = part.slice(1)
    radix = 8
    if (!/^[0-7]+$/.test(digits)) return undefined
  } else {
    digits = part
    radix = 10
    if (!/^[0-9]+$/.test(digits)) return undefined
  }
  const value = Number.parseInt(digits, radix)
  return value <= 0xffffffff ? value : undefined
}
