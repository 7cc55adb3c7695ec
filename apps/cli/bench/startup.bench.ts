/**
 * `pnpm --filter @netdial/cli bench`: start-up time of the `netdial` command. Goal: `netdial parse` answers within
 * 100 ms of process start. Side by side in one hyperfine run (warm-up, ≥ 30 runs each, no shell in between):
 *
 * - `node -e 0`: the floor, Node starting and doing nothing;
 * - `openssl version`: a native CLI for scale;
 * - `netdial parse`, `netdial --version`, `netdial transports` (which loads the socket code chunk) from the built dist/;
 * - the same parse with V8's compile cache off (NODE_DISABLE_COMPILE_CACHE=1), to show what the cache saves;
 * - the unbundled sources (`node src/main.ts parse …`, TypeScript run directly by Node 24), to show what bundling buys.
 *
 * Prints a markdown table (mean ± σ, median, min, ratio to `node -e 0`) and whether the goal is met; hyperfine's JSON
 * export is kept in the OS temp dir. Without hyperfine it says how to install it and falls back to a spawn loop.
 * Not a test: start-up times depend on the machine and its load (printed with the results).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Os from "node:os"
import { join, relative } from "node:path"

const cliDir = join(import.meta.dirname, "..")
const repoDir = join(cliDir, "..", "..")
const dist = join(cliDir, "dist")
const workDir = mkdtempSync(join(Os.tmpdir(), "netdial-startup-bench-"))
/**
 * The bundle is self-contained (node: built-ins only), so it is timed from a copy in the temp dir: a rebuild of dist/
 * during the run (build.ts empties it first) cannot make a timed run fail.
 */
const bin = join(workDir, "dist", "netdial.js")
const node = process.execPath // the real Node 24 binary, not the node_modules/.bin shell wrapper
const GOAL_MS = 100
const WARMUP = 5
const RUNS = Math.max(30, Number(process.env.NETDIAL_BENCH_RUNS ?? 40))
const url = "tls://[::1]:443"

const major = Number(process.versions.node.split(".")[0])
if (major < 23) {
  console.error(
    `startup.bench.ts needs Node ≥ 23 (it runs the TypeScript sources directly); this is ${process.version}`
  )
  process.exit(1)
}

interface Case {
  readonly name: string
  readonly argv: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** What a correct run prints on stdout (checked once before timing, so no failure is timed). */
  readonly expect?: RegExp
}

const has = (command: string): boolean => spawnSync(command, ["--version"], { stdio: "ignore" }).error === undefined
const hasOpenssl = spawnSync("openssl", ["version"], { stdio: "ignore" }).error === undefined

const cases: ReadonlyArray<Case> = [
  { name: "node -e 0", argv: [node, "-e", "0"] },
  ...(hasOpenssl ? [{ name: "openssl version", argv: ["openssl", "version"], expect: /SSL/ }] : []),
  { name: `netdial parse '${url}'`, argv: [node, bin, "parse", url], expect: /canonical\s+tls:\/\/\[::1\]:443/ },
  { name: "netdial --version", argv: [node, bin, "--version"], expect: /^netdial v\d/ },
  { name: "netdial transports", argv: [node, bin, "transports"], expect: /tls:\/\// },
  {
    name: `netdial parse '${url}' (compile cache off)`,
    argv: [node, bin, "parse", url],
    env: { NODE_DISABLE_COMPILE_CACHE: "1" },
    expect: /canonical\s+tls:\/\/\[::1\]:443/
  },
  {
    name: `node apps/cli/src/main.ts parse '${url}' (unbundled)`,
    argv: [node, join(cliDir, "src", "main.ts"), "parse", url],
    expect: /canonical\s+tls:\/\/\[::1\]:443/
  }
]

interface Stats {
  readonly name: string
  readonly mean: number
  readonly stddev: number
  readonly median: number
  readonly min: number
  readonly max: number
  readonly p95: number
  readonly runs: number
}

const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  const i = (sorted.length - 1) * q
  const lo = Math.floor(i)
  const hi = Math.ceil(i)
  return (sorted[lo] ?? 0) + ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) * (i - lo)
}

/** Statistics in milliseconds from times in milliseconds. */
const statsOf = (name: string, times: ReadonlyArray<number>): Stats => {
  const sorted = [...times].sort((a, b) => a - b)
  const mean = times.reduce((a, b) => a + b, 0) / times.length
  const variance = times.reduce((a, t) => a + (t - mean) ** 2, 0) / Math.max(1, times.length - 1)
  return {
    name,
    mean,
    stddev: Math.sqrt(variance),
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
    p95: quantile(sorted, 0.95),
    runs: times.length
  }
}

