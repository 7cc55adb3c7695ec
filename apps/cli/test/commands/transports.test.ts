/** `netdial transports`: the registry as the transport layer reports it, and the STARTTLS protocols with ports. */
import { describe, expect, it } from "vitest"
import { run, runJson } from "../support/cli.ts"

describe("netdial transports", () => {
  it("lists every built-in scheme with kind and security, and the STARTTLS protocols with their ports", async () => {
    const r = await runJson(["transports"])
    expect(r.code).toBe(0)
    const schemes = r.json.transports.map((t: { scheme: string }) => t.scheme)
    expect(schemes).toEqual(
      expect.arrayContaining([
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
    )
    expect(r.json.transports.find((t: { scheme: string }) => t.scheme === "udp")).toMatchObject({
      kind: "datagram",
      secure: false
    })
    expect(r.json.transports.find((t: { scheme: string }) => t.scheme === "tls")).toMatchObject({
      kind: "stream",
      secure: true
    })
    const smtp = r.json.starttls.find((p: { protocol: string }) => p.protocol === "smtp")
    expect(smtp).toMatchObject({ plainPort: 587, implicitTlsPort: 465 })
    expect(r.json.starttls).toHaveLength(13)
  })

  it("prints one line per scheme", async () => {
    const r = await run(["transports"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^\s+tcp:\/\/\s+stream\s+TCP stream$/m)
    expect(r.stdout).toMatch(/^\s+sslv2:\/\/.*RFC 6176/m)
    expect(r.stdout).toMatch(/^\s+imap\s+143\/993/m)
  })
})
