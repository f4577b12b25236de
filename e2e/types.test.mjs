// The TypeScript types: types-test/usage.ts (every export, with the contract's signatures, and
// `@ts-expect-error` lines that must stay errors) type-checks strictly, against pkg/ and against the
// packed package installed from its tarball (resolved through its exports map). The example page
// (www/, strict TypeScript) type-checks against the package as its users' code would.
import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, TSC, packAndInstall, run, writeFiles } from "./lib.mjs";

const tsc = (args, cwd = ROOT) => run(process.execPath, [TSC, ...args], { cwd, allowFail: true, timeoutMs: 90_000 });
const explainTsc = ({ code, out }) => `tsc exited with ${code}:\n${out}`;

test("tsc -p types-test (strict, paths to pkg/index.d.ts) passes", async () => {
  const r = await tsc(["-p", "types-test"]);
  assert.equal(r.code, 0, explainTsc(r));
});

test("tsc -p www: the example page type-checks strictly against the package", async () => {
  const r = await tsc(["-p", "www"]);
  assert.equal(r.code, 0, explainTsc(r));
});

test("the installed tarball type-checks through its exports map", async (t) => {
  const { app } = await packAndInstall("types");
  await copyFile(join(ROOT, "types-test", "usage.ts"), join(app, "usage.ts"));
  const common = {
    strict: true,
    noEmit: true,
    target: "es2022",
    lib: ["es2022", "dom"],
    types: [],
    skipLibCheck: false,
  };
  await writeFiles(app, {
    "tsconfig.bundler.json": JSON.stringify({
      compilerOptions: { ...common, module: "esnext", moduleResolution: "bundler" },
      files: ["usage.ts"],
    }),
    "tsconfig.nodenext.json": JSON.stringify({
      compilerOptions: { ...common, module: "nodenext", moduleResolution: "nodenext" },
      files: ["usage.ts"],
    }),
  });
  for (const mode of ["bundler", "nodenext"]) {
    await t.test(`moduleResolution ${mode}`, async () => {
      const r = await tsc(["-p", `tsconfig.${mode}.json`, "--traceResolution"], app);
      const resolved = r.out.match(/Module name 'fd-fetch' was successfully resolved to '([^']+)'/)?.[1];
      assert.equal(resolved, join(app, "node_modules/fd-fetch/index.d.ts"), "resolved through the exports map");
      const errors = r.out.split("\n").filter((l) => /error TS\d+/.test(l));
      assert.equal(r.code, 0, `tsc exited with ${r.code}:\n${errors.join("\n")}`);
    });
  }
});
