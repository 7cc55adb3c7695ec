/**
 * Child processes for tests that drive real tools and servers (php, socat, openssl, postfix, dovecot, …). A process
 * is a scoped resource: spawned (no shell) in its own process group, its output collected, every wait on it bounded
 * in time, and the whole group killed when the scope closes — SIGTERM, then SIGKILL after a grace period, then a
 * SIGKILL sweep of the group — so nothing outlives a test: not the `cat` of `socat … EXEC:cat`, not a daemon's workers.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { Data, Duration, Effect, type Scope } from "effect"

export class ProcessError extends Data.TaggedError("ProcessError")<{ readonly message: string }> {}

export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface SpawnOptions {
  readonly cwd?: string | undefined
  readonly env?: NodeJS.ProcessEnv | undefined
  /** Run as this account (Node's `uid`/`gid`: needs root; supplementary groups are dropped). Default: as we are. */
  readonly runAs?: { readonly uid: number; readonly gid: number } | undefined
  /** `"pipe"` (default) for `write` and `endInput`; `"ignore"` gives the process /dev/null (daemons). */
  readonly stdin?: "pipe" | "ignore" | undefined
  /** Keep only the last this many characters of stdout, of stderr and of the interleaved output. Default: all. */
  readonly outputLimit?: number | undefined
  /** How long the group gets between SIGTERM and SIGKILL when the scope closes. Default: 2 s. */
  readonly killAfter?: Duration.Input | undefined
}

export interface Process {
  /** `command args…`, for messages. */
  readonly command: string
  readonly pid: number | undefined
  readonly stdout: () => string
  readonly stderr: () => string
  /** stdout and stderr interleaved as they arrived. */
  readonly output: () => string
  /** How it exited (recorded once stdout and stderr have ended), or undefined while it runs. */
  readonly exit: () => ProcessExit | undefined
  /** The command, pid, state and the last 4000 characters of stdout and of stderr: for error messages. */
  readonly describe: () => string
  /**
   * Waits until `pattern` matches the stream's text (default stdout), at most `timeout` (default 10 s); fails with
   * the output so far if time runs out or the process exits first.
   */
  readonly waitFor: (
    pattern: RegExp,
    options?: { readonly timeout?: Duration.Input; readonly stream?: "stdout" | "stderr" | "both" }
  ) => Effect.Effect<RegExpMatchArray, ProcessError>
  /** The `n`th complete line of stdout (0-based), waiting for it as `waitFor` does. */
  readonly line: (n: number, timeout?: Duration.Input) => Effect.Effect<string, ProcessError>
  /** Writes to stdin (nothing when stdin is ignored or closed). */
  readonly write: (text: string) => Effect.Effect<void>
  /** Closes stdin (EOF for the tool). */
  readonly endInput: Effect.Effect<void>
  /** Waits for the process to exit, at most `timeout` (default 10 s); fails with the output when it does not. */
  readonly exited: (timeout?: Duration.Input) => Effect.Effect<ProcessExit, ProcessError>
}

const formatDuration = (duration: Duration.Input) => Duration.format(Duration.fromInputUnsafe(duration))

const tail = (text: string, max = 4000) => (text.length > max ? `…${text.slice(-max)}` : text)

/** Signals the process group of `child` (spawned detached, so its pid is the group id). */
const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // ESRCH: the group is already gone
  }
}

const waitExit = (child: ChildProcess, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => resolve(false), ms)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

