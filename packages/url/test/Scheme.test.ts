import { describe, expect, it } from "vitest"
import { isKnownScheme, isSchemeToken, knownSchemes, pathSchemes } from "../src/index.ts"

describe("Scheme", () => {
  it("knows PHP's transports and the refused SSL names", () => {
    expect(knownSchemes).toEqual([
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
    ])
    expect(pathSchemes).toEqual(["unix", "udg"])
    expect(isKnownScheme("tlsv1.3")).toBe(true)
    expect(isKnownScheme("http")).toBe(false)
  })

  it("accepts RFC 3986 scheme tokens of two characters or more", () => {
    for (const ok of ["tcp", "ab", "a1", "x+y", "svn+ssh", "tlsv1.3", "my-proto"]) expect(isSchemeToken(ok)).toBe(true)
    for (const bad of ["", "x", "1x", "+x", "a b", "a_b", "tcp:", "ü1"]) expect(isSchemeToken(bad)).toBe(false)
  })
})
