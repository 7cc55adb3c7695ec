/**
 * Where output goes: results on stdout (one JSON document with `--json`), diagnostics on stderr. Colour only on a
 * terminal and never with NO_COLOR (https://no-color.org) or TERM=dumb.
 */
import { Effect } from "effect"

type Stream = NodeJS.WriteStream

const colourOn = (stream: Stream): boolean =>
  stream.isTTY === true &&
  (process.env.NO_COLOR === undefined || process.env.NO_COLOR === "") &&
  process.env.TERM !== "dumb"

export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly red: (s: string) => string
  readonly green: (s: string) => string
  readonly yellow: (s: string) => string
  readonly cyan: (s: string) => string
}

const sgr = (on: boolean, code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s)

export const styleFor = (stream: Stream): Style => {
  const on = colourOn(stream)
  return {
    bold: sgr(on, "1"),
    dim: sgr(on, "2"),
    red: sgr(on, "31"),
    green: sgr(on, "32"),
    yellow: sgr(on, "33"),
    cyan: sgr(on, "36")
  }
}

export const out = styleFor(process.stdout)
export const err = styleFor(process.stderr)

export const print = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stdout.write(`${text}\n`))

export const printError = (text: string): Effect.Effect<void> =>
  Effect.sync(() => void process.stderr.write(`${text}\n`))

/** The one JSON document of a `--json` run. Dates become ISO strings, byte arrays are left out. */
export const printJson = (value: unknown): Effect.Effect<void> =>
  Effect.sync(
    () =>
      void process.stdout.write(
        `${JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? undefined : v), 2)}\n`
      )
  )

/** Two aligned columns: `label  value`. */
export const table = (rows: ReadonlyArray<readonly [string, string]>, indent = "  "): string => {
  const width = Math.max(0, ...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`).join("\n")
}
