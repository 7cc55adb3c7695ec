import { Result } from "effect"
import { NetAddress } from "effect/net"
import { describe, expect, it } from "vitest"
import { format, fromHostPort, type ParseOptions, parse, type TransportUrlErrorReason } from "../src/index.ts"

const ok = (input: string, options?: ParseOptions) => {
  const result = parse(input, options)
  if (Result.isFailure(result)) throw new Error(`expected ${JSON.stringify(input)} to parse: ${result.failure.message}`)
  return result.success
}

const err = (input: string, options?: ParseOptions) => {
  const result = parse(input, options)
  if (Result.isSuccess(result))
    throw new Error(`expected ${JSON.stringify(input)} to fail, got ${format(result.success)}`)
  return result.failure
}

// The manual page's 11 targets (fsockopen form: the port is the second argument) and its 3 URLs with ports.
describe("the PHP manual page, target by target", () => {
  const targets: ReadonlyArray<[target: string, canonical: string]> = [
    ["127.0.0.1", "tcp://127.0.0.1:80"],
    ["fe80::1", "tcp://[fe80::1]:80"],
    ["www.example.com", "tcp://www.example.com:80"],
    ["tcp://127.0.0.1", "tcp://127.0.0.1:80"],
    ["tcp://fe80::1", "tcp://[fe80::1]:80"],
    ["tcp://www.example.com", "tcp://www.example.com:80"],
    ["udp://www.example.com", "udp://www.example.com:80"],
    ["ssl://www.example.com", "ssl://www.example.com:80"],
    ["sslv2://www.example.com", "sslv2://www.example.com:80"],
    ["sslv3://www.example.com", "sslv3://www.example.com:80"],
    ["tls://www.example.com", "tls://www.example.com:80"]
  ]
  for (const [target, canonical] of targets) {
    it(`fromHostPort(${JSON.stringify(target)}, 80) → ${canonical}`, () => {
      expect(format(Result.getOrThrow(fromHostPort(target, 80)))).toBe(canonical)
    })
  }
  for (const url of ["tcp://127.0.0.1:80", "tcp://[fe80::1]:80", "tcp://www.example.com:80"]) {
    it(`parse(${JSON.stringify(url)}) is already canonical`, () => expect(format(ok(url))).toBe(url))
  }
  it("in the URL form, an IPv6 target needs its brackets even with a default port", () => {
    const e = err("tcp://fe80::1", { defaultPort: 80 })
    expect(e.reason).toBe("UnbracketedIpv6")
    expect(e.message).toContain("tcp://[fe80::1]:PORT")
  })
})

