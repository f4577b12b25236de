// Every library of the size table bundled as an app would ship it: esbuild --bundle --minify,
// ESM, for the browser, into bench/.work/ (the page loads axios and ky from there too), then
// gzip -9. An app imports a library's main entry point, so each bundle starts from one.
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";
import { ROOT, PKG } from "../e2e/lib.mjs";

export const WORK = join(ROOT, "bench", ".work");

/** Size-table row -> [what the app imports, from where] (resolved from the repository's root). */
const ENTRIES = {
  "fd-fetch": ["*", "./pkg/index.js"],
  baseline: ["*", "./bench/baseline.js"],
  axios: ["default", "axios"],
  ky: ["default", "ky"],
  "oidc-client-ts": ["UserManager", "oidc-client-ts"],
  "@auth0/auth0-spa-js": ["createAuth0Client", "@auth0/auth0-spa-js"],
};

const gzip9 = (bytes) => gzipSync(bytes, { level: 9 }).length;

/** Bundles every entry; `{row: {imports, from, bytes, gzip}}`. */
export async function bundleAll() {
  await mkdir(WORK, { recursive: true });
  const sizes = {};
  for (const [name, [imports, from]] of Object.entries(ENTRIES)) {
    const entry = imports === "*" ? `export * from "${from}";` : `export { ${imports} } from "${from}";`;
    const outfile = join(WORK, `${name.replace(/^@[^/]+\//, "")}.js`);
    await esbuild.build({
      stdin: { contents: entry, resolveDir: ROOT, sourcefile: `${name}-entry.js` },
      bundle: true,
      minify: true,
      format: "esm",
      platform: "browser",
      outfile,
      logLevel: "error",
    });
    const bytes = readFileSync(outfile);
    sizes[name] = { imports, from, bytes: bytes.length, gzip: gzip9(bytes) };
  }
  return sizes;
}

/** The JavaScript files the package ships (pkg/package.json `files`), relative to pkg/. */
export function shippedJs() {
  const { files } = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
  return files.filter((f) => f.endsWith(".js"));
}

/**
 * The package's own figure, as `npm run build` prints it ("total shipped JS"): gzip -9 of each
 * JavaScript file the package ships (pkg/package.json `files`), summed. Read from the files, so it
 * holds whether or not this run built pkg/, and whatever files a later build ships.
 */
export function packageSize() {
  const js = shippedJs();
  const bytes = js.map((f) => readFileSync(join(PKG, f)));
  return { files: js, bytes: bytes.reduce((n, b) => n + b.length, 0), gzip: bytes.reduce((n, b) => n + gzip9(b), 0) };
}
