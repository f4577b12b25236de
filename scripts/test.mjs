// npm test: every test, from a fresh machine. Installs what is missing (scripts/setup.sh --test),
// then runs, in order of speed: native unit tests, the fd-proxy server's integration tests (against
// the real listening binary), the wasm-bindgen-test suites in headless Chromium, the package build
// (with its size budget), and the Playwright/tsc tests: the packed package in every kind of
// project, and the example page that `npm start` serves. Ends with one line counting every test of
// every runner.
import { spawn, execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = {
  ...process.env,
  CHROMEDRIVER: process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver",
  // wasm-bindgen-test-runner, which `cargo test` uses for wasm32 (see .cargo/config.toml), lives here.
  PATH: `${process.env.HOME}/.cargo/bin:${process.env.PATH}`,
};

/** Runs a command, echoing its output, and returns [passed, failed] read from its summary lines. */
function run(label, cmd, args) {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
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
      if (code !== 0 && failed === 0) failed = 1; // a runner that died before counting
      resolve({ label, passed, failed, code });
    });
  });
}

execFileSync("bash", ["scripts/setup.sh", "--test"], { cwd: root, stdio: "inherit", env });
const results = [];
const steps = [
  ["native unit tests", "cargo", ["test", "--lib"]],
  // Installs nightly and cargo-fuzz if missing; each target runs FUZZ_SECONDS (default 15).
  ["fuzz targets (cargo-fuzz, short run)", "bash", ["scripts/fuzz.sh"]],
  ["fd-proxy: mock API and refresh-token proxy", "cargo", ["test", "-p", "fd-proxy"]],
  ["browser tests (headless Chromium)", "cargo", ["test", "--target", "wasm32-unknown-unknown", "--tests"]],
  ["package build and size budget", "node", ["scripts/build.mjs"]],
  ["Playwright/tsc: packed package (page, Vite, webpack, Node, types), npm start's demo", "node", ["--test", "--test-concurrency=1", "e2e/"]],
];
for (const [label, cmd, args] of steps) {
  const r = await run(label, cmd, args);
  results.push(r);
  if (r.code !== 0) break; // later steps depend on earlier ones (the e2e tests need the build)
}

console.log("\n=== summary");
for (const r of results) console.log(`${r.code === 0 ? "ok  " : "FAIL"} ${r.label}: ${r.passed} passed, ${r.failed} failed`);
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const broken = results.length < steps.length || results.some((r) => r.code !== 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(broken ? 1 : 0);
