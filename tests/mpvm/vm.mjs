// The one loader of the MicroPython VM (the WebAssembly port pinned in package.json) for the
// scripts that drive it directly: tests/mpvm/exec.mjs and the benches (bench/mp_heap.mjs,
// bench/mpy_costs.mjs).
//
//   import { loadVM, writeFile } from "../tests/mpvm/vm.mjs";
//   const mp = await loadVM({ heap: 192 * 1024, stdout: sink, trees: ["lib"] });
//
// Copies every .py of each named tree of the repository (lib/, firmware/) into the VM under
// <under>/<tree> (/outpost/lib, ...) and puts those folders first on sys.path. stdout and stderr
// get byte chunks.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..", "..");
export const PKG = path.join(HERE, "node_modules", "@micropython", "micropython-webassembly-pyscript",
                             "micropython.mjs");

// the .py files under dir (paths relative to it, sorted), __pycache__ left out
export function pyFiles(dir, rel = "") {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    if (e.name === "__pycache__") continue;
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) out.push(...pyFiles(dir, r));
    else if (e.name.endsWith(".py")) out.push(r);
  }
  return out.sort();
}

export function writeFile(mp, vmPath, data) {
  mp.FS.mkdirTree(path.posix.dirname(vmPath));
  mp.FS.writeFile(vmPath, data);
}

export async function loadVM({ heap = 4 * 1024 * 1024, stdout, stderr = stdout, trees = ["lib", "firmware"],
                               under = "/outpost" } = {}) {
  if (!fs.existsSync(PKG)) {
    throw new Error("the MicroPython VM is not installed: run `npm ci` in tests/mpvm (make setup does)");
  }
  const { loadMicroPython } = await import(pathToFileURL(PKG).href);
  const mp = await loadMicroPython({ stdout, stderr, linebuffer: false, heapsize: heap });
  for (const top of trees) {
    for (const f of pyFiles(path.join(ROOT, top))) {
      writeFile(mp, under + "/" + top + "/" + f, fs.readFileSync(path.join(ROOT, top, f)));
    }
  }
  // a JSON list of strings is a Python list literal; with no tree the VM's heap is left as
  // it booted (the benches measure from there)
  if (trees.length) {
    mp.runPython("import sys\nsys.path[:0] = " + JSON.stringify(trees.map((t) => under + "/" + t)) + "\n");
  }
  return mp;
}
