import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { reasons } from "../src/index.ts"
import { outcomes, properties } from "./properties.ts"

// 100k+ cases in all: 40k arbitrary strings, 50k URL-shaped inputs, 20k fsockopen pairs.
describe("properties", () => {
  it("parse never throws on arbitrary Unicode, and its laws hold (40k)", () => {
    expect(() => fc.assert(properties.arbitraryStrings, { numRuns: 40_000 })).not.toThrow()
  })
  it("URL-shaped input round-trips: parse(format(u)) equals u, format is idempotent (50k)", () => {
    expect(() => fc.assert(properties.urlShaped, { numRuns: 50_000 })).not.toThrow()
  })
  it("fromHostPort never throws and round-trips (20k)", () => {
    expect(() => fc.assert(properties.hostPort, { numRuns: 20_000 })).not.toThrow()
  })
  it("the generators reach acceptance and every refusal reason (the laws are not vacuous)", () => {
    expect(outcomes.get("accepted") ?? 0).toBeGreaterThan(10_000)
    const reached = reasons.filter((r) => (outcomes.get(r) ?? 0) > 0)
    // NotAString is unreachable from string generators; it is covered by the table tests.
    expect(reasons.filter((r) => r !== "NotAString" && !reached.includes(r))).toEqual([])
  })
})
