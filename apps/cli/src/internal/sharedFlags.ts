/** Flags that every command spells the same way. */
import { Flag } from "effect/cli"

export const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print one JSON document on stdout (field names are stable; see the README)"),
  Flag.withDefault(false)
)

export const quiet = Flag.Boolean("quiet").pipe(
  Flag.withAlias("q"),
  Flag.withDescription("No summary or progress on stderr (listen still names the address it bound)"),
  Flag.withDefault(false)
)

/** The fsockopen() form: `netdial connect example.com --port 80`. */
export const port = Flag.Int("port").pipe(
  Flag.withAlias("p"),
  Flag.withDescription("The port, given apart as fsockopen() takes it (then <url> has none)"),
  Flag.optional
)
