import { Config, ConfigProvider, Effect, Exit, Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { format, parse, TransportUrlFromString, transportUrlFromString } from "../src/index.ts"

describe("TransportUrlFromString", () => {
  it("decodes a string and encodes back to the canonical form", () => {
    const url = Schema.decodeUnknownSync(TransportUrlFromString)("TLS://[::1]:443")
    expect(format(url)).toBe("tls://[::1]:443")
    expect(Schema.encodeSync(TransportUrlFromString)(url)).toBe("tls://[::1]:443")
  })

  it("fails with the parser's message", () => {
    const result = Schema.decodeUnknownExit(TransportUrlFromString)("tcp://::1:80")
    expect(Exit.isFailure(result)).toBe(true)
    expect(String(result)).toContain("IPv6 addresses need brackets when a port follows: tcp://[::1]:80")
    expect(Exit.isFailure(Schema.decodeUnknownExit(TransportUrlFromString)(42))).toBe(true)
  })

  it("takes parse options", () => {
    const schema = transportUrlFromString({ defaultPort: 465 })
    expect(Schema.decodeUnknownSync(schema)("ssl://mail.example.com").port).toBe(465)
  })

  it("reads a transport URL from configuration", async () => {
    const config = Config.schema(TransportUrlFromString, "UPSTREAM")
    const good = await Effect.runPromise(
      config.parse(ConfigProvider.fromEnv({ env: { UPSTREAM: "udp://127.0.0.1:53" } }))
    )
    expect(format(good)).toBe("udp://127.0.0.1:53")
    const bad = await Effect.runPromiseExit(
      config.parse(ConfigProvider.fromEnv({ env: { UPSTREAM: "127.0.0.1:80/x" } }))
    )
    expect(Exit.isFailure(bad)).toBe(true)
    expect(String(bad)).toContain("A transport address has no path")
    expect(Result.isFailure(parse("127.0.0.1:80/x"))).toBe(true)
  })
})
