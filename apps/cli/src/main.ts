/**
 * The `netdial` command. Exit codes: 0 success, 1 the operation failed, 2 bad usage or a bad URL, 130 interrupted.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { CliConfig, CliError, CliOutput, Command, GlobalFlag } from "effect/cli"
import packageJson from "../package.json" with { type: "json" }
import { connectCommand } from "./commands/connect.ts"
import { listenCommand } from "./commands/listen.ts"
import { parseCommand } from "./commands/parse.ts"
import { probeCommand } from "./commands/probe.ts"
import { transportsCommand } from "./commands/transports.ts"
import { ExitCode, Failure } from "./internal/failure.ts"
import { printJson } from "./internal/output.ts"

const version = packageJson.version

const netdial = Command.make("netdial").pipe(
  Command.withDescription(
    "Socket transports addressed by URL: connect, listen, probe and parse, over tcp/udp/tls/unix"
  ),
  Command.withSubcommands([connectCommand, listenCommand, probeCommand, parseCommand, transportsCommand])
)

const args = process.argv.slice(2)
const asJson = args.includes("--json")

/** With --json a usage error is the one JSON document on stdout, instead of help text. */
const jsonPresenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? printJson({
          command: event.commandPath.slice(1).join(" ") || "netdial",
          ok: false,
          error: {
            type: "UsageError",
            reason: event.errors[0]?._tag ?? "InvalidInvocation",
            message: event.errors.map((e) => e.message).join("; ")
          }
        })
      : CliOutput.defaultPresenter.present(event)
}

// --wizard and --log-level are left out: netdial has no prompts and logs nothing.
const builtIns = [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions]

// A reader that went away (`netdial … | head -1`) ends the output, not the process with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0)
  throw error
})

const program = Command.runWith(netdial, { version })(args).pipe(
  asJson ? Effect.provideService(CliOutput.Presenter, jsonPresenter) : (self) => self,
  Effect.provideService(CliConfig.CliConfig, CliConfig.make({ builtIns })),
  Effect.provide(NodeServices.layer)
)

/** Maps how the program ended to the documented exit codes. */
const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return ExitCode.ok
  if (Cause.hasInterruptsOnly(exit.cause)) return ExitCode.interrupted
  const error = Cause.squash(exit.cause)
  if (error instanceof Failure) return error.exitCode
  if (CliError.isCliError(error)) {
    return error._tag === "ShowHelp" && error.errors.length === 0 ? ExitCode.ok : ExitCode.usage
  }
  // A defect: say so (the commands report every expected failure themselves).
  process.stderr.write(`netdial: internal error: ${Cause.pretty(exit.cause)}\n`)
  return ExitCode.failed
}

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  // Exit by letting the event loop drain (so piped stdout is always flushed), not with process.exit: stdin may
  // still be open (a reader waiting on a pipe), so it is destroyed; anything else still holding the loop after a
  // second is a bug, and the process exits anyway.
  teardown: (exit) => {
    const code = exitCodeOf(exit)
    process.exitCode = code
    process.stdin.destroy()
    setTimeout(() => process.exit(code), 1000).unref()
  }
})