describe("parse: the forms of the PHP manual", () => {
  const table: ReadonlyArray<[input: string, canonical: string, hostKind: string | undefined]> = [
    ["127.0.0.1:80", "tcp://127.0.0.1:80", "ipv4"],
    ["tcp://127.0.0.1:80", "tcp://127.0.0.1:80", "ipv4"],
    ["tcp://fe80::1", "", undefined], // placeholder: refused below, needs brackets
    ["tcp://[fe80::1]:80", "tcp://[fe80::1]:80", "ipv6"],
    ["tcp://www.example.com:80", "tcp://www.example.com:80", "domain"],
    ["udp://127.0.0.1:53", "udp://127.0.0.1:53", "ipv4"],
    ["udp://[::1]:53", "udp://[::1]:53", "ipv6"],
    ["ssl://www.example.com:443", "ssl://www.example.com:443", "domain"],
    ["tls://www.example.com:443", "tls://www.example.com:443", "domain"],
    ["tlsv1.0://www.example.com:443", "tlsv1.0://www.example.com:443", "domain"],
    ["tlsv1.1://www.example.com:443", "tlsv1.1://www.example.com:443", "domain"],
    ["tlsv1.2://www.example.com:443", "tlsv1.2://www.example.com:443", "domain"],
    ["tlsv1.3://www.example.com:443", "tlsv1.3://www.example.com:443", "domain"],
    ["sslv2://www.example.com:443", "sslv2://www.example.com:443", "domain"],
    ["sslv3://www.example.com:443", "sslv3://www.example.com:443", "domain"],
    ["ssl://mail.example.com:465", "ssl://mail.example.com:465", "domain"],
    ["tcp://mail.example.com:587", "tcp://mail.example.com:587", "domain"]
  ]
  for (const [input, canonical, hostKind] of table) {
    if (canonical === "") continue
    it(`${input} → ${canonical}`, () => {
      const url = ok(input)
      expect(format(url)).toBe(canonical)
      expect(url.kind).toBe("inet")
      expect(url.hostKind).toBe(hostKind)
    })
  }

  it("no scheme means tcp", () => {
    const url = ok("example.com:80")
    expect(url.scheme).toBe("tcp")
    expect(url.hostname).toBe("example.com")
    expect(url.port).toBe(80)
  })

  it("schemes are case-insensitive and lower-cased", () => {
    expect(ok("TCP://h.example:1").scheme).toBe("tcp")
    expect(ok("TlSv1.3://h.example:1").scheme).toBe("tlsv1.3")
  })

  it("any RFC 3986 scheme token parses as host:port (custom transports)", () => {
    const url = ok("my-proto+v2.x://h.example:9")
    expect(url.scheme).toBe("my-proto+v2.x")
    expect(url.kind).toBe("inet")
  })

  it("exposes the effect/net host value", () => {
    const v4 = ok("tcp://10.1.2.3:1")
    expect(NetAddress.isIpv4Address(v4.host)).toBe(true)
    const v6 = ok("tcp://[2001:DB8::0001]:1")
    expect(NetAddress.isIpv6Address(v6.host)).toBe(true)
    expect(v6.hostname).toBe("2001:db8::1")
  })
})

describe("parse: hosts", () => {
  it("lower-cases domain names and keeps a trailing dot", () => {
    const url = ok("tcp://Mail.Example.COM.:25")
    expect(url.hostname).toBe("mail.example.com.")
    expect(format(url)).toBe("tcp://mail.example.com.:25")
  })

  it("turns IDN into punycode", () => {
    expect(ok("tcp://bücher.example:80").hostname).toBe("xn--bcher-kva.example")
    expect(ok("tcp://例え.テスト:80").hostname).toBe("xn--r8jz45g.xn--zckzah")
  })

  it("reads a zone id in the raw and the RFC 6874 form", () => {
    for (const input of ["tcp://[fe80::1%eth0]:80", "tcp://[fe80::1%25eth0]:80", "tcp://[FE80::1%25eth0]:80"]) {
      const url = ok(input)
      expect(url.hostname).toBe("fe80::1%eth0")
      expect(url.zone).toBe("eth0")
      expect(url.hostKind).toBe("ipv6")
      expect(format(url)).toBe("tcp://[fe80::1%25eth0]:80")
    }
    expect(ok("tcp://[fe80::1%4]:80").zone).toBe("4")
    // a zone literally named "25": the RFC 6874 form must escape the separator
    expect(ok("tcp://[fe80::1%2525]:80").zone).toBe("25")
    expect(ok("tcp://[fe80::1%25]:80").zone).toBe("25")
  })

  it("keeps embedded IPv4 in IPv6 canonical", () => {
    expect(ok("tcp://[::ffff:127.0.0.1]:80").hostname).toBe("::ffff:127.0.0.1")
  })
})

