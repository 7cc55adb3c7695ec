/** The command as a whole: help, version, completions, usage errors and their exit codes. */
import { describe, expect, it } from "vitest"
import { run, runJson } from "./support/cli.ts"

const commands = ["connect", "listen", "probe", "parse", "transports"]

describe("netdial", () => {
  it("--help lists every command and exits 0", async () => {
    const r = await run(["--help"])
    expect(r.code).toBe(0)
    for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, "m"))
  })

  it.each(commands)("%s --help shows its description and examples", async (command) => {
    const r = await run([command, "--help"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("EXAMPLES")
    expect(r.stdout).toContain(`netdial ${command}`)
    expect(r.stdout).toContain("--json")
  })

  it("--version prints the package version", async () => {
    const r = await run(["--version"])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(/^netdial v\d+\.\d+\.\d+/)
  })

  it("--completions bash prints a completion script naming the commands", async () => {
    const r = await run(["--completions", "bash"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("netdial")
    expect(r.stdout).toContain("probe")
  })

  it("an unknown command is bad usage: exit 2", async () => {
    const r = await run(["dial", "tcp://127.0.0.1:1"])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/dial/)
  })

  it("an unknown flag is bad usage: exit 2, named on stderr", async () => {
    const r = await run(["parse", "--frobnicate", "x:1"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--frobnicate")
  })

  it("a flag with an invalid value is bad usage, and --json reports it as JSON", async () => {
    const r = await runJson(["connect", "tcp://127.0.0.1:1", "--tls-min", "1.4"])
    expect(r.code).toBe(2)
    expect(r.json).toMatchObject({ ok: false, error: { type: "UsageError" } })
    expect(r.json.error.message).toMatch(/tls-min/)
  })

  it("without a command it shows help and exits 0", async () => {
    const r = await run([])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("USAGE")
  })

  it("writes no colour escapes when the output is not a terminal", async () => {
    const r = await run(["parse", "tcp://127.0.0.1:80", "::1:80"])
    expect(r.stdout).not.toContain("\u001b[")
    expect(r.stderr).not.toContain("\u001b[")
  })
})
