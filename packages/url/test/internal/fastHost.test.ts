import { Result } from "effect"
import { Host, NetAddress } from "effect/net"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { fastDomainName, fastIpv6, isStrictIpv4 } from "../../src/internal/fastHost.ts"

// The fast paths must agree with effect/net whenever they answer; when they do not answer, effect/net decides.
const hexish = fc.stringMatching(/^[0-9a-fA-F:.]{0,45}$/)
const nameish = fc.stringMatching(/^[a-zA-Z0-9_.-]{0,70}$/)

describe("isStrictIpv4", () => {
  it("agrees with NetAddress.ipv4FromString, and the text is canonical (60k cases)", () => {
    const input = fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.stringMatching(/^[0-9.]{0,17}$/))
    fc.assert(
      fc.property(input, (text) => {
        const slow = NetAddress.ipv4FromString(text)
        if (!isStrictIpv4(text)) return Result.isFailure(slow)
        return Result.isSuccess(slow) && text === NetAddress.formatIp(slow.success)
      }),
      { numRuns: 60_000 }
    )
  })
})

describe("fastIpv6", () => {
  it("agrees with NetAddress.ipv6FromString and formatIp (60k cases)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.ipV6(),
          fc.ipV6().map((s) => s.toUpperCase()),
          hexish
        ),
        (text) => {
          const fast = fastIpv6(text)
          if (fast === undefined) return true // effect/net decides
          const slow = NetAddress.ipv6FromString(text)
          return Result.isSuccess(slow) && fast === NetAddress.formatIp(slow.success)
        }
      ),
      { numRuns: 60_000 }
    )
  })

  it("answers for the common spellings", () => {
    for (const text of ["::1", "::", "2001:db8::1", "fe80::1", "1:2:3:4:5:6:7:8", "2001:DB8:0:0:0:0:0:1", "1::"]) {
      expect(fastIpv6(text), text).toBeDefined()
    }
    expect(fastIpv6("2001:DB8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1")
    expect(fastIpv6("::ffff:1.2.3.4")).toBeUndefined()
    expect(fastIpv6("1:::2")).toBeUndefined()
  })
})

describe("fastDomainName", () => {
  it("answers for every ASCII domain name (10k cases)", () => {
    fc.assert(
      fc.property(fc.domain(), (d) => fastDomainName(d) === d.toLowerCase()),
      { numRuns: 10_000 }
    )
  })

  it("agrees with Host.domainNameFromString (60k cases)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.domain(),
          fc.domain().map((d) => `${d.toUpperCase()}.`),
          nameish
        ),
        (text) => {
          const fast = fastDomainName(text)
          if (fast === undefined) return true // effect/net decides (IDN, the root ".", every error)
          const slow = Host.domainNameFromString(text)
          return Result.isSuccess(slow) && slow.success === fast
        }
      ),
      { numRuns: 60_000 }
    )
  })
})
