import { Equal, Hash, Result } from "effect"
import { NetAddress } from "effect/net"
import { describe, expect, it } from "vitest"
import { format, isTransportUrl, parse, type TransportUrl } from "../src/index.ts"

const url = (input: string): TransportUrl => Result.getOrThrow(parse(input))

describe("TransportUrl", () => {
  it("formats canonically: explicit scheme, lower case, brackets, RFC 6874 zone", () => {
    expect(format(url("Example.COM:80"))).toBe("tcp://example.com:80")
    expect(format(url("UDP://[0:0:0:0:0:0:0:1]:53"))).toBe("udp://[::1]:53")
    expect(format(url("tls://[FE80::1%eth0]:443"))).toBe("tls://[fe80::1%25eth0]:443")
    expect(format(url("unix:///run/x.sock"))).toBe("unix:///run/x.sock")
    expect(format(url("UNIX://@abstract"))).toBe("unix://@abstract")
  })

  it("compares and hashes structurally", () => {
    const a = url("tcp://[::1]:80")
    const b = url("TCP://[0::1]:80")
    expect(a).not.toBe(b)
    expect(Equal.equals(a, b)).toBe(true)
    expect(Hash.hash(a)).toBe(Hash.hash(b))
    expect(Equal.equals(a, url("tcp://[::1]:81"))).toBe(false)
    expect(Equal.equals(a, url("udp://[::1]:80"))).toBe(false)
    expect(Equal.equals(url("unix://@a"), url("unix://@a"))).toBe(true)
    expect(Equal.equals(url("unix://@a"), url("unix://a"))).toBe(false)
  })

  it("is recognisable and prints as its canonical form", () => {
    const u = url("tcp://127.0.0.1:80")
    expect(isTransportUrl(u)).toBe(true)
    expect(isTransportUrl({ scheme: "tcp" })).toBe(false)
    expect(String(u)).toBe("tcp://127.0.0.1:80")
    expect(JSON.parse(JSON.stringify(u))).toEqual({
      scheme: "tcp",
      kind: "inet",
      hostname: "127.0.0.1",
      hostKind: "ipv4",
      port: 80
    })
  })

  it("builds the effect/net host value on first use, once", () => {
    const u = url("tcp://[2001:db8::1]:80")
    expect(u.host).toBe(u.host)
    expect(Equal.equals(u.host, NetAddress.ipFromStringUnsafe("2001:db8::1"))).toBe(true)
    expect(NetAddress.isIpv4Address(url("tcp://10.0.0.1:1").host)).toBe(true)
    expect(url("tcp://[fe80::1%eth0]:1").host).toBe("fe80::1%eth0")
  })

  it("exposes scheme, kind, hostname, host, port and path on both kinds", () => {
    const inet = url("tls://mail.example.com:465")
    expect([inet.scheme, inet.kind, inet.hostname, inet.host, inet.port, inet.path]).toEqual([
      "tls",
      "inet",
      "mail.example.com",
      "mail.example.com",
      465,
      undefined
    ])
    const unix = url("unix:///run/a.sock")
    expect([unix.scheme, unix.kind, unix.hostname, unix.host, unix.port, unix.path]).toEqual([
      "unix",
      "unix",
      undefined,
      undefined,
      undefined,
      "/run/a.sock"
    ])
  })
})
