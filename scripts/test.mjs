// npm test: every test, from a fresh machine. Installs what is missing (scripts/setup.sh --test),
// then runs, in order of speed: native unit tests, the fd-proxy server's integration tests (against
// the real listening binary), the wasm-bindgen-test suites in three engines (headless Chromium,
// headless Firefox ESR, WebKitGTK's MiniBrowser on an Xvfb display this script starts and stops),
// the package build (with its size budget), the Playwright/tsc tests (the packed package in every
// kind of project, and the example page that `npm start` serves, in Chromium), and the WebDriver
// tests of the packed package in Firefox ESR and WebKitGTK. Ends with a summary: each step's
// count and time, tests skipped in an engine with the reason, and one line counting every test.
import { spawn, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startXvfb } from "../e2e/webdriver.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = {
  ...process.env,
  CHROMEDRIVER: process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver",
  // The runner's budget for one suite file (default 20 s): the soak suite alone takes about 12 s in
  // WebKitGTK on an idle 2-core machine, and overran 20 s in Chromium on a loaded one.
  WASM_BINDGEN_TEST_TIMEOUT: process.env.WASM_BINDGEN_TEST_TIMEOUT ?? "120",
  // wasm-bindgen-test-runner, which `cargo test` uses for wasm32 (see .cargo/config.toml), lives here.
  PATH: `${process.env.HOME}/.cargo/bin:${process.env.PATH}`,
};

/**
 * wasm-bindgen-test tests that cannot run in an engine: `{engine: [{test, reason}]}`, `test` a
 * name as the runner prints it (passed to `--skip`). Each is listed in the summary with its reason;
 * none today: the 55 tests of tests/*.rs pass in all three engines.
 */
const WASM_SKIPS = { chromium: [], firefox: [], webkit: [] };

/** The WebDriver env vars the wasm-bindgen-test runner looks at; the first one set picks the browser. */
const DRIVER_VARS = ["GECKODRIVER", "SAFARIDRIVER", "CHROMEDRIVER", "MSEDGEDRIVER"].flatMap((v) => [v, `${v}_REMOTE`]);
const onlyDriver = (name, path) => {
  const e = { ...env };
  for (const v of DRIVER_VARS) delete e[v];
  e[name] = path;
  return e;
};

/** The e2e suites of the WebDriver step (other engines); every other e2e/*.test.mjs is Playwright's. */
const WEBDRIVER_SUITES = ["e2e/engines.test.mjs", "e2e/engines-tabs.test.mjs"];

