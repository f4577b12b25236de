// node scripts/zopfli.mjs FILE: FILE gzipped with zopfli, on stdout. A process of its own because the
// compressor is an Emscripten module that installs process-wide `uncaughtException` and
// `unhandledRejection` handlers, which have no place in the build's or `npm start`'s process.
import { readFileSync } from "node:fs";
import { gzipAsync } from "@gfx/zopfli";

process.stdout.write(await gzipAsync(readFileSync(process.argv[2]), { numiterations: 15 }));
