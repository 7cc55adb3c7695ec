/**
 * Daemons and helper commands for the interop suite. A daemon runs in the foreground in its own process group (as
 * another user when asked, through Node's `uid`/`gid`), its output is kept for error messages, and the whole group is
 * killed when the scope closes: SIGTERM, then SIGKILL after a grace period, so no worker a daemon forked outlives it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { Data, Duration, Effect, type Scope } from "effect"

export class InteropError extends Data.TaggedError("InteropError")<{ readonly message: string }> {}

/** A system account, for `runAs` and for chown. */
export interface Account {
  readonly name: string
  readonly uid: number
  readonly gid: number
}

export interface SpawnOptions {
  readonly cwd?: string | undefined
  readonly env?: NodeJS.ProcessEnv | undefined
  /** Run as this account (supplementary groups dropped). Default: as we are (root). */
  readonly runAs?: Account | undefined
}

export interface Daemon {
  readonly command: string
  readonly pid: number | undefined
  /** stdout and stderr interleaved as they arrived (at most the last 64 KiB). */
  readonly output: () => string
  /** Whether it has exited, and how. */
  readonly exit: () => { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
  /** Waits until the process exits, at most `timeout`; fails with the output when it does not. */
  readonly exited: (timeout: Duration.Input) => Effect.Effect<number | null, InteropError>
}

const OUTPUT_LIMIT = 64 * 1024

const describe = (daemon: Daemon) => {
  const exit = daemon.exit()
  const state = exit === undefined ? "running" : `exited (code ${exit.code}, signal ${exit.signal})`
  return `${daemon.command} (pid ${daemon.pid}, ${state})\n--- output ---\n${daemon.output().slice(-4000)}`
}

/** Signals the process group of `child` (spawned detached, so its pid is the group id). */
const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // ESRCH: the group is gone
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

/** Spawns `command args` (no shell) in a new process group; the group is killed when the scope closes. */
export const spawnDaemon = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Daemon, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync((): { daemon: Daemon; child: ChildProcess } => {
      const child = spawn(command, [...args], {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(options.runAs === undefined ? {} : { uid: options.runAs.uid, gid: options.runAs.gid })
      })
      let output = ""
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
      const listeners = new Set<() => void>()
      const append = (chunk: string) => {
        output = (output + chunk).slice(-OUTPUT_LIMIT)
      }
      child.stdout?.setEncoding("utf8").on("data", append)
      child.stderr?.setEncoding("utf8").on("data", append)
      child.on("error", (error) => {
        append(`\nspawn error: ${error.message}`)
        exit ??= { code: null, signal: null }
        for (const listener of [...listeners]) listener()
      })
      child.on("close", (code, signal) => {
        exit = { code, signal }
        for (const listener of [...listeners]) listener()
      })
      const daemon: Daemon = {
        command: [command, ...args].join(" "),
        pid: child.pid,
        output: () => output,
        exit: () => exit,
        exited: (timeout) =>
          Effect.callback<number | null>((resume) => {
            const listener = () => {
              if (exit === undefined) return
              listeners.delete(listener)
              resume(Effect.succeed(exit.code))
            }
            listeners.add(listener)
            listener()
            return Effect.sync(() => void listeners.delete(listener))
          }).pipe(
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () =>
                Effect.fail(
                  new InteropError({
                    message: `did not exit within ${Duration.format(Duration.fromInputUnsafe(timeout))}: ${describe(daemon)}`
                  })
                )
            })
          )
      }
      return { daemon, child }
    }),
    ({ child }) =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          signalGroup(child, "SIGTERM")
          if (!(await waitExit(child, 3000))) {
            signalGroup(child, "SIGKILL")
            await waitExit(child, 2000)
          }
        }
        // Workers the daemon forked are in the same group: sweep them too.
        signalGroup(child, "SIGKILL")
        child.stdout?.destroy()
        child.stderr?.destroy()
      })
  ).pipe(Effect.map(({ daemon }) => daemon))

/**
 * Runs a command to completion (at most `timeout`); fails with its output when it exits non-zero or takes too long.
 * The process group is killed when it is done either way.
 */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions & { readonly timeout?: Duration.Input } = {}
): Effect.Effect<string, InteropError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const daemon = yield* spawnDaemon(command, args, options)
      const code = yield* daemon.exited(options.timeout ?? "30 seconds")
      if (code !== 0) return yield* new InteropError({ message: `failed: ${describe(daemon)}` })
      return daemon.output()
    })
  )

const tryConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => {
      socket.destroy()
      resolve(false)
    })
  })

/**
 * Waits until every port accepts a TCP connection on 127.0.0.1 (polling every 25 ms), at most `timeout`. Fails at
 * once, with the daemon's output, when one of `daemons` exits first.
 */
export const waitForPorts = (
  ports: ReadonlyArray<number>,
  daemons: ReadonlyArray<Daemon>,
  timeout: Duration.Input = "20 seconds"
): Effect.Effect<void, InteropError> =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    const pending = new Set(ports)
    while (pending.size > 0) {
      const dead = daemons.find((daemon) => daemon.exit() !== undefined)
      if (dead !== undefined) {
        return yield* new InteropError({ message: `exited before listening: ${describe(dead)}` })
      }
      for (const port of [...pending]) {
        if (yield* Effect.promise(() => tryConnect(port))) pending.delete(port)
      }
      if (pending.size === 0) break
      if (Date.now() > deadline) {
        return yield* new InteropError({
          message: `port(s) ${[...pending].join(", ")} not accepting after ${Duration.format(Duration.fromInputUnsafe(timeout))}:\n${daemons.map(describe).join("\n")}`
        })
      }
      yield* Effect.sleep("25 millis")
    }
  })