/** `VAR=value command args…` as hyperfine runs it with --shell=none (`env` sets the variable; ~1 ms of its own). */
const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`)
const commandLine = (c: Case): string =>
  [...(c.env === undefined ? [] : ["env", ...Object.entries(c.env).map(([k, v]) => `${k}=${v}`)]), ...c.argv]
    .map(quote)
    .join(" ")

const withHyperfine = (): ReadonlyArray<Stats> => {
  const out = join(workDir, "hyperfine.json")
  const args = [
    "--shell=none",
    "--warmup",
    String(WARMUP),
    "--runs",
    String(RUNS),
    "--style",
    "basic",
    "--export-json",
    out,
    ...cases.flatMap((c) => ["--command-name", c.name, commandLine(c)])
  ]
  // NODE_PATH is set by the node_modules/.bin/node wrapper `pnpm bench` goes through; no user has it.
  const { NODE_PATH: _, ...env } = process.env
  execFileSync("hyperfine", args, { stdio: ["ignore", "inherit", "inherit"], cwd: repoDir, env })
  console.log(`\nhyperfine JSON: ${out}`)
  const json = JSON.parse(readFileSync(out, "utf8")) as { results: ReadonlyArray<{ command: string; times: number[] }> }
  return json.results.map((r) =>
    statsOf(
      r.command,
      r.times.map((t) => t * 1000)
    )
  )
}

/** The fallback: spawn each command WARMUP + RUNS times, timing from spawn to exit. */
const withSpawnLoop = (): ReadonlyArray<Stats> =>
  cases.map((c) => {
    const env = { ...process.env, ...c.env }
    const [command = "", ...args] = c.argv
    const once = () => {
      const start = process.hrtime.bigint()
      const r = spawnSync(command, args, { env, stdio: "ignore", cwd: repoDir })
      if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}`)
      return Number(process.hrtime.bigint() - start) / 1e6
    }
    for (let i = 0; i < WARMUP; i++) once()
    const times = Array.from({ length: RUNS }, once)
    console.log(`  ${c.name}: ${RUNS} runs`)
    return statsOf(c.name, times)
  })

const load = () =>
  Os.loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")

const main = () => {
  if (!existsSync(join(dist, "netdial.js"))) {
    console.log("dist/ is missing: building the CLI first (node build.ts)")
    execFileSync(node, ["build.ts"], { cwd: cliDir, stdio: "inherit" })
  }
  cpSync(dist, join(workDir, "dist"), { recursive: true })
  // One correct run of each before timing anything.
  for (const c of cases) {
    const [command = "", ...args] = c.argv
    const r = spawnSync(command, args, { env: { ...process.env, ...c.env }, encoding: "utf8", cwd: repoDir })
    if (r.status !== 0 || (c.expect !== undefined && !c.expect.test(r.stdout))) {
      throw new Error(`${c.name}: exit ${r.status}, stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    }
  }

  console.log(`netdial start-up benchmark — goal: \`netdial parse\` answers within ${GOAL_MS} ms of process start`)
  console.log(`Node ${process.version} (${node}); ${relative(repoDir, dist)}/ timed from a copy in ${workDir}`)
  if (!hasOpenssl) console.log("openssl is not installed: its row is left out")
  console.log(`${Os.cpus().length} CPU(s), load average before: ${load()}; ${WARMUP} warm-up + ${RUNS} runs each\n`)

  let results: ReadonlyArray<Stats>
  let tool: string
  if (has("hyperfine")) {
    results = withHyperfine()
    tool = `hyperfine --shell=none (${execFileSync("hyperfine", ["--version"], { encoding: "utf8" }).trim()})`
  } else {
    console.log("hyperfine is missing: install it with `apt-get install hyperfine` (Debian/Ubuntu), `brew install")
    console.log("hyperfine` or `cargo install hyperfine`. Falling back to a spawn loop (spawnSync, spawn to exit).\n")
    results = withSpawnLoop()
    tool = "spawnSync loop (no hyperfine)"
  }

  const floor = results.find((r) => r.name === "node -e 0")?.mean ?? Number.NaN
  const ms = (n: number) => n.toFixed(1)
  const rows = [
    ["command", "mean ± σ (ms)", "median (ms)", "min (ms)", "× node -e 0"],
    ["---", "---:", "---:", "---:", "---:"],
    ...results.map((r) => [
      `\`${r.name}\``,
      `${ms(r.mean)} ± ${ms(r.stddev)}`,
      ms(r.median),
      ms(r.min),
      (r.mean / floor).toFixed(2)
    ])
  ]
  console.log(`\n${tool}; load average after: ${load()}\n`)
  for (const row of rows) console.log(`| ${row.join(" | ")} |`)

  const parse = results.find((r) => r.name === `netdial parse '${url}'`)
  const uncached = results.find((r) => r.name.includes("compile cache off"))
  const unbundled = results.find((r) => r.name.includes("unbundled"))
  if (parse === undefined) return
  // Met when a typical run (median) and the average run (mean) both answer in time; p95 and max are shown as well.
  const met = parse.mean <= GOAL_MS && parse.median <= GOAL_MS
  console.log("")
  console.log(
    `Goal (${GOAL_MS} ms): ${met ? "MET" : "NOT MET"} — \`netdial parse\` mean ${ms(parse.mean)} ms, median ${ms(parse.median)} ms, p95 ${ms(parse.p95)} ms, max ${ms(parse.max)} ms; ${ms(parse.mean - floor)} ms above \`node -e 0\`.`
  )
  if (uncached !== undefined) {
    console.log(
      `Compile cache saves ${ms(uncached.mean - parse.mean)} ms per run (${ms(uncached.mean)} ms without it).`
    )
  }
  if (unbundled !== undefined) {
    console.log(
      `Bundling: the unbundled sources take ${ms(unbundled.mean)} ms, ${(unbundled.mean / parse.mean).toFixed(1)}× the bundle.`
    )
  }
}

try {
  main()
} finally {
  rmSync(join(workDir, "dist"), { recursive: true, force: true }) // the copy; the hyperfine JSON stays
}
