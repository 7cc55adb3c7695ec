/**
 * `node bench/smtp-session.bench.ts` (from apps/cli): one SMTP STARTTLS session per process — connect, greeting,
 * EHLO, STARTTLS, verified handshake, EHLO, QUIT — as a user of each command-line tool sees it, start-up included.
 * This is the "per process" group of @netdial/starttls's benchmark (issue 4), with netdial as the bundled CLI
 * instead of its unbundled library code: `netdial connect --starttls smtp` against Python smtplib, PHP streams and
 * `swaks --tls` (the same client scripts as packages/starttls/bench), side by side in one hyperfine run.
 *
 * Server: netdial's `serveSmtp` on 127.0.0.1 in a child process (this file with `--server`); certificate from the
 * test PKI, every client verifies the chain against its CA (netdial, smtplib and PHP also the name `localhost`;
 * swaks 20201014 has no host-name check). Needs hyperfine; clients that are missing are left out, named.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { serveSmtp } from "@netdial/starttls"
import { makeTestPki, writeTestPki } from "@netdial/testkit"
import { Transports } from "@netdial/transport"
import { Effect } from "effect"

const here = import.meta.dirname
const starttlsBench = Path.join(here, "..", "..", "..", "packages", "starttls", "bench")

if (process.argv[2] === "--server") {
  const dir = process.argv[3]!
  const cert = Fs.readFileSync(Path.join(dir, "server-chain.pem"), "utf8")
  const key = Fs.readFileSync(Path.join(dir, "server.key"), "utf8")
  await Effect.runPromise(
    Effect.gen(function* () {
      const listener = yield* (yield* Transports).listen("tcp://127.0.0.1:0")
      process.send?.({ port: listener.url.port })
      return yield* serveSmtp(listener, { tls: { cert, key }, hostname: "localhost" })
    }).pipe(Effect.scoped, Effect.provide(Transports.layerNode))
  )
} else {
  const has = (cmd: string, args: ReadonlyArray<string>) => {
    try {
      execFileSync(cmd, [...args], { stdio: "ignore", timeout: 10_000 })
      return true
    } catch {
      return false
    }
  }
  if (!has("hyperfine", ["--version"])) {
    console.error("smtp-session.bench: hyperfine is missing (apt-get install hyperfine)")
    process.exit(1)
  }
  const bin = Path.join(here, "..", "dist", "netdial.js")
  if (!Fs.existsSync(bin)) execFileSync("pnpm", ["build"], { cwd: Path.join(here, ".."), stdio: "inherit" })
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-cli-smtp-bench-"))
  const pki = await makeTestPki()
  await writeTestPki(pki, dir)
  const ca = Path.join(dir, "ca.pem")
  const quit = Path.join(dir, "quit.txt")
  Fs.writeFileSync(quit, "QUIT\r\n")
  let server: ChildProcess | undefined
  try {
    server = fork(import.meta.filename, ["--server", dir], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the SMTP server did not start in 20 s")), 20_000)
      server!.once("message", (m: { port: number }) => {
        clearTimeout(timer)
        resolve(m.port)
      })
    })
    const node = process.execPath
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`
    // Every command runs under `sh -c` (the same few ms for all) because netdial's session needs stdin.
    const commands: Array<[string, string]> = [
      ["node -e 0", `${q(node)} -e 0`],
      [
        "netdial connect --starttls smtp",
        `${q(node)} ${q(bin)} connect tcp://localhost:${port} --starttls smtp --ca ${q(ca)} --quiet < ${q(quit)} > /dev/null`
      ]
    ]
    if (has("php", ["-v"]))
      commands.push(["PHP streams", `php ${q(Path.join(starttlsBench, "php-session.php"))} ${port} ${q(ca)}`])
    else console.error("PHP is missing: left out")
    if (has("python3", ["-c", "pass"])) {
      commands.push(["Python smtplib", `python3 ${q(Path.join(starttlsBench, "smtplib_session.py"))} ${port} ${q(ca)}`])
    } else console.error("python3 is missing: left out")
    if (has("swaks", ["--version"])) {
      commands.push([
        "swaks --tls (no host-name check)",
        `swaks --server 127.0.0.1 --port ${port} --tls --tls-verify --tls-ca-path ${q(ca)} --tls-sni localhost --ehlo localhost --quit-after EHLO --hide-all`
      ])
    } else console.error("swaks is missing: left out")
    const json = Path.join(dir, "hyperfine.json")
    const args = ["-w", "3", "-r", process.env.NETDIAL_BENCH_RUNS ?? "30", "--export-json", json]
    for (const [name, command] of commands) args.push("-n", name, command)
    execFileSync("hyperfine", args, { stdio: "inherit", timeout: 600_000 })
    const results = (
      JSON.parse(Fs.readFileSync(json, "utf8")) as {
        results: Array<{ command: string; mean: number; stddev: number; median: number }>
      }
    ).results
    const fastestPeer = Math.min(
      ...results.filter((r) => !r.command.startsWith("netdial") && r.command !== "node -e 0").map((r) => r.median)
    )
    console.log(
      `\nload average: ${Os.loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`
    )
    console.log(
      "| client, one process per session | mean ± σ (ms) | median (ms) | × fastest peer |\n| --- | ---: | ---: | ---: |"
    )
    for (const r of results) {
      console.log(
        `| ${r.command} | ${(r.mean * 1000).toFixed(1)} ± ${(r.stddev * 1000).toFixed(1)} | ${(r.median * 1000).toFixed(1)} | ${(r.median / fastestPeer).toFixed(2)} |`
      )
    }
  } finally {
    server?.kill("SIGKILL")
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}
