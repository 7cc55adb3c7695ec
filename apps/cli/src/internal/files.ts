/** File-system questions the flags need answered. */
import * as Fs from "node:fs"

/** `--ca` names a file or a directory of certificates; anything unreadable is left to the TLS layer to report. */
export const isDirectory = (path: string): boolean => {
  try {
    return Fs.statSync(path).isDirectory()
  } catch {
    return false
  }
}
