import { describe, expect, it } from "vitest"
import { legacyIpv4Octets } from "../../src/internal/legacyIpv4.ts"

describe("legacyIpv4Octets (inet_aton)", () => {
  it("reads the short, octal and hex spellings glibc accepts", () => {
    expect(legacyIpv4Octets("127.1")).toEqual([127, 0, 0, 1])
    expect(legacyIpv4Octets("127.0.1")).toEqual([127, 0, 0, 1])
    expect(legacyIpv4Octets("0x7f.0.0.1")).toEqual([127, 0, 0, 1])
    expect(legacyIpv4Octets("0177.0.0.1")).toEqual([127, 0, 0, 1])
    expect(legacyIpv4Octets("2130706433")).toEqual([127, 0, 0, 1])
    expect(legacyIpv4Octets("0x7F000001")).toEqual([127, 0, 0, 1])
    expect(legacyIpv4Octets("4294967295")).toEqual([255, 255, 255, 255])
    expect(legacyIpv4Octets("10.0x10.010.1")).toEqual([10, 16, 8, 1])
  })

  it("refuses what inet_aton refuses", () => {
    for (const bad of [
      "",
      "1.2.3.4.5",
      "256.1.1.1",
      "4294967296",
      "08.1.1.1",
      "0x1g",
      "1..1",
      "a.b.c.d",
      "1.16777216"
    ]) {
      expect(legacyIpv4Octets(bad)).toBeUndefined()
    }
  })
})
