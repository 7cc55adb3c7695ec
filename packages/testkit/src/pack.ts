/**
 * The proof of "selective install per layer": pack a workspace package as it would be published (`pnpm pack`
 * applies `publishConfig`), install the tarball with npm into a fresh folder outside the workspace, and load it there.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface PackedPackage {
  /** Absolute path of the tarball. */
  readonly tarball: string
  /** The folder the tarball was written to; remove it when done. */
  readonly dir: string
}

export interface InstalledPackage extends PackedPackage {
  /** The fresh project the tarballs were installed into. */
  readonly project: string
  /** Runs an ES module in the fresh project with the given Node binary and returns its stdout. */
  readonly run: (source: string, node?: string) => string
  readonly cleanup: () => void
}

// Generous: npm fetches the peers (effect, @effect/platform-node) from the registry, on a CI machine that may be busy.
const run = (command: string, args: ReadonlyArray<string>, cwd: string): string =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 })

/** `pnpm pack` of the package in `packageDir`, into a new temporary folder. */
export const packPackage = (packageDir: string): PackedPackage => {
  const dir = mkdtempSync(join(tmpdir(), "netdial-pack-"))
  const out = run("pnpm", ["pack", "--pack-destination", dir, "--json"], packageDir)
  const filename = (JSON.parse(out) as { filename: string }).filename
  return { dir, tarball: filename.startsWith("/") ? filename : join(dir, filename) }
}

/**
 * Packs `packageDir` (plus any `extraPackageDirs` it depends on) and installs them with npm into a fresh project in
 * the temporary folder, which has no workspace, no pnpm and no links back to the sources.
 */
export const packAndInstall = (packageDir: string, extraPackageDirs: ReadonlyArray<string> = []): InstalledPackage => {
  const main = packPackage(packageDir)
  const extras = extraPackageDirs.map(packPackage)
  const project = join(main.dir, "project")
  run("mkdir", ["-p", project], main.dir)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "fresh", private: true, type: "module" }))
  run(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel=error",
      ...extras.map((p) => p.tarball),
      main.tarball
    ],
    project
  )
  return {
    ...main,
    project,
    run: (source, node = process.execPath) => {
      const file = join(project, `probe-${Date.now()}-${Math.random().toString(16).slice(2)}.mjs`)
      writeFileSync(file, source)
      return run(node, [file], project)
    },
    cleanup: () => {
      rmSync(main.dir, { recursive: true, force: true })
      for (const extra of extras) rmSync(extra.dir, { recursive: true, force: true })
    }
  }
}

/** The `package.json` of an installed dependency in a fresh project. */
export const readInstalledManifest = (project: string, name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(project, "node_modules", name, "package.json"), "utf8"))

/**
 * publint (strict) on an installed package folder and Are The Types Wrong (ESM-only profile: node16 from ESM and
 * bundlers) on its tarball. Both tools come from the calling package's devDependencies (`binDir`). Returns the
 * problems each found; empty arrays mean clean.
 */
export const lintPublished = (
  binDir: string,
  installedDir: string,
  tarball: string
): { readonly publint: ReadonlyArray<string>; readonly attw: ReadonlyArray<string> } => {
  const publint = run(join(binDir, "publint"), ["--strict", installedDir], installedDir)
  const publintProblems = /All good|no issues/i.test(publint)
    ? []
    : publint.split("\n").filter((line) => line.trim().length > 0)
  // attw exits non-zero on a problem in the profile; CommonJS and node10 resolution are out of scope for ESM-only.
  let attw: string
  try {
    attw = run(join(binDir, "attw"), [tarball, "--profile", "esm-only", "--no-color", "--no-emoji"], installedDir)
  } catch (error) {
    attw = String((error as { stdout?: unknown }).stdout ?? error)
    return { publint: publintProblems, attw: [attw] }
  }
  const attwProblems = attw
    .split("\n")
    .filter((line) => line.includes("/docs/problems/") && !line.startsWith("(ignored per resolution)"))
  if (!/node16 \(from ESM\)\s*│\s*\S* ?\(ESM\)/.test(attw))
    attwProblems.push("node16 (from ESM) does not resolve to ESM")
  return { publint: publintProblems, attw: attwProblems }
}
