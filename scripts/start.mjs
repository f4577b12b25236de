// npm start: builds the package and serves the example page (www/) with the mock partner API, at
// http://127.0.0.1:8080 (PORT overrides). Tokens live 120 s so that refreshes can be watched.
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { build } from "./build.mjs";
import { ROOT, startServer } from "../e2e/lib.mjs";

build();
const served = join(ROOT, "www", "pkg");
mkdirSync(served, { recursive: true });
for (const f of ["index.js", "support.js", "fd_fetch.js", "fd_fetch_wasm.js"]) cpSync(join(ROOT, "pkg", f), join(served, f));

const port = Number(process.env.PORT ?? 8080);
const server = await startServer({ staticDir: join(ROOT, "www"), tokenLifetimeSec: 120, port });
console.log(`
fd-fetch example:  ${server.origin}/
mock partner API:  ${server.api}  (tokens live 120 s; the page refreshes them under 60 s)
demo user:         alice / wonderland
Ctrl-C stops it.
`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
