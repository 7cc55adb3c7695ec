/** One test PKI for a test file, written to a temp dir (removed by `cleanup`). */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeTestPki, type TestPki, type TestPkiFiles, writeTestPki } from "@netdial/testkit"

export interface Pki {
  readonly pki: TestPki
  readonly files: TestPkiFiles
  readonly cleanup: () => void
}

export const makePki = async (): Promise<Pki> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdial-cli-pki-"))
  const pki = await makeTestPki()
  const files = await writeTestPki(pki, dir)
  return { pki, files, cleanup: () => Fs.rmSync(dir, { recursive: true, force: true }) }
}
