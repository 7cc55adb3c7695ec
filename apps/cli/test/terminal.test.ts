/**
 * `netdial connect` on a real terminal (tmux): the progress line while a TLS handshake hangs, Ctrl-C during it, and
 * an interactive session against `netdial listen --echo` (type a line, see it echoed, Ctrl-C). Skipped, saying so,
 * when tmux is not installed.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as Net from "node:net"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTmux, makeTmux, pollUntil, type Tmux } from "./support/tmux.ts"

const cliDir = join(import.meta.dirname, "..")
const bin = join(cliDir, "dist", "netdial.js")
const tmuxMissing = !hasTmux()
if (tmuxMissing) {
  console.warn("terminal.test.ts: tmux is not installed, so the terminal tests are skipped (apt-get install tmux)")
}

let tmux: Tmux | undefined
let server: Net.Server | undefined
const serverSockets = new Set<Net.Socket>()
let listener: ChildProcess | undefined

beforeAll(() => {
  if (tmuxMissing) return
  // Under turbo (`pnpm test`) dist/ is fresh (test depends on build). Not built here: pack.test.ts may be building it.
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`pnpm --filter @netdial/cli build\` first (turbo's test task does)`)
  }
  tmux = makeTmux()
})

afterAll(async () => {
  tmux?.kill()
  if (listener !== undefined && listener.exitCode === null && listener.signalCode === null) listener.kill("SIGTERM")
  for (const socket of serverSockets) socket.destroy()
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
})

describe.skipIf(tmuxMissing)(
  tmuxMissing ? "netdial on a terminal (skipped: tmux is not installed)" : "netdial on a terminal (tmux)",
  () => {
    it("shows the phase while a TLS handshake hangs; Ctrl-C exits 130 and closes the socket", async () => {
      // A TCP server that accepts and never says a word: the TLS handshake waits for its ServerHello.
      let accepted = 0
      let closed = 0
      const silent = Net.createServer((socket) => {
        accepted++
        serverSockets.add(socket)
        socket.resume() // read, so that the client's FIN or RST is seen
        socket.on("error", () => {})
        socket.on("close", () => {
          closed++
        })
      })
      server = silent
      const port = await new Promise<number>((resolve) =>
        silent.listen(0, "127.0.0.1", () => resolve((silent.address() as Net.AddressInfo).port))
      )

      const session = (tmux as Tmux).start("progress", [
        process.execPath,
        bin,
        "connect",
        `tls://127.0.0.1:${port}`,
        "--insecure",
        "--handshake-timeout",
        "30"
      ])
      // The spinner line: a braille frame, the phase, the elapsed seconds.
      const spinner = await session.waitForScreen(
        new RegExp(
          `^([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) connecting to tls://127\\.0\\.0\\.1:${port} \\(TCP \\+ TLS handshake\\) \\d+\\.\\ds`,
          "m"
        )
      )
      expect(spinner[0]).toContain("(TCP + TLS handshake)")
      // The TCP connection is up; the handshake is what is pending when Ctrl-C comes.
      await pollUntil(
        "the server to accept",
        () => (accepted === 1 ? true : undefined),
        () => `accepted ${accepted}`
      )
      expect(session.exitStatus()).toBeUndefined()

      session.press("C-c")
      expect(await session.waitForExit()).toBe(130)
      await pollUntil(
        "the server to see the socket closed",
        () => (closed === 1 ? true : undefined),
        () => `closed ${closed}`
      )
      expect(session.capture()).toContain("interrupted: connection closed")
    })

    it("colours on a terminal, none with NO_COLOR", async () => {
      const coloured = (tmux as Tmux).start("colour", [process.execPath, bin, "parse", "::1:80"])
      expect(await coloured.waitForExit()).toBe(2)
      expect(coloured.captureWithEscapes()).toMatch(/\u001b\[[0-9;]*m/)
      const plain = (tmux as Tmux).start("no-colour", ["env", "NO_COLOR=1", process.execPath, bin, "parse", "::1:80"])
      expect(await plain.waitForExit()).toBe(2)
      expect(plain.capture()).toContain("UnbracketedIpv6")
      expect(plain.captureWithEscapes()).not.toMatch(/\u001b\[[0-9;]*m/)
    })

    it("an interactive session: a typed line is echoed, Ctrl-C exits 130 and the listener sees the close", async () => {
      const child = spawn(process.execPath, [bin, "listen", "tcp://127.0.0.1:0", "--echo"], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, NO_COLOR: "1" }
      })
      listener = child
      let log = ""
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        log += chunk
      })
      const port = await pollUntil(
        "the listener's `listening on` line",
        () => {
          const m = /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(log)
          return m === null ? undefined : Number(m[1])
        },
        () => log
      )

      const session = (tmux as Tmux).start("session", [process.execPath, bin, "connect", `tcp://127.0.0.1:${port}`])
      await session.waitForScreen(new RegExp(`^connected tcp://127\\.0\\.0\\.1:${port}$`, "m"))
      await pollUntil(
        "the listener to log the connection",
        () => (/connection from/.test(log) ? true : undefined),
        () => log
      )

      session.type("hello")
      session.press("Enter")
      // The line as typed (the terminal's echo), then the same line back from the echo server.
      await session.waitForScreen(/^hello\nhello$/m)
      expect(session.exitStatus()).toBeUndefined()

      session.press("C-c")
      expect(await session.waitForExit()).toBe(130)
      expect(session.capture()).toContain("interrupted: connection closed")
      // The listener logged the connection ending, with the 6 bytes ("hello\n") it received and sent back.
      await pollUntil(
        "the listener to log the close",
        () => (/closed: received 6 bytes, sent 6/.test(log) ? true : undefined),
        () => log
      )
      expect(child.exitCode).toBeNull() // without --once it goes on listening
    })
  }
)
