export {
  type MakeTestPkiOptions,
  makeTestPki,
  type TestCert,
  type TestCertFiles,
  type TestCertFingerprints,
  type TestClientCert,
  type TestPki,
  type TestPkiAlgorithm,
  type TestPkiFiles,
  type TestServerCert,
  writeTestPki
} from "./certs.ts"
export { type InstalledPackage, lintPublished, type PackedPackage, packAndInstall, packPackage } from "./pack.ts"
export {
  type Process,
  ProcessError,
  type ProcessExit,
  runCommand,
  type SpawnOptions,
  spawnProcess,
  waitForPorts
} from "./process.ts"
