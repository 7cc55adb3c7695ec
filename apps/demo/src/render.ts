/**
 * Plain-text tables of the tour. Colour only when stdout is a TTY and NO_COLOR is unset (https://no-color.org).
 */
import type { Tour, TourResult } from "./tour.ts"

export const useColour = (): boolean =>
  process.stdout.isTTY === true && (process.env.NO_COLOR === undefined || process.env.NO_COLOR === "")

const paint = (colour: boolean, code: string, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text)

const titles: Record<TourResult["part"], string> = {
  1: "Part 1 — every address form of the PHP manual, against local servers",
  2: "Part 2 — SMTP submission: implicit TLS, STARTTLS, and an injecting attacker",
  3: "Part 3 — PHP's lax inputs, refused with a reason and a fix"
}

const table = (rows: ReadonlyArray<ReadonlyArray<string>>, colour: boolean, okColumn: number): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  const line = (row: ReadonlyArray<string>, header: boolean) =>
    row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell : cell.padEnd(widths[i]!)
        if (header) return paint(colour, "1", padded)
        if (i === okColumn) return paint(colour, cell === "ok" ? "32" : "31;1", padded)
        return padded
      })
      .join("  ")
      .trimEnd()
  const rule = widths.map((w) => "-".repeat(w)).join("  ")
  return [line(rows[0]!, true), rule, ...rows.slice(1).map((row) => line(row, false))].join("\n")
}

export const render = (tour: Tour, colour: boolean = useColour()): string => {
  const out: Array<string> = []
  for (const part of [1, 2, 3] as const) {
    out.push(paint(colour, "1;36", titles[part]), "")
    const rows = tour.results.filter((r) => r.part === part)
    const header = ["", "input", "canonical", "outcome"]
    out.push(
      table(
        [
          header,
          ...rows.map((r) => [
            r.ok ? "ok" : "FAIL",
            r.input,
            r.canonical ?? "-",
            r.ok ? r.outcome : `${r.outcome} (expected: ${r.expected})`
          ])
        ],
        colour,
        0
      ),
      ""
    )
  }
  const failed = tour.results.filter((r) => !r.ok).length
  out.push(
    failed === 0
      ? paint(colour, "32;1", `All ${tour.results.length} expected outcomes happened in ${tour.durationMs} ms.`)
      : paint(
          colour,
          "31;1",
          `${failed} of ${tour.results.length} outcomes were not as expected (${tour.durationMs} ms).`
        )
  )
  return out.join("\n")
}
