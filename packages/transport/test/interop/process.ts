/**
 * A child process for the interop suite: spawned in its own process group, its output collected, waits on that
 * output bounded in time, and the whole group killed when the scope closes (SIGTERM, then SIGKILL after a grace
 * period), so nothing outlives a test — not even `socat … fork` children or the `cat` of `EXEC:cat`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { Data, Duration, Effect, type Scope } from "effect"

export class ProcessError extends Data.TaggedError("ProcessError")<{ readonly message: string }> {}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface Process {
  readonly command: string
  readonly pid: number | undefined
  readonly child: ChildProcessWithoutNullStreams
  readonly stdout: () => string
  readonly stderr: () => string
  /** stdout and stderr interleaved as they arrived. */
  readonly output: () => string
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
  /** Writes to stdin. */
  readonly write: (text: string) => Effect.Effect<void>
  /** Closes stdin (EOF for the tool). */
  readonly endInput: Effect.Effect<void>
  /** Waits for the process to exit, at most `timeout` (default 10 s). */
  readonly exited: (timeout?: Duration.Input) => Effect.Effect<Exit, ProcessError>
}

const describe = (process: Process) =>
  `${process.command} (pid ${process.pid})\n--- stdout ---\n${process.stdout()}\n--- stderr ---\n${process.stderr()}`

/** Signals the process group of `child` (it was spawned detached, so its pid is the group id). */
const signalGroup = (child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // ESRCH: the group is already gone
  }
}

const waitExit = (child: ChildProcessWithoutNullStreams, ms: number): Promise<boolean> =>
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
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}
): Effect.Effect<Process, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync((): Process => {
      const child = spawn(command, [...args], {
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env })
      })
      let stdout = ""
      let stderr = ""
      let output = ""
      let exit: Exit | undefined
      // Every change (data, exit) wakes the waiters, which re-check their condition.
      const listeners = new Set<() => void>()
      const notify = () => {
        for (const listener of [...listeners]) listener()
      }
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk
        output += chunk
        notify()
      })
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk
        output += chunk
        notify()
      })
      child.stdin.on("error", () => {}) // EPIPE when the tool has exited
      child.on("error", (error) => {
        stderr += `\nspawn error: ${error.message}`
        exit ??= { code: null, signal: null }
        notify()
      })
      child.on("close", (code, signal) => {
        exit = { code, signal }
        notify()
      })

      /** Waits until `check` returns a value, the process has exited (then `check` gets a last chance), or time's up. */
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
              resume(
                Effect.fail(
                  new ProcessError({
                    message: `${what}: the process exited first (code ${exit.code}, signal ${exit.signal})\n${describe(self)}`
                  })
                )
              )
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
                new ProcessError({
                  message: `${what}: nothing within ${Duration.format(Duration.fromInputUnsafe(timeout))}\n${describe(self)}`
                })
              )
          })
        )

      const self: Process = {
        command: [command, ...args].join(" "),
        pid: child.pid,
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        output: () => output,
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
            if (child.stdin.destroyed || child.stdin.writableEnded) return resume(Effect.void)
            child.stdin.write(text, () => resume(Effect.void))
          }),
        endInput: Effect.sync(() => void child.stdin.end()),
        exited: (timeout = "10 seconds") =>
          // `exit` is recorded on "close", after stdout and stderr have ended: the output is complete by then
          until(() => exit, timeout, "waiting for the process to exit")
      }
      return self
    }),
    ({ child }) =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          signalGroup(child, "SIGTERM")
          if (!(await waitExit(child, 2000))) {
            signalGroup(child, "SIGKILL")
            await waitExit(child, 2000)
          }
        }
        // children the tool forked (socat `fork`, `EXEC:cat`) are in the same group: sweep them too. (Not waited
        // for: once their parent is gone they are reaped by init, which in some sandboxes takes a second or two.)
        signalGroup(child, "SIGKILL")
        child.stdin.destroy()
        child.stdout.destroy()
        child.stderr.destroy()
      })
  )
