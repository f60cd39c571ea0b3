// Runs one Python file on the real MicroPython VM (WebAssembly port) with lib/ and firmware/ on
// sys.path, and passes its output through: for tests and benches that need what the VM made.
//
//   node tests/mpvm/exec.mjs FILE.py [HEAP_BYTES]
//
// When the file defines step(), it is then called once per call into the VM until it returns a
// false value: the WebAssembly port reclaims memory only between calls, so a bench that reads
// gc.mem_alloc() per step sees what a board would hold.
// Exit status 1 when the file raised (the traceback is printed).
import fs from "node:fs";
import { loadVM } from "./vm.mjs";

const [file, heapArg] = process.argv.slice(2);
if (!file) { console.error("usage: node tests/mpvm/exec.mjs FILE.py [HEAP_BYTES]"); process.exit(2); }
const out = (b) => process.stdout.write(Buffer.from(b));
const mp = await loadVM({ heap: heapArg ? Number(heapArg) : 4 * 1024 * 1024, stdout: out });
try {
  mp.runPython(fs.readFileSync(file, "utf8"));
  mp.runPython("_has_step = 'step' in globals()");
  if (mp.globals.get("_has_step")) {
    for (;;) {
      mp.runPython("_more = bool(step())");
      if (!mp.globals.get("_more")) break;
    }
  }
} catch (e) {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
}
