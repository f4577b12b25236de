// The crate as a Rust dependency (issue 9): a wasm app with its own #[global_allocator] that depends
// on fd-fetch (examples/rust-dependency) builds for wasm32-unknown-unknown, and its allocator, not
// the npm package's talc, serves fd-fetch's allocations. Before the `npm-allocator` feature the build
// failed: "the `#[global_allocator]` in this crate conflicts with global allocator in: fd_fetch".
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, test } from "node:test";
import { ROOT, freshDir, run, writeFiles } from "./lib.mjs";

const APP = join(ROOT, "examples", "rust-dependency");
// The root target dir: the app shares the root's dependency builds (same versions, see its Cargo.lock).
const TARGET = join(ROOT, "target");
const WASM = join(TARGET, "wasm32-unknown-unknown", "debug", "fd_fetch_rust_dependency.wasm");
const env = { PATH: `${process.env.HOME}/.cargo/bin:${process.env.PATH}`, CARGO_TARGET_DIR: TARGET };

let build; // { code, out }

before(async () => {
  build = await run("cargo", ["build", "--target", "wasm32-unknown-unknown"], {
    cwd: APP,
    env,
    allowFail: true,
    timeoutMs: 600_000,
  });
});

test("a wasm app with its own #[global_allocator] builds against the crate", () => {
  assert.equal(build.code, 0, `cargo build of examples/rust-dependency failed:\n${build.out}`);
  assert.doesNotMatch(build.out, /conflicts with global allocator/);
});

test("the app's allocator serves fd-fetch's allocations, and fd-fetch's exports work in the app", async (t) => {
  if (build.code !== 0) return t.skip("the app did not build (see the test above)");
  const dir = await freshDir("rust-dependency");
  await run("wasm-bindgen", [WASM, "--out-dir", dir, "--target", "web"], { env });
  await writeFiles(dir, {
    "check.mjs": `
      import { readFileSync } from "node:fs";
      import init, * as app from "./fd_fetch_rust_dependency.js";
      await init({ module_or_path: readFileSync(new URL("./fd_fetch_rust_dependency_bg.wasm", import.meta.url)) });
      // fd-fetch's own entry point, exported from the app's module: createClient once instances
      // land (issue 9), configure before. Both check their options in Rust.
      const start = app.createClient ?? app.configure;
      const before = app.appAllocations();
      let error;
      try { await start({ baseUrl: "ftp://nowhere.example" }); } catch (e) { error = { name: e?.name, code: e?.code, message: String(e?.message) }; }
      console.log("RESULT " + JSON.stringify({ hasStart: typeof start, before, after: app.appAllocations(), error }));
    `,
  });
  const { out } = await run(process.execPath, ["check.mjs"], { cwd: dir, allowFail: true, timeoutMs: 30_000 });
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, `the check did not finish:\n${out}`);
  const r = JSON.parse(line.slice(7));
  assert.equal(r.hasStart, "function", "fd-fetch's exports are in the app's module");
  assert.equal(r.error?.name, "FdError", JSON.stringify(r));
  assert.equal(r.error?.code, "bad_config", JSON.stringify(r));
  assert.match(r.error.message, /baseUrl/);
  assert.ok(r.after > r.before, `fd-fetch allocated through the app's allocator: ${r.before} -> ${r.after}`);
});