describe("parse: unix and udg paths", () => {
  it("absolute, relative and abstract", () => {
    const abs = ok("unix:///run/app.sock")
    expect([abs.kind, abs.path, abs.abstract]).toEqual(["unix", "/run/app.sock", false])
    expect(abs.port).toBeUndefined()
    expect(ok("unix://run/app.sock").path).toBe("run/app.sock")
    expect(ok("unix://./app.sock").path).toBe("./app.sock")
    const abstract = ok("udg://@netdial")
    expect([abstract.scheme, abstract.path, abstract.abstract]).toEqual(["udg", "\u0000netdial", true])
    expect(format(abstract)).toBe("udg://@netdial")
  })

  it("takes the path verbatim (a colon is part of the file name, as in PHP)", () => {
    expect(ok("unix:///tmp/s.sock:80").path).toBe("/tmp/s.sock:80")
  })

  it("allows spaces inside a path but not around it", () => {
    expect(ok("unix:///Library/Application Support/app.sock").path).toBe("/Library/Application Support/app.sock")
    expect(err("unix:// /tmp/s").reason).toBe("Whitespace")
    expect(err("unix:///tmp/s ").reason).toBe("Whitespace")
    expect(err("unix:///tmp/a\tb").reason).toBe("ControlCharacter")
  })

  it("refuses a path longer than the OS limit (PHP truncates it silently)", () => {
    const fits = `/${"a".repeat(106)}`
    expect(ok(`unix://${fits}`).path).toBe(fits)
    const e = err(`unix://${fits}b`)
    expect(e.reason).toBe("PathTooLong")
    expect(e.message).toContain("108 bytes")
    expect(e.position).toBe(7 + 107)
    // bytes, not characters: 54 two-byte letters are 108 bytes
    expect(err(`unix://${"é".repeat(54)}`).reason).toBe("PathTooLong")
    expect(ok(`unix://@${"x".repeat(107)}`).abstract).toBe(true)
    expect(err(`unix://@${"x".repeat(108)}`).reason).toBe("PathTooLong")
    expect(ok(`unix://${"a".repeat(103)}`, { maxUnixPathBytes: 103 }).kind).toBe("unix")
    expect(err(`unix://${"a".repeat(104)}`, { maxUnixPathBytes: 103 }).reason).toBe("PathTooLong")
  })

  it("refuses an empty path", () => {
    expect(err("unix://").reason).toBe("EmptyPath")
    expect(err("udg://@").reason).toBe("EmptyPath")
  })

  it("treats custom path schemes as paths when asked", () => {
    expect(ok("npipe://pipe/x", { pathSchemes: ["npipe"] }).path).toBe("pipe/x")
  })
})

describe("parse: ports", () => {
  it("accepts 1–65535", () => {
    expect(ok("h.example:1").port).toBe(1)
    expect(ok("h.example:65535").port).toBe(65535)
  })

  it("port 0 only when the caller asks (servers binding an ephemeral port)", () => {
    expect(err("tcp://127.0.0.1:0").reason).toBe("PortZero")
    expect(ok("tcp://127.0.0.1:0", { allowPortZero: true }).port).toBe(0)
  })

  it("a missing port is an error unless a default is given", () => {
    expect(err("tcp://h.example").reason).toBe("MissingPort")
    expect(err("tcp://h.example:").reason).toBe("MissingPort")
    expect(err("tcp://[::1]").reason).toBe("MissingPort")
    expect(ok("tcp://h.example", { defaultPort: 443 }).port).toBe(443)
    expect(ok("tls://[::1]", { defaultPort: 443 }).port).toBe(443)
  })
})

