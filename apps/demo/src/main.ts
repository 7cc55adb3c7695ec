/**
 * `node src/main.ts [--json]`: runs the tour on loopback and prints tables (or one JSON document with `--json`).
 * Exits 0 only when every expected outcome happened.
 */
import { Transports } from "@netdial/transport"
import { Effect } from "effect"
import { render } from "./render.ts"
import { tour } from "./tour.ts"

const args = process.argv.slice(2)
const json = args.includes("--json")
const unknown = args.filter((arg) => arg !== "--json" && arg !== "--")
if (unknown.length > 0) {
  process.stderr.write(`usage: node src/main.ts [--json]  (unknown: ${unknown.join(" ")})\n`)
  process.exitCode = 2
} else {
  const result = await Effect.runPromise(
    tour.pipe(
      Effect.provide(Transports.layerNode),
      Effect.map((tour) => ({ _tag: "Done" as const, tour })),
      Effect.catch((error) => Effect.succeed({ _tag: "SetupFailed" as const, error }))
    )
  )
  if (result._tag === "SetupFailed") {
    const { reason, message } = result.error
    process.stderr.write(`the tour could not start its local servers: ${reason}: ${message}\n`)
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, setupError: { reason, message }, results: [] })}\n`)
    process.exitCode = 1
  } else {
    const { tour } = result
    process.stdout.write(json ? `${JSON.stringify(tour, null, 2)}\n` : `${render(tour)}\n`)
    process.exitCode = tour.ok ? 0 : 1
  }
}
