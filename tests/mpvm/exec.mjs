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
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const PKG = path.join(HERE, "node_modules", "@micropython", "micropython-webassembly-pyscript",
                      "micropython.mjs");

function pyFiles(dir, rel = "") {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    if (e.name === "__pycache__") continue;
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) out.push(...pyFiles(dir, r));
    else if (e.name.endsWith(".py")) out.push(r);
  }
  return out;
}

const [file, heapArg] = process.argv.slice(2);
if (!file) { console.error("usage: node tests/mpvm/exec.mjs FILE.py [HEAP_BYTES]"); process.exit(2); }
const { loadMicroPython } = await import(pathToFileURL(PKG).href);
const out = (b) => process.stdout.write(Buffer.from(b));
const mp = await loadMicroPython({ stdout: out, stderr: out, linebuffer: false,
                                   heapsize: heapArg ? Number(heapArg) : 4 * 1024 * 1024 });
for (const top of ["lib", "firmware"]) {
  for (const f of pyFiles(path.join(ROOT, top))) {
    const vmPath = "/outpost/" + top + "/" + f;
    mp.FS.mkdirTree(path.posix.dirname(vmPath));
    mp.FS.writeFile(vmPath, fs.readFileSync(path.join(ROOT, top, f)));
  }
}
try {
  mp.runPython("import sys\nsys.path[:0] = ['/outpost/lib', '/outpost/firmware']\n");
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