// Every lax PHP case named in the issue, with the reason netdial gives and the fix it suggests.
describe("parse: where PHP is lax, netdial refuses with the fix", () => {
  const table: ReadonlyArray<[input: string, reason: TransportUrlErrorReason, position: number, suggestion?: string]> =
    [
      ["tcp://h.example:80abc", "InvalidPort", 18, "tcp://h.example:80"],
      ["tcp://h.example: 80", "Whitespace", 16, "tcp://h.example:80"],
      ["tcp://h.example:+80", "InvalidPort", 16, "tcp://h.example:80"],
      ["tcp://h.example:080", "PortLeadingZero", 16, "tcp://h.example:80"],
      ["tcp://h.example:99999", "PortOutOfRange", 16],
      ["tcp://h.example:4294985376", "PortOutOfRange", 16],
      ["tcp://h.example:-1", "InvalidPort", 16],
      ["tcp://h.example:80/path", "Path", 18, "tcp://h.example:80"],
      ["tcp://h.example:80?query", "Query", 18, "tcp://h.example:80"],
      ["tcp://h.example:80#fragment", "Fragment", 18, "tcp://h.example:80"],
      ["tcp://user:pw@h.example:80", "Userinfo", 13, "tcp://h.example:80"],
      ["tcp://user@h.example:80", "Userinfo", 10, "tcp://h.example:80"],
      [" tcp://h.example:80", "Whitespace", 0, "tcp://h.example:80"],
      ["tcp://h.example:80\n", "ControlCharacter", 18],
      ["tcp://h.exa\u0000mple:80", "ControlCharacter", 11],
      ["tcp://h.example:80\u00a0", "Whitespace", 18, "tcp://h.example:80"],
      ["tcp://::1:80", "UnbracketedIpv6", 6, "tcp://[::1]:80"],
      ["::1:80", "UnbracketedIpv6", 0, "tcp://[::1]:80"],
      ["tcp://fe80::1%eth0:443", "UnbracketedIpv6", 6, "tcp://[fe80::1%25eth0]:443"],
      ["tcp://::1", "UnbracketedIpv6", 6],
      ["x://h.example:1", "InvalidScheme", 0, "tcp://h.example:1"],
      ["1x://h.example:1", "InvalidScheme", 0, "tcp://h.example:1"],
      ["://h.example:1", "InvalidScheme", 0, "tcp://h.example:1"],
      ["tcp:/h.example:80", "MissingSlashes", 3, "tcp://h.example:80"],
      ["tcp:h.example:80", "MissingSlashes", 3, "tcp://h.example:80"],
      ["unix:/tmp/s.sock", "MissingSlashes", 4, "unix:///tmp/s.sock"],
      ["", "Empty", 0],
      ["127.1:80", "LegacyIpv4", 0, "127.0.0.1:80"],
      ["tcp://0x7f.0.0.1:80", "LegacyIpv4", 6, "tcp://127.0.0.1:80"],
      ["tcp://2130706433:80", "LegacyIpv4", 6, "tcp://127.0.0.1:80"],
      ["tcp://0177.0.0.1:80", "LegacyIpv4", 6, "tcp://127.0.0.1:80"],
      ["tcp://[127.0.0.1]:80", "BracketedNonIpv6", 6, "tcp://127.0.0.1:80"],
      ["tcp://[localhost]:80", "BracketedNonIpv6", 6, "tcp://localhost:80"],
      ["tcp://[::1:80", "InvalidIpv6", 6],
      ["tcp://[::1]80", "InvalidIpv6", 11, "tcp://[::1]:80"],
      ["tcp://[::g]:80", "InvalidIpv6", 7],
      ["tcp://[]:80", "MissingHost", 7],
      ["tcp://:80", "MissingHost", 6],
      ["tcp://", "MissingHost", 6],
      ["tcp://256.1.1.1:80", "InvalidHost", 6],
      ["tcp://-bad-.example:80", "InvalidHost", 6],
      ["tcp://a..b:80", "InvalidHost", 6]
    ]
  for (const [input, reason, position, suggestion] of table) {
    it(`${JSON.stringify(input)} → ${reason}`, () => {
      const e = err(input)
      expect(e._tag).toBe("TransportUrlError")
      expect(e.reason).toBe(reason)
      expect(e.input).toBe(input)
      expect(e.position).toBe(position)
      expect(e.suggestion).toBe(suggestion)
      expect(e.message.length).toBeGreaterThan(20)
      if (suggestion !== undefined && !suggestion.includes("PORT")) {
        expect(e.message).toContain(suggestion)
        // the suggested fix itself parses
        expect(Result.isSuccess(parse(suggestion))).toBe(true)
      }
    })
  }

  it("names the IPv6 fix in the words of the issue", () => {
    expect(err("tcp://::1:80").message).toBe("IPv6 addresses need brackets when a port follows: tcp://[::1]:80")
  })

  it("accepts and normalises legacy IPv4 spellings only when asked", () => {
    for (const input of ["127.1:80", "0x7f.0.0.1:80", "2130706433:80", "0177.0.0.1:80", "0x7F000001:80"]) {
      const url = ok(input, { allowLegacyIpv4: true })
      expect(url.hostname).toBe("127.0.0.1")
      expect(format(url)).toBe("tcp://127.0.0.1:80")
    }
  })

  it("says what PHP would have done with an atoi port", () => {
    expect(err("h.example:80abc").message).toContain("PHP would read it as 80")
    expect(err("h.example:99999").message).toContain("34463")
    expect(err("h.example:-1").message).toContain("65535")
  })

  it("rejects bad options instead of ignoring them", () => {
    expect(err("h.example", { defaultPort: 0 }).reason).toBe("InvalidOption")
    expect(err("h.example", { defaultPort: 70000 }).reason).toBe("InvalidOption")
    expect(err("h.example:1", { defaultScheme: "x" }).reason).toBe("InvalidOption")
    expect(err("unix://x", { maxUnixPathBytes: -1 }).reason).toBe("InvalidOption")
  })

  it("never throws on a non-string", () => {
    expect(err(undefined as unknown as string).reason).toBe("NotAString")
    expect(err(42 as unknown as string).reason).toBe("NotAString")
  })
})

