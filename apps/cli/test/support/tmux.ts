/**
 * A real terminal for tests: commands run in detached tmux sessions of a fixed size on a private server
 * (`tmux -L netdial-test-<pid>`), the test reads the screen with `capture-pane` and types with `send-keys`.
 *
 * Exit codes: each command runs as `sh -c 'trap : INT; "$@"; echo "EXIT=$?" > file'`. The shell gets Ctrl-C too (it is
 * in the terminal's foreground process group); `trap :` keeps it alive to record the command's status, and a caught
 * (not ignored) signal is reset to its default in the command, which therefore sees Ctrl-C exactly as it would in a
 * user's shell. (tmux's own `#{pane_dead_status}` was not reliable here: tmux 3.3a sometimes left the exited
 * process a zombie, never reaped, so the status stayed empty.)
 */
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Whether `tmux` can be run. */
export const hasTmux = (): boolean => {
  const r = spawnSync("tmux", ["-V"], { encoding: "utf8", timeout: 10_000 })
  return r.status === 0
}

/** Single-quotes `s` for sh. */
const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface PollOptions {
  /** Give up after this long (default 15 s). */
  readonly timeoutMs?: number
  /** Time between two looks (default 50 ms); the number of looks is bounded by timeoutMs / intervalMs. */
  readonly intervalMs?: number
}

/**
 * Polls `check` until it returns something other than undefined, at most `timeoutMs` and at most
 * `timeoutMs / intervalMs + 1` times; then fails with `describe()` (what was seen last).
 */
export const pollUntil = async <A>(
  what: string,
  check: () => A | undefined,
  describe: () => string,
  options: PollOptions = {}
): Promise<A> => {
  const timeoutMs = options.timeoutMs ?? 15_000
  const intervalMs = options.intervalMs ?? 50
  const maxLooks = Math.ceil(timeoutMs / intervalMs) + 1
  const deadline = Date.now() + timeoutMs
  for (let look = 0; look < maxLooks; look++) {
    const result = check()
    if (result !== undefined) return result
    if (Date.now() >= deadline) break
    await sleep(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen:\n${describe()}`)
}

export interface TmuxSession {
  readonly name: string
  /** The visible screen, as plain text (no colours), trailing blank lines removed. */
  readonly capture: () => string
  /** The visible screen with its colour escapes (tmux `capture-pane -e`). */
  readonly captureWithEscapes: () => string
  /** Waits until the screen matches `pattern`; returns the match. */
  readonly waitForScreen: (pattern: RegExp, options?: PollOptions) => Promise<RegExpExecArray>
  /** Types text literally (no key names). */
  readonly type: (text: string) => void
  /** Presses keys by tmux name: "Enter", "C-c", "C-d"… */
  readonly press: (...keys: ReadonlyArray<string>) => void
  /** The command's exit status, once it has ended (bounded wait). */
  readonly waitForExit: (options?: PollOptions) => Promise<number>
  /** The exit status if the command has ended, else undefined. */
  readonly exitStatus: () => number | undefined
}

export interface Tmux {
  readonly socket: string
  /** Starts `argv` (no shell interpretation) in a new detached session of `width` x `height`. */
  readonly start: (
    name: string,
    argv: ReadonlyArray<string>,
    options?: { readonly width?: number; readonly height?: number; readonly cwd?: string }
  ) => TmuxSession
  /** Kills the private tmux server (and with it every session) and removes the temporary files. */
  readonly kill: () => void
}

/** A private tmux server, named after this process, with its own configuration (no user ~/.tmux.conf). */
export const makeTmux = (prefix = "netdial-test"): Tmux => {
  const socket = `${prefix}-${process.pid}`
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  const config = join(dir, "tmux.conf")
  // remain-on-exit: the screen stays readable after the command ends; status off: all rows belong to the pane.
  writeFileSync(config, ["set -g remain-on-exit on", "set -g status off", "set -g history-limit 5000", ""].join("\n"))
  const env = { ...process.env }
  delete env.TMUX // not nested in a tmux the tests might be running in
  const tmux = (args: ReadonlyArray<string>): string =>
    execFileSync("tmux", ["-L", socket, "-f", config, ...args], {
      encoding: "utf8",
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 10_000
    })

  return {
    socket,
    start: (name, argv, options = {}) => {
      const exitFile = join(dir, `${name}.exit`)
      const script = `trap : INT; "$@"; echo "EXIT=$?" > ${shellQuote(exitFile)}`
      const command = ["/bin/sh", "-c", script, "sh", ...argv].map(shellQuote).join(" ")
      tmux([
        "new-session",
        "-d",
        "-s",
        name,
        "-x",
        String(options.width ?? 120),
        "-y",
        String(options.height ?? 30),
        ...(options.cwd === undefined ? [] : ["-c", options.cwd]),
        command
      ])
      const target = `=${name}:`
      const capture = () =>
        tmux(["capture-pane", "-p", "-t", target])
          .replace(/\s+$/, "")
          .split("\n")
          .map((line) => line.trimEnd())
          .join("\n")
      const exitStatus = () => {
        if (!existsSync(exitFile)) return undefined
        const m = /EXIT=(\d+)/.exec(readFileSync(exitFile, "utf8"))
        return m === null ? undefined : Number(m[1])
      }
      return {
        name,
        capture,
        captureWithEscapes: () => tmux(["capture-pane", "-p", "-e", "-t", target]),
        waitForScreen: (pattern, poll) =>
          pollUntil(`${pattern} on the screen of ${name}`, () => pattern.exec(capture()) ?? undefined, capture, poll),
        type: (text) => void tmux(["send-keys", "-t", target, "-l", text]),
        press: (...keys) => void tmux(["send-keys", "-t", target, ...keys]),
        waitForExit: (poll) => pollUntil(`${name} to exit`, exitStatus, capture, poll),
        exitStatus
      }
    },
    kill: () => {
      spawnSync("tmux", ["-L", socket, "kill-server"], { env, stdio: "ignore", timeout: 10_000 })
      rmSync(dir, { recursive: true, force: true })
      // tmux leaves its socket file behind: remove it (where `-L` put it).
      const uid = process.getuid?.()
      if (uid !== undefined) rmSync(join(env.TMUX_TMPDIR ?? "/tmp", `tmux-${uid}`, socket), { force: true })
    }
  }
}
