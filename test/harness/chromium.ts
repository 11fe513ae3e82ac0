/**
 * Where the tests' Chromium comes from: the system's (/usr/bin/chromium, or CHROMIUM_PATH) when
 * there is one, else the Chromium that the npm package @sparticuz/chromium ships inside its
 * tarball (x64 Linux: a brotli-compressed headless build, 67 MB, and the NSS and expat libraries it
 * links), so `npm install && npm test` needs no browser from apt. The npm build is unpacked once
 * per install into node_modules/.cache (about 15 s, 210 MB) and reused.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { brotliDecompressSync } from "node:zlib";

const SYSTEM_CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface ChromiumBinary {
  executablePath: string;
  /** Environment for the browser process (the shipped libraries' path, for the npm build). */
  env?: Record<string, string>;
  source: "system" | "npm";
}

/** The package's folder, when it is installed and its build runs here. */
function npmChromiumDir(): string | null {
  if (process.platform !== "linux" || process.arch !== "x64") return null;
  try {
    // Its exports name no package.json: from the entry (build/index.js) up to the package folder.
    const dir = dirname(dirname(createRequire(import.meta.url).resolve("@sparticuz/chromium")));
    return existsSync(join(dir, "bin", "chromium.br")) ? dir : null;
  } catch {
    return null;
  }
}

/** True when a Chromium can be had: the system's, or the npm package's. */
export function chromiumAvailable(): boolean {
  return existsSync(SYSTEM_CHROMIUM) || npmChromiumDir() !== null;
}

/** The Chromium to launch, unpacking the npm build on first use. Throws when there is none. */
export function chromiumBinary(): ChromiumBinary {
  if (existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, source: "system" };
  const pkg = npmChromiumDir();
  if (!pkg) throw new Error(`no Chromium: not at ${SYSTEM_CHROMIUM}, and @sparticuz/chromium is not installed for this platform (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  const version = (JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { version: string }).version;
  const root = join(pkg, "..", "..", ".cache", "agentroom-chromium", version);
  const exe = join(root, "chromium");
  if (!existsSync(exe)) unpack(pkg, root);
  const lib = join(root, "lib");
  return { executablePath: exe, env: { LD_LIBRARY_PATH: [lib, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":") }, source: "npm" };
}

/** Unpacks into a private folder, then renames it into place: parallel test workers never see half a browser. */
function unpack(pkg: string, root: string): void {
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const exe = join(tmp, "chromium");
  writeFileSync(exe, brotliDecompressSync(readFileSync(join(pkg, "bin", "chromium.br"))));
  chmodSync(exe, 0o755);
  // The libraries it links that a bare machine may lack (NSS, NSPR, expat), as a tar under lib/.
  writeFileSync(join(tmp, "libs.tar"), brotliDecompressSync(readFileSync(join(pkg, "bin", "al2023.tar.br"))));
  const tar = spawnSync("tar", ["-xf", "libs.tar"], { cwd: tmp, encoding: "utf8" });
  if (tar.status !== 0) throw new Error(`unpacking Chromium's libraries failed: ${tar.stderr}`);
  rmSync(join(tmp, "libs.tar"));
  try {
    renameSync(tmp, root);
  } catch (e) {
    // Another worker got there first: its copy is as good.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(root, "chromium"))) throw e;
  }
}
