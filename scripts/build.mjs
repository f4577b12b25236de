// npm run build: the npm package in pkg/, from a fresh machine.
// cargo (release, size profile, no `std`) -> wasm-bindgen --target web -> wasm-opt -Oz with the
// wasm's import and export names cut short (npm binaryen), the glue renamed to match -> wasm
// gzipped (zopfli) and inlined as base64 (so no bundler needs to find a .wasm) -> js/index.js, js/support.js,
// the glue and the wasm bundled and minified by esbuild into pkg/index.js, one ES module -> its size
// printed and checked against the budget. Committed in pkg/: README.md (the npm README),
// package.json and index.d.ts; the build writes index.js and fd_fetch.d.ts (the Rust side's types).
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
/**
 * Budget for what a user's bundle gains: gzip -9 of the shipped module (the wasm is inside).
 * Set just above what is measured, so that any growth fails the build. History: 40.0 KB before the
 * many-tabs work, 52,196 B after it, 53,781 B after hardening, 59,705 B after issue 9's instances,
 * then 47,329 B in issue 10 (no `std` in the wasm, short import/export names, one minified bundle,
 * the crate's own async plumbing instead of wasm-bindgen-futures, `globalThis` read once), and
 * 44,765 B with the inlined wasm compressed by zopfli.
 * README "Size" says what weighs, measured with twiggy; the size issue's target is 24 KB.
 */
export const BUDGET_BYTES = 43.8 * 1024;

// cargo install puts wasm-bindgen in ~/.cargo/bin, which a fresh shell may not have on PATH.
const env = { ...process.env, PATH: `${process.env.HOME}/.cargo/bin:${process.env.PATH}` };
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", env, ...opts });