/** Runs a command, echoing its output, and returns [passed, failed] read from its summary lines. */
function run(label, cmd, args, stepEnv = env) {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env: stepEnv, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const echo = (stream) => (chunk) => {
      out += chunk;
      stream.write(chunk);
    };
    child.stdout.on("data", echo(process.stdout));
    child.stderr.on("data", echo(process.stderr));
    child.on("error", reject);
    child.on("close", (code) => {
      let passed = 0;
      let failed = 0;
      for (const m of out.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
        passed += Number(m[1]);
        failed += Number(m[2]);
      }
      for (const m of out.matchAll(/^# pass (\d+)$/gm)) passed += Number(m[1]);
      for (const m of out.matchAll(/^# fail (\d+)$/gm)) failed += Number(m[1]);
      let skipped = 0; // node:test's skipped tests and cargo's ignored ones, shown so none goes unseen
      for (const m of out.matchAll(/^# skipped (\d+)$/gm)) skipped += Number(m[1]);
      for (const m of out.matchAll(/test result: \w+\. \d+ passed; \d+ failed; (\d+) ignored/g)) skipped += Number(m[1]);
      if (code !== 0 && failed === 0) failed = 1; // a runner that died before counting
      resolve({ label, passed, failed, skipped, code, seconds: (Date.now() - started) / 1000 });
    });
  });
}

execFileSync("bash", ["scripts/setup.sh", "--test"], { cwd: root, stdio: "inherit", env });

/** The wasm-bindgen-test suites in `engine`, with its skips; `setup` gives the step's env and a cleanup. */
const wasmStep = (engine, label, setup) => ({
  label: `browser tests (${label})${WASM_SKIPS[engine].length ? `, ${WASM_SKIPS[engine].length} skipped` : ""}`,
  cmd: "cargo",
  // With the allocator the npm build ships (talc, feature npm-allocator), not the default one.
  args: ["test", "--target", "wasm32-unknown-unknown", "--features", "npm-allocator", "--tests", "--", ...WASM_SKIPS[engine].flatMap((s) => ["--skip", s.test])],
  setup,
});
const playwrightSuites = readdirSync(join(root, "e2e"))
  .filter((f) => f.endsWith(".test.mjs"))
  .map((f) => `e2e/${f}`)
  .filter((f) => !WEBDRIVER_SUITES.includes(f));

const steps = [
  { label: "native unit tests", cmd: "cargo", args: ["test", "--lib"] },
  // Installs nightly and cargo-fuzz if missing; each target runs FUZZ_SECONDS (default 15).
  { label: "fuzz targets (cargo-fuzz, short run)", cmd: "bash", args: ["scripts/fuzz.sh"] },
  { label: "fd-proxy: mock API and refresh-token proxy", cmd: "cargo", args: ["test", "-p", "fd-proxy"] },
  // Built once by the Chromium step; the other two only run the same test binaries.
  wasmStep("chromium", "headless Chromium", async () => ({ env: onlyDriver("CHROMEDRIVER", env.CHROMEDRIVER) })),
  wasmStep("firefox", "headless Firefox ESR", async () => ({
    env: onlyDriver("GECKODRIVER", env.GECKODRIVER ?? `${process.env.HOME}/.cargo/bin/geckodriver`),
  })),
  // WebKitWebDriver has no headless mode of its own: MiniBrowser gets a private Xvfb display.
  wasmStep("webkit", "WebKitGTK MiniBrowser under Xvfb", async () => {
    const xvfb = await startXvfb();
    return { env: { ...onlyDriver("SAFARIDRIVER", env.SAFARIDRIVER ?? "/usr/bin/WebKitWebDriver"), DISPLAY: xvfb.display }, cleanup: xvfb.stop };
  }),
  { label: "package build and size budget", cmd: "node", args: ["scripts/build.mjs"] },
  {
    label: "Playwright/tsc: packed package (page, Vite, webpack, Node, types), npm start's demo",
    cmd: "node",
    args: ["--test", "--test-concurrency=1", ...playwrightSuites],
  },
  {
    label: "WebDriver: packed package in a plain page (Firefox ESR, WebKitGTK), tabs (both)",
    cmd: "node",
    args: ["--test", "--test-concurrency=1", ...WEBDRIVER_SUITES],
    // setup.sh installed both engines: a missing one fails here instead of being skipped.
    setup: async () => ({ env: { ...env, FD_REQUIRE_ENGINES: "1" } }),
  },
];
// `npm test -- firefox webkit`: only the steps whose label contains one of the words (no later
// step needs an earlier one's output but the e2e steps, which need the package build).
const only = process.argv.slice(2).map((w) => w.toLowerCase());
const chosen = only.length ? steps.filter((s) => only.some((w) => s.label.toLowerCase().includes(w))) : steps;
const results = [];
for (const step of chosen) {
  let stepEnv = env;
  let cleanup = async () => {};
  if (step.setup) ({ env: stepEnv, cleanup = cleanup } = await step.setup());
  let r;
  try {
    r = await run(step.label, step.cmd, step.args, stepEnv);
  } finally {
    await cleanup();
  }
  results.push(r);
  if (r.code !== 0) break; // later steps depend on earlier ones (the e2e tests need the build)
}

console.log("\n=== summary");
for (const r of results) {
  console.log(`${r.code === 0 ? "ok  " : "FAIL"} ${r.label}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ""} (${r.seconds.toFixed(1)} s)`);
}
for (const [engine, skips] of Object.entries(WASM_SKIPS)) {
  for (const s of skips) console.log(`skip ${engine}: ${s.test}: ${s.reason}`);
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const broken = results.length < chosen.length || results.some((r) => r.code !== 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(broken ? 1 : 0);
