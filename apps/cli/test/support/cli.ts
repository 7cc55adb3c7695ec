/**
 * Runs the built `netdial` as a user would: a child process with pipes, the Node 24 of this checkout, no TTY.
 * Every run is bounded by a timeout; background processes are tracked and killed by `stopAll`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const here = Path.dirname(fileURLToPath(import.meta.url))
export const cliDir = Path.resolve(here, "../..")
export const bin = Path.join(cliDir, "dist/netdial.js")

if (!Fs.existsSync(bin)) {
  throw new Error(`${bin} is missing: run \`pnpm --filter @netdial/cli build\` first (turbo's test task does)`)
}

export interface RunResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** Written to stdin, which is then closed; without it stdin is closed at once. */
  readonly stdin?: string | Buffer
  readonly timeoutMs?: number
  readonly env?: Record<string, string>
}

const baseEnv = () => ({ ...process.env, NO_COLOR: "", FORCE_COLOR: "" })

/** Runs `netdial …args` to completion (killed after `timeoutMs`, default 20 s). */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...baseEnv(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(
        new Error(`netdial ${args.join(" ")} did not finish in ${options.timeoutMs ?? 20_000} ms\nstderr: ${stderr}`)
      )
    }, options.timeoutMs ?? 20_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.on("error", () => {})
    child.stdin.end(options.stdin ?? "")
  })

/** `run` and parse stdout as the one JSON document of `--json`. */
export const runJson = async (args: ReadonlyArray<string>, options: RunOptions = {}) => {
  const result = await run([...args, "--json"], options)
  // biome-ignore lint/suspicious/noExplicitAny: the tests check the JSON document field by field
  let json: any
  try {
    json = JSON.parse(result.stdout)
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${result.code}):\n${result.stdout}\nstderr: ${result.stderr}`
    )
  }
  return { ...result, json }
}

export interface Background {
  readonly child: ChildProcess
  /** Everything written to stdout / stderr so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with the first match of `pattern` in stderr (bounded by `timeoutMs`, default 10 s). */
  readonly waitForStderr: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  readonly waitForStdout: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  /** Resolves when the process has exited (bounded). */
  readonly exited: (timeoutMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const running = new Set<ChildProcess>()

/** Starts `netdial …args` in the background, stdin kept open (write to `child.stdin`). */
export const start = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Background => {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...baseEnv(), ...env },
    stdio: ["pipe", "pipe", "pipe"]
  })
  running.add(child)
  let stdout = ""
  let stderr = ""
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const waiters = new Set<() => void>()
  const notify = () => {
    for (const w of waiters) w()
  }
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d
    notify()
  })
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d
    notify()
  })
  child.stdin!.on("error", () => {})
  child.on("close", (code, signal) => {
    exit = { code, signal }
    running.delete(child)
    notify()
  })
  const waitFor =
    (which: () => string, name: string) =>
    (pattern: RegExp, timeoutMs = 10_000) =>
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = () => {
          const match = which().match(pattern)
          if (match !== null) {
            done()
            resolve(match)
          } else if (exit !== undefined) {
            done()
            reject(
              new Error(
                `netdial exited (${exit.code}) before ${pattern} appeared on ${name}:\n${which()}\nstderr: ${stderr}`
              )
            )
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(
            new Error(`${pattern} did not appear on ${name} within ${timeoutMs} ms:\n${which()}\nstderr: ${stderr}`)
          )
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr: waitFor(() => stderr, "stderr"),
    waitForStdout: waitFor(() => stdout, "stdout"),
    exited: (timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (exit !== undefined) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve(exit)
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`netdial did not exit within ${timeoutMs} ms; stderr: ${stderr}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
  }
}

/** `listen` in the background; resolves once it reports its URL, with the port it bound. */
export const startListener = async (args: ReadonlyArray<string>) => {
  const server = start(["listen", ...args])
  const match = await server.waitForStderr(/listening on (\S+)/)
  const url = match[1]!
  const port = Number(/:(\d+)$/.exec(url)?.[1] ?? Number.NaN)
  return { ...server, url, port }
}

export const stopAll = () => {
  for (const child of running) child.kill("SIGKILL")
  running.clear()
}