export function build({ quiet = false } = {}) {
  run("bash", ["scripts/setup.sh"]);
  // The feature `npm` puts in the package's global allocator (talc) and the panic handler of a wasm
  // that links no `std`; the crate leaves both out when it is a Rust dependency.
  const cargoArgs = ["build", "--lib", "--release", "--target", "wasm32-unknown-unknown", "--features", "npm"];
  run("cargo", [...cargoArgs, ...(quiet ? ["--quiet"] : [])]);
  const raw = join(root, "target/wasm32-unknown-unknown/release/fd_fetch.wasm");
  // Everything in between goes to target/npm/, and only the bundle and the types to pkg/.
  const work = join(root, "target/npm");
  rmSync(work, { recursive: true, force: true });
  // What builds before the bundle left in pkg/ (the glue, the inlined wasm, the snippet copy).
  for (const old of ["fd_fetch.js", "fd_fetch_wasm.js", "snippets"]) rmSync(join(pkg, old), { recursive: true, force: true });
  run("wasm-bindgen", [raw, "--out-dir", work, "--target", "web", "--omit-default-module-path"]);

  // The glue imports js/support.js through a copy under snippets/<hash>/; point it at the one copy
  // that index.js imports too, so there is a single FdError class.
  const gluePath = join(work, "fd_fetch.js");
  const glue = readFileSync(gluePath, "utf8");
  // Only the `from` clauses: the same string is also the wasm's own import-module key.
  const snippet = /from (["'])\.\/snippets\/[^"']+\/js\/support\.js\1/g;
  const count = (glue.match(snippet) ?? []).length;
  if (count < 1) throw new Error("found no import of support.js in the glue");
  if (glue.includes("import.meta.url")) throw new Error("the glue still refers to import.meta.url");

  // wasm-opt -Oz, and the names between the wasm and the glue cut to a letter or two: wasm-bindgen's
  // names carry a 16-hex-digit hash, each spelled once in the wasm and once more in the glue.
  const bg = join(work, "fd_fetch_bg.wasm");
  const wasmOpt = join(root, "node_modules/.bin/wasm-opt");
  // --converge repeats -Oz while it still shrinks the module (about 0.1 KB).
  run(wasmOpt, [bg, "-Oz", "--converge", "--strip-debug", "--strip-producers", "-o", bg]);
  const map = JSON.parse(
    run(wasmOpt, [bg, "--minify-imports-and-exports-and-modules", "-o", bg], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" }),
  );
  const wasmBytes = readFileSync(bg);
  writeFileSync(gluePath, shortenNames(sealGlue(glue.replace(snippet, 'from "./support.js"')), map, wasmBytes));
  // Zopfli (scripts/zopfli.mjs): a standard gzip stream, which DecompressionStream reads as it
  // reads zlib's, and 2.3 KB smaller than zlib's -9 here, for about 2 s of build time. The outer
  // gzip cannot shrink base64 of compressed bytes, so this inner stream is what the package weighs.
  const wasmGz = run(process.execPath, ["scripts/zopfli.mjs", bg], { stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 });
  writeFileSync(join(work, "fd_fetch_wasm.js"), `export default "${wasmGz.toString("base64")}";\n`);
  for (const file of ["index.js", "support.js"]) copyFileSync(join(root, "js", file), join(work, file));

  // One minified ES module: the entry, support.js, the glue and the inlined wasm. A bundle has no
  // module of its own for a script to import the glue from (CONTRACT "Hardening", no handle on
  // secrets), and one gzip stream is smaller than four.
  esbuild.buildSync({
    entryPoints: [join(work, "index.js")],
    outfile: join(pkg, "index.js"),
    bundle: true,
    minify: true,
    format: "esm",
    // The package's browsers (README "Browser support": Chrome 97, Firefox 113, Safari 16.4) and Node 20.
    target: ["es2022"],
    legalComments: "none",
    logLevel: "warning",
  });
  sealTypes(join(work, "fd_fetch.d.ts"), join(pkg, "fd_fetch.d.ts"));

  const sizes = sizeTable(wasmBytes.length, wasmGz.length);
  if (!quiet) printSizes(sizes);
  const total = sizes.find((s) => s.file === "total shipped JS")?.gz ?? Infinity;
  if (total > BUDGET_BYTES) {
    throw new Error(`size budget exceeded: ${total} B gzip > ${BUDGET_BYTES} B`);
  }
  return sizes;
}

/**
 * Applies wasm-opt's renaming (`map`: `imports` as [module, name, short], `exports` as [name,
 * short]) to the glue. wasm-opt puts every import in one module; the glue's imports object is
 * rebuilt to match: its own functions under their short names, and support.js's exports added to
 * them. Then every import of the wasm must have a function in the glue, or the build stops.
 */
function shortenNames(glue, map, wasmBytes) {
  const own = "./fd_fetch_bg.js";
  const word = (name) => name.replace(/[$]/g, "\\$");
  let out = glue;
  const borrowed = [];
  for (const [module, name, short] of map.imports) {
    if (module === own) {
      const key = new RegExp(`^(\\s+)${word(name)}:`, "m");
      if (!key.test(out)) throw new Error(`the glue has no import ${name}`);
      out = out.replace(key, `$1${short}:`);
    } else {
      borrowed.push(`${short}: import1.${name}`);
    }
  }
  for (const [name, short] of map.exports) {
    out = out.replace(new RegExp(`\\bwasm\\.${word(name)}(?![\\w$])`, "g"), `wasm.${short}`);
  }
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(wasmBytes));
  const modules = new Set(imports.map((i) => i.module));
  if (modules.size !== 1) throw new Error(`wasm-opt left ${modules.size} import modules`);
  const [module] = modules;
  const table = /return \{\n\s+__proto__: null,\n\s+"\.\/fd_fetch_bg\.js": import0,\n(?:\s+"[^"]+": import\d+,\n)*\s+\};/;
  if (!table.test(out)) throw new Error("the glue's imports object changed: check shortenNames");
  out = out.replace(table, `return { __proto__: null, ${JSON.stringify(module)}: Object.assign(import0, { ${borrowed.join(", ")} }) };`);
  for (const { name } of imports) {
    if (!new RegExp(`(^\\s+|[{,] )${word(name)}:`, "m").test(out)) throw new Error(`no glue for the wasm's import ${name}`);
  }
  const left = out.match(/\bwasm\.__wb\w+|\b__wbg_\w+_[0-9a-f]{16}\b/);
  if (left) throw new Error(`a long name is left in the glue: ${left[0]}`);
  return out;
}

/**
 * CONTRACT "Hardening", no handle on secrets: the generated glue's `initSync` and default export
 * hand back the instance's exports, memory included, to any script that imports the glue. The
 * package's entry needs only to start the module once, so the glue exports a loader that returns
 * nothing, and no `initSync`.
 */
function sealGlue(glue) {
  const exported = "export { initSync, __wbg_init as default };";
  if (!glue.includes(exported)) throw new Error("the glue's exports changed: check sealGlue");
  return glue.replace(exported, "export default (input) => __wbg_init(input).then(() => {});");
}

/**
 * The types wasm-bindgen writes for src/lib.rs (the shared types that pkg/index.d.ts imports), as a
 * types-only module: the loader's and the instance's types go, since the bundle exports neither.
 */
function sealTypes(from, to) {
  const types = readFileSync(from, "utf8");
  const start = types.indexOf("export type InitInput");
  if (start < 0) throw new Error("the glue's types changed: check sealTypes");
  writeFileSync(to, types.slice(0, start));
}

function sizeTable(wasmRaw, wasmGz) {
  const bytes = readFileSync(join(pkg, "index.js"));
  return [
    { file: "wasm (after wasm-opt)", raw: wasmRaw, gz: wasmGz },
    { file: "total shipped JS", raw: bytes.length, gz: gzipSync(bytes, { level: 9 }).length },
  ];
}

export function printSizes(sizes) {
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log("\nfd-fetch package sizes (gzip -9)");
  console.log("file".padEnd(24), "raw".padStart(10), "gzip".padStart(10));
  for (const s of sizes) console.log(s.file.padEnd(24), kb(s.raw).padStart(10), kb(s.gz).padStart(10));
  console.log(`budget: ${kb(BUDGET_BYTES)} gzip for the total shipped JS (the wasm is inlined in it)\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    build();
  } catch (e) {
    console.error(`build failed: ${e.message}`);
    process.exit(1);
  }
}
