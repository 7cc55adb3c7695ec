/** `netdial parse`: every field of the JSON output, the human rendering, and exit code 2 for refused input. */
import { describe, expect, it } from "vitest"
import { run, runJson } from "../support/cli.ts"

describe("netdial parse", () => {
  it.each([
    [
      "127.0.0.1:80",
      {
        scheme: "tcp",
        schemeGiven: false,
        kind: "inet",
        host: "127.0.0.1",
        hostKind: "ipv4",
        port: 80,
        canonical: "tcp://127.0.0.1:80"
      }
    ],
    [
      "tcp://[::1]:80",
      { scheme: "tcp", schemeGiven: true, host: "::1", hostKind: "ipv6", port: 80, canonical: "tcp://[::1]:80" }
    ],
    [
      "TLS://Example.COM:443",
      { scheme: "tls", host: "example.com", hostKind: "domain", canonical: "tls://example.com:443" }
    ],
    ["udp://127.0.0.1:53", { scheme: "udp", transport: "UDP datagrams", canonical: "udp://127.0.0.1:53" }],
    ["tlsv1.3://[fe80::1%25eth0]:443", { hostKind: "ipv6", zone: "eth0", canonical: "tlsv1.3://[fe80::1%25eth0]:443" }],
    [
      "unix:///run/app.sock",
      { kind: "unix", path: "/run/app.sock", abstract: false, canonical: "unix:///run/app.sock" }
    ],
    ["unix://@netdial", { kind: "unix", path: "@netdial", abstract: true }],
    ["sslv3://127.0.0.1:443", { scheme: "sslv3", transport: expect.stringMatching(/refused.*RFC 7568/) }]
  ])("explains %s", async (input, expected) => {
    const r = await runJson(["parse", input])
    expect(r.code).toBe(0)
    expect(r.json).toMatchObject({ command: "parse", ok: true, results: [{ input, ok: true, ...expected }] })
  })

  it.each([
    ["::1:80", "UnbracketedIpv6", 0, "tcp://[::1]:80"],
    ["tcp://127.0.0.1:80abc", "InvalidPort", 18, undefined],
    ["tcp://127.0.0.1:80/path", "Path", 18, undefined],
    ["tcp://127.1:80", "LegacyIpv4", 6, undefined],
    ["tcp://127.0.0.1", "MissingPort", 15, undefined]
  ])("refuses %s with reason %s at %d, exit 2", async (input, reason, position, suggestion) => {
    const r = await runJson(["parse", input])
    expect(r.code).toBe(2)
    expect(r.json.ok).toBe(false)
    const error = r.json.results[0].error
    expect(error).toMatchObject({ type: "TransportUrlError", reason })
    expect(error.position).toBe(position)
    expect(error.message.length).toBeGreaterThan(10)
    if (suggestion !== undefined) expect(error.suggestion).toBe(suggestion)
  })

  it("several inputs: one result each, exit 2 when any is refused", async () => {
    const r = await runJson(["parse", "127.0.0.1:1", "::1:80", "udp://[::1]:9"])
    expect(r.code).toBe(2)
    expect(r.json.results.map((x: { ok: boolean }) => x.ok)).toEqual([true, false, true])
  })

  it("--default-port, --allow-port-zero and --allow-legacy-ipv4 reach the parser", async () => {
    expect((await runJson(["parse", "tcp://example.com", "--default-port", "8080"])).json.results[0].port).toBe(8080)
    expect((await runJson(["parse", "tcp://127.0.0.1:0", "--allow-port-zero"])).json.results[0].port).toBe(0)
    expect((await runJson(["parse", "tcp://127.0.0.1:0"])).code).toBe(2)
    const legacy = await runJson(["parse", "tcp://127.1:80", "--allow-legacy-ipv4"])
    expect(legacy.json.results[0].canonical).toBe("tcp://127.0.0.1:80")
  })

  it("shows an accepted URL as aligned fields", async () => {
    const r = await run(["parse", "tls://[::1]:443"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/scheme\s+tls/)
    expect(r.stdout).toMatch(/host\s+::1 \(ipv6\)/)
    expect(r.stdout).toMatch(/port\s+443/)
    expect(r.stdout).toMatch(/canonical\s+tls:\/\/\[::1\]:443/)
  })

  it("points at the wrong character with a caret and gives the fix", async () => {
    const r = await run(["parse", "tcp://127.0.0.1:80abc"])
    expect(r.code).toBe(2)
    const lines = r.stdout.split("\n")
    const inputLine = lines.findIndex((l) => l.includes("tcp://127.0.0.1:80abc"))
    const caretColumn = lines[inputLine + 1]!.indexOf("^")
    const inputColumn = lines[inputLine]!.indexOf("tcp://")
    expect(caretColumn - inputColumn).toBe(18)
    expect(r.stdout).toMatch(/reason\s+InvalidPort/)
  })

  it("escapes control characters instead of printing them", async () => {
    const r = await run(["parse", "tcp://a\u0007b:1"])
    expect(r.code).toBe(2)
    expect(r.stdout).not.toContain("\u0007")
    expect(r.stdout).toContain("\\x07")
    expect(r.stdout).toMatch(/ControlCharacter/)
  })
})