describe("fromHostPort (the fsockopen form)", () => {
  const good = (host: string, port: number | undefined, options?: ParseOptions) => {
    const result = fromHostPort(host, port, options)
    if (Result.isFailure(result)) throw new Error(result.failure.message)
    return format(result.success)
  }
  const bad = (host: string, port: number | undefined, options?: ParseOptions) => {
    const result = fromHostPort(host, port, options)
    if (Result.isSuccess(result)) throw new Error(`expected failure, got ${format(result.success)}`)
    return result.failure
  }

  it("joins host and port", () => {
    expect(good("www.example.com", 80)).toBe("tcp://www.example.com:80")
    expect(good("udp://127.0.0.1", 53)).toBe("udp://127.0.0.1:53")
    expect(good("ssl://mail.example.com", 465)).toBe("ssl://mail.example.com:465")
  })

  it("takes a raw IPv6 host without brackets (PHP builds ::1:80 and fails)", () => {
    expect(good("::1", 80)).toBe("tcp://[::1]:80")
    expect(good("fe80::1%eth0", 80)).toBe("tcp://[fe80::1%25eth0]:80")
    expect(good("tls://2001:db8::1", 443)).toBe("tls://[2001:db8::1]:443")
    expect(good("[::1]", 80)).toBe("tcp://[::1]:80")
  })

  it("with no port, the host carries its own (PHP's port -1)", () => {
    expect(good("tcp://127.0.0.1:80", undefined)).toBe("tcp://127.0.0.1:80")
    expect(good("unix:///run/a.sock", undefined)).toBe("unix:///run/a.sock")
  })

  it("refuses a port given twice, a port on a unix path, and bad ports", () => {
    expect(bad("127.0.0.1:80", 8080).reason).toBe("PortConflict")
    expect(bad("[::1]:80", 8080).reason).toBe("PortConflict")
    expect(bad("unix:///run/a.sock", 80).reason).toBe("PortNotAllowed")
    expect(bad("h.example", 0).reason).toBe("PortZero")
    expect(good("0.0.0.0", 0, { allowPortZero: true })).toBe("tcp://0.0.0.0:0")
    expect(bad("h.example", -1).reason).toBe("PortOutOfRange")
    expect(bad("h.example", 65536).reason).toBe("PortOutOfRange")
    expect(bad("h.example", 80.5).reason).toBe("InvalidPort")
    expect(bad("h.example", Number.NaN).reason).toBe("InvalidPort")
    expect(bad("h.example/x", 80).reason).toBe("Path")
    expect(bad("::g", 80).reason).toBe("InvalidIpv6")
    expect(bad("", 80).reason).toBe("Empty")
    expect(bad("tcp://", 80).reason).toBe("MissingHost")
    expect(bad("127.1", 80).reason).toBe("LegacyIpv4")
  })
})
