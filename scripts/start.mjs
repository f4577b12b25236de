// npm start: builds everything and serves the example page with the mock partner API and the
// refresh-token proxy, from a fresh machine. One process serves it all at http://127.0.0.1:8080
// (PORT overrides): fd-proxy with --mock-api (/api), its proxy (/proxy) and the built page (/).
// Tokens live 120 s so that refreshes can be watched.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "./build.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

/** Token lifetime of the demo, in seconds; the page reads it from /api/demo-config. */
const TOKEN_LIFETIME_SEC = 120;
/** How long the mock takes to answer a refresh, so that the page's timeline can show it. */
const REFRESH_DELAY_MS = 300;

build({ quiet: true }); // pkg/, which www/ imports as "fd-fetch" (node_modules/fd-fetch → pkg/)
run("node", [join(root, "node_modules/vite/bin/vite.js"), "build", "www", "--logLevel", "warn"]);
run("cargo", ["build", "--quiet", "-p", "fd-proxy", "--features", "mock"]);

// The proxy's cookie key. A development key, made once per checkout and kept out of git (target/).
const keyFile = join(root, "target", "fd-proxy-dev.key");
if (!existsSync(keyFile)) {
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, randomBytes(64).toString("base64"), { mode: 0o600 });
}

const port = process.env.PORT ?? "8080";
const server = spawn(
  join(root, "target", "debug", "fd-proxy"),
  [
    "--listen", `127.0.0.1:${port}`,
    "--mock-api",
    "--static-dir", join(root, "www", "dist"),
    "--token-lifetime", String(TOKEN_LIFETIME_SEC),
    "--refresh-delay-ms", String(REFRESH_DELAY_MS),
    "--cookie-key-file", keyFile,
  ],
  { cwd: root, stdio: "inherit" },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
