export { type InstalledPackage, packAndInstall, type PackedPackage, packPackage } from "./pack.ts"
