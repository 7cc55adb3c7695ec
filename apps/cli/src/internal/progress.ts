/**
 * Progress on a terminal: one spinner line on stderr naming the phase (resolving, connecting, handshaking…), erased
 * when the phase ends. Nothing at all when stderr is not a terminal, with --quiet or with --json.
 */
import { Effect, type Scope } from "effect"

export interface Progress {
  readonly phase: (text: string) => Effect.Effect<void>
  /** Erase the line (before printing a summary or data). */
  readonly clear: Effect.Effect<void>
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

const silent: Progress = { phase: () => Effect.void, clear: Effect.void }

export const makeProgress = (enabled: boolean): Effect.Effect<Progress, never, Scope.Scope> => {
  if (!enabled || process.stderr.isTTY !== true) return Effect.succeed(silent)
  let text: string | undefined
  let frame = 0
  const start = Date.now()
  const draw = () => {
    if (text === undefined) return
    const seconds = ((Date.now() - start) / 1000).toFixed(1)
    process.stderr.write(`\r\u001b[K${frames[frame++ % frames.length]} ${text} ${seconds}s`)
  }
  const erase = () => {
    if (text !== undefined) process.stderr.write("\r\u001b[K")
    text = undefined
  }
  return Effect.acquireRelease(
    Effect.sync(() => setInterval(draw, 80)),
    (timer) =>
      Effect.sync(() => {
        clearInterval(timer)
        erase()
      })
  ).pipe(
    Effect.as({
      phase: (next: string) =>
        Effect.sync(() => {
          text = next
          draw()
        }),
      clear: Effect.sync(erase)
    })
  )
}
