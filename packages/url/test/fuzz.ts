/**
 * `pnpm fuzz`: the property suite with a million cases (default), split like the test suite.
 * Usage: node test/fuzz.ts [cases] [seed]
 */
import fc from "fast-check"
import { outcomes, properties } from "./properties.ts"

const total = Number(process.argv[2] ?? 1_000_000)
const seed = process.argv[3] === undefined ? Date.now() : Number(process.argv[3])
const plan: ReadonlyArray<[keyof typeof properties, number]> = [
  ["arbitraryStrings", Math.round(total * 0.4)],
  ["urlShaped", Math.round(total * 0.4)],
  ["hostPort", Math.round(total * 0.2)]
]
console.log(`fuzzing @netdial/url with ${total} cases, seed ${seed}`)
for (const [name, numRuns] of plan) {
  const started = performance.now()
  fc.assert(properties[name] as fc.IRawProperty<unknown[]>, { numRuns, seed })
  console.log(`  ${name}: ${numRuns} cases passed in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}
const counted = [...outcomes].sort((a, b) => b[1] - a[1])
console.log(`outcomes of parse: ${counted.map(([k, n]) => `${k} ${n}`).join(", ")}`)
