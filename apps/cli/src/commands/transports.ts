/** `netdial transports`: the flags; the list is built in run/transports.ts. */
import { Effect } from "effect"
import { Command } from "effect/cli"
import { json } from "../internal/sharedFlags.ts"

export const transportsCommand = Command.make("transports", { json }, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("../run/transports.ts")),
    ({ runTransports }) => runTransports(config.json)
  )
).pipe(
  Command.withDescription("List the transports (schemes) netdial can dial and serve, and the STARTTLS protocols"),
  Command.withExamples([
    { command: "netdial transports", description: "What each scheme means" },
    { command: "netdial transports --json", description: "The same as JSON" }
  ])
)
