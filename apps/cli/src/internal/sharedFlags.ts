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
