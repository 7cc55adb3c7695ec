import { spawnSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const appDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

describe("the demo, run as a user would", () => {
  it("node src/main.ts --json: every expected outcome happens, exit 0, within 60 s", () => {
    const started = Date.now()
    const run = spawnSync(process.execPath, ["src/main.ts", "--json"], {
      cwd: appDir,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: "1" }
    })
    const elapsed = Date.now() - started
    expect(run.error).toBeUndefined()
    expect(run.stderr).toBe("")
    const tour = JSON.parse(run.stdout) as {
      ok: boolean
      durationMs: number
      results: Array<{ part: number; input: string; outcome: string; expected: string; ok: boolean }>
    }
    const failed = tour.results.filter((r) => !r.ok)
    expect(failed).toEqual([])
    expect(tour.ok).toBe(true)
    expect(run.status).toBe(0)
    expect(elapsed).toBeLessThan(60_000)
    // all three parts ran
    expect(new Set(tour.results.map((r) => r.part))).toEqual(new Set([1, 2, 3]))
    expect(tour.results.filter((r) => r.part === 1).length).toBe(13)
    expect(tour.results.filter((r) => r.part === 2).length).toBe(3)
    expect(tour.results.filter((r) => r.part === 3).length).toBe(3)
    // the attacker was refused for the right reason, and sslv2/sslv3 never dialled
    const attacker = tour.results.find((r) => r.part === 2 && r.input.includes("attacker"))
    expect(attacker?.outcome).toContain("Injection")
    for (const scheme of ["sslv2://", "sslv3://"]) {
      expect(tour.results.find((r) => r.input.startsWith(scheme))?.outcome).toContain("UnsupportedTransport")
    }
  })
})