/** Spawns `command args` (no shell) in its own process group; the group is killed when the scope closes. */
export const spawnProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Process, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(command, [...args], {
        stdio: [options.stdin ?? "pipe", "pipe", "pipe"],
        detached: true,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.runAs === undefined ? {} : { uid: options.runAs.uid, gid: options.runAs.gid })
      })
      const commandLine = [command, ...args].join(" ")
      const limit = options.outputLimit ?? Number.POSITIVE_INFINITY
      const keep = (text: string) => (text.length > limit ? text.slice(-limit) : text)
      let stdout = ""
      let stderr = ""
      let output = ""
      let exit: ProcessExit | undefined
      // Every change (data, exit) wakes the waiters, which re-check their condition.
      const listeners = new Set<() => void>()
      const notify = () => {
        for (const listener of [...listeners]) listener()
      }
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        stdout = keep(stdout + chunk)
        output = keep(output + chunk)
        notify()
      })
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        stderr = keep(stderr + chunk)
        output = keep(output + chunk)
        notify()
      })
      child.stdin?.on("error", () => {}) // EPIPE when the tool has exited
      child.on("error", (error) => {
        stderr = keep(`${stderr}\nspawn error: ${error.message}`)
        output = keep(`${output}\nspawn error: ${error.message}`)
        exit ??= { code: null, signal: null }
        notify()
      })
      child.on("close", (code, signal) => {
        exit = { code, signal }
        notify()
      })

      const describe = () => {
        const state = exit === undefined ? "running" : `exited (code ${exit.code}, signal ${exit.signal})`
        return `${commandLine} (pid ${child.pid}, ${state})\n--- stdout ---\n${tail(stdout)}\n--- stderr ---\n${tail(stderr)}`
      }

      /**
       * Waits until `check` returns a value, or fails when the process has exited first (`check` gets a last chance
       * then) or time is up.
       */
      const until = <A>(
        check: () => A | undefined,
        timeout: Duration.Input,
        what: string
      ): Effect.Effect<A, ProcessError> =>
        Effect.callback<A, ProcessError>((resume) => {
          const listener = () => {
            const value = check()
            if (value !== undefined) {
              listeners.delete(listener)
              resume(Effect.succeed(value))
            } else if (exit !== undefined) {
              listeners.delete(listener)
              resume(Effect.fail(new ProcessError({ message: `${what}: the process exited first\n${describe()}` })))
            }
          }
          listeners.add(listener)
          listener()
          return Effect.sync(() => void listeners.delete(listener))
        }).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(
                new ProcessError({ message: `${what}: nothing within ${formatDuration(timeout)}\n${describe()}` })
              )
          })
        )

      const self: Process = {
        command: commandLine,
        pid: child.pid,
        stdout: () => stdout,
        stderr: () => stderr,
        output: () => output,
        exit: () => exit,
        describe,
        waitFor: (pattern, opts = {}) =>
          until(
            () => {
              const text = opts.stream === "stderr" ? stderr : opts.stream === "both" ? output : stdout
              return text.match(pattern) ?? undefined
            },
            opts.timeout ?? "10 seconds",
            `waiting for ${pattern}`
          ),
        line: (n, timeout = "10 seconds") =>
          until(
            () => {
              const lines = stdout.split("\n")
              return lines.length > n + 1 ? lines[n] : undefined
            },
            timeout,
            `waiting for stdout line ${n}`
          ),
        write: (text) =>
          Effect.callback<void>((resume) => {
            const stdin = child.stdin
            if (stdin === null || stdin.destroyed || stdin.writableEnded) return resume(Effect.void)
            stdin.write(text, () => resume(Effect.void))
          }),
        endInput: Effect.sync(() => void child.stdin?.end()),
        // `exit` is recorded on "close", after stdout and stderr have ended: the output is complete by then
        exited: (timeout = "10 seconds") => until(() => exit, timeout, "waiting for the process to exit")
      }
      return { self, child }
    }),
    ({ child }) =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          signalGroup(child, "SIGTERM")
          if (!(await waitExit(child, Duration.toMillis(Duration.fromInputUnsafe(options.killAfter ?? "2 seconds"))))) {
            signalGroup(child, "SIGKILL")
            await waitExit(child, 2000)
          }
        }
        // Children it forked (socat `fork`, `EXEC:cat`, a daemon's workers) are in the same group: sweep them too.
        // (Not waited for: once their parent is gone they are reaped by init, which in some sandboxes takes a second
        // or two.)
        signalGroup(child, "SIGKILL")
        child.stdin?.destroy()
        child.stdout?.destroy()
        child.stderr?.destroy()
      })
  ).pipe(Effect.map(({ self }) => self))

/**
 * Runs a command to completion, at most `timeout` (default 30 s), with stdin ignored unless `stdin` says otherwise;
 * gives its stdout. Fails with its output when it exits non-zero or takes too long. Its process group is killed
 * when it is done either way.
 */
export const runCommand = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions & { readonly timeout?: Duration.Input | undefined } = {}
): Effect.Effect<string, ProcessError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const child = yield* spawnProcess(command, args, { stdin: "ignore", ...options })
      const exit = yield* child.exited(options.timeout ?? "30 seconds")
      if (exit.code !== 0) return yield* new ProcessError({ message: `failed: ${child.describe()}` })
      return child.stdout()
    })
  )

/** Whether 127.0.0.1:port accepts a TCP connection (an attempt gives up after 1 s). */
const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port, timeout: 1000 })
    const done = (ok: boolean) => () => {
      socket.destroy()
      resolve(ok)
    }
    socket.once("connect", done(true))
    socket.once("error", done(false))
    socket.once("timeout", done(false))
  })

/**
 * Waits until every port accepts a TCP connection on 127.0.0.1 (polling every 25 ms), at most `timeout` (default
 * 20 s). Fails at once, with its output, when one of `processes` exits first.
 */
export const waitForPorts = (
  ports: ReadonlyArray<number>,
  processes: ReadonlyArray<Process>,
  timeout: Duration.Input = "20 seconds"
): Effect.Effect<void, ProcessError> =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    const pending = new Set(ports)
    while (pending.size > 0) {
      const dead = processes.find((each) => each.exit() !== undefined)
      if (dead !== undefined) {
        return yield* new ProcessError({ message: `exited before listening: ${dead.describe()}` })
      }
      for (const port of [...pending]) {
        if (yield* Effect.promise(() => accepts(port))) pending.delete(port)
      }
      if (pending.size === 0) break
      if (Date.now() > deadline) {
        return yield* new ProcessError({
          message: `port(s) ${[...pending].join(", ")} not accepting after ${formatDuration(timeout)}:\n${processes
            .map((each) => each.describe())
            .join("\n")}`
        })
      }
      yield* Effect.sleep("25 millis")
    }
  })
