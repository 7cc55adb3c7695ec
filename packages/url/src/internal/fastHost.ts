/**
 * Fast paths for the common host spellings. effect/net's parsers are the reference (and handle everything else:
 * IDN, zones, embedded IPv4, and all errors), but cost 0.3–0.9 µs each; these single-pass scanners accept only
 * input they can decide for certain and return `undefined` otherwise, so the caller falls back to effect/net.
 * test/internal/fastHost.test.ts checks them against effect/net on random input.
 */

/** Strict dotted decimal (`127.0.0.1`): four 0–255 numbers, no leading zeros. The text is its own canonical form. */
export const isStrictIpv4 = (text: string): boolean => {
  let part = 0
  let value = 0
  let digits = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return false // leading zero
      value = value * 10 + (c - 0x30)
      if (++digits > 3 || value > 255) return false
    } else if (c === 0x2e && digits > 0 && part < 3) {
      part++
      value = 0
      digits = 0
    } else return false
  }
  return part === 3 && digits > 0
}

const hexValue = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1

/**
 * The canonical (RFC 5952) text of an IPv6 address written as hex groups with at most one `::`; `undefined` for
 * anything else (zones, embedded IPv4, IPv4-mapped, invalid), which goes to effect/net.
 */
export const fastIpv6 = (text: string): string | undefined => {
  const n = text.length
  if (n < 2 || n > 39) return undefined
  const groups = [0, 0, 0, 0, 0, 0, 0, 0]
  let count = 0
  let gap = -1
  let i = 0
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return undefined
    gap = 0
    i = 2
  }
  while (i < n) {
    let value = 0
    let digits = 0
    for (; i < n; i++) {
      const h = hexValue(text.charCodeAt(i))
      if (h < 0) break
      value = value * 16 + h
      if (++digits > 4) return undefined
    }
    if (digits === 0 || count === 8) return undefined
    groups[count++] = value
    if (i === n) break
    if (text.charCodeAt(i) !== 0x3a) return undefined
    i++
    if (i === n) return undefined
    if (text.charCodeAt(i) === 0x3a) {
      if (gap !== -1) return undefined
      gap = count
      i++
    }
  }
  if (gap === -1 ? count !== 8 : count > 7) return undefined
  if (gap !== -1) {
    // Move the groups after the gap to the end; zeros fill the middle.
    const shift = 8 - count
    for (let k = count - 1; k >= gap; k--) {
      groups[k + shift] = groups[k]
      groups[k] = 0
    }
  }
  // IPv4-mapped addresses print with a dotted tail; leave them to effect/net.
  if (groups[5] === 0xffff && groups[0] + groups[1] + groups[2] + groups[3] + groups[4] === 0) return undefined
  return formatSegments(groups)
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2, leftmost on a tie) of zero groups as `::`. */
const formatSegments = (segments: ReadonlyArray<number>): string => {
  let bestStart = -1
  let bestLength = 1
  for (let k = 0; k < 8; ) {
    if (segments[k] !== 0) {
      k++
      continue
    }
    let end = k
    while (end < 8 && segments[end] === 0) end++
    if (end - k > bestLength) {
      bestStart = k
      bestLength = end - k
    }
    k = end
  }
  let out = ""
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += k === 0 ? "::" : ":"
      k += bestLength - 1
      continue
    }
    out += segments[k].toString(16)
    if (k < 7) out += ":"
  }
  return out
}

/**
 * An ASCII domain name that effect/net's `Host.domainNameFromString` would accept, lower-cased; `undefined` for
 * anything else (IDN, invalid names), which the caller passes to effect/net for the verdict.
 */
export const fastDomainName = (text: string): string | undefined => {
  const n = text.length
  const end = n > 0 && text.charCodeAt(n - 1) === 0x2e ? n - 1 : n
  if (end === 0 || end > 253) return undefined
  let upper = false
  let labelStart = 0
  let lastLabelStart = 0
  for (let i = 0; i <= end; i++) {
    const c = i === end ? 0x2e : text.charCodeAt(i)
    if (c === 0x2e) {
      const length = i - labelStart
      if (length === 0 || length > 63) return undefined
      if (text.charCodeAt(labelStart) === 0x2d || text.charCodeAt(i - 1) === 0x2d) return undefined
      lastLabelStart = labelStart
      labelStart = i + 1
    } else if (c >= 0x41 && c <= 0x5a) upper = true
    else if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) return undefined
  }
  // A numeric last label (all digits, or a 0x number) would read as an IPv4 address.
  let numeric = true
  for (let i = lastLabelStart; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x30 || c > 0x39) {
      numeric = false
      break
    }
  }
  if (numeric) return undefined
  const c0 = text.charCodeAt(lastLabelStart)
  const c1 = text.charCodeAt(lastLabelStart + 1)
  if (c0 === 0x30 && (c1 === 0x78 || c1 === 0x58)) return undefined
  return upper ? text.toLowerCase() : text
}
