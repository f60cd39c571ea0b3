// The MicroPython lane: runs every tests/**/test_*.py whose first line is exactly
// "# lane: micropython" on the real MicroPython VM (WebAssembly port, pinned in package.json).
//
//   node tests/mpvm/run.mjs                      all lane files
//   node tests/mpvm/run.mjs tests/x/test_y.py    only these files
//
// Each file runs in its own worker thread with a fresh VM: the wasm module keeps global state
// per JS realm, and a fresh interpreter means no module cache or heap state leaks from one
// file to the next. lib/, firmware/ and tests/ are copied into the VM under /outpost and put on
// sys.path, then the test file's own folder. Every zero-argument top-level `def test_*()` runs
// in source order; output printed by a test is shown only when it fails.
// Exit status is non-zero when a test fails, a file fails to import or times out, or no test ran.
// Environment: MPVM_JOBS (parallel files, default min(2, cpus)), MPVM_TIMEOUT (seconds per
// file, default 300), MPVM_HEAP (VM heap bytes, default 4 MiB).

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const VM_ROOT = "/outpost";
const MARKER = "# lane: micropython";
const SKIP_DIRS = new Set(["node_modules", "__pycache__"]);

// ---------------------------------------------------------------- worker: one file, one VM

async function runFileInVM({ files, relPath, source, heap, printImpl }) {
  const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");
  let captured = [];
  const sink = (b) => { captured.push(b[0]); };
  const mp = await loadMicroPython({ stdout: sink, stderr: sink, linebuffer: false, heapsize: heap });
  const takeOutput = () => { const s = Buffer.from(captured).toString("utf8"); captured = []; return s; };
  const post = (msg) => parentPort.postMessage(msg);

  for (const f of files) {
    mkdirs(mp.FS, path.posix.dirname(f.vmPath));
    mp.FS.writeFile(f.vmPath, f.data);
  }
  const testDir = path.posix.join(VM_ROOT, path.posix.dirname(relPath));
  const roots = ["lib", "firmware", "tests"].map((d) => path.posix.join(VM_ROOT, d));
  if (!roots.includes(testDir)) roots.push(testDir);
  const modName = path.posix.basename(relPath, ".py");

  mp.runPython(
    "import sys, gc\n" +
    "sys.path[:] = " + pyList(roots) + " + ['.frozen']\n" +
    "_impl = repr(sys.implementation)\n"
  );
  if (printImpl) post({ type: "impl", text: mp.globals.get("_impl") });

  try {
    mp.runPython("_m = __import__(" + pyStr(modName) + ")\n" +
      "_found = '\\n'.join([n for n in dir(_m) if n.startswith('test_') and callable(getattr(_m, n))])\n");
  } catch (e) {
    post({ type: "file-error", error: "import failed:\n" + errText(e), output: takeOutput() });
    return;
  }
  // Source order, as pytest runs them; anything callable named test_* that the scan missed
  // (made by assignment, say) runs after, so no test is silently skipped.
  const declared = [];
  const withArgs = [];
  for (const m of source.matchAll(/^def\s+(test_\w+)\s*\(([^)]*)\)/gm)) {
    if (m[2].trim() === "") declared.push(m[1]); else withArgs.push(m[1]);
  }
  const found = (mp.globals.get("_found") || "").split("\n").filter((n) => n);
  const order = declared.filter((n) => found.includes(n))
    .concat(found.filter((n) => !declared.includes(n) && !withArgs.includes(n)).sort());
  for (const name of withArgs) {
    post({ type: "result", name, ok: false, ms: 0, output: "",
      error: "lane files take zero-argument tests only (no fixtures or parametrize)" });
  }
  takeOutput();
  for (const name of order) {
    post({ type: "start", name });
    const t0 = performance.now();
    let error = null;
    try {
      mp.runPython("_m." + name + "()\n");
    } catch (e) {
      error = errText(e);
    }
    const ms = performance.now() - t0;
    const output = takeOutput();
    post({ type: "result", name, ok: error === null, ms, output, error });
    try { mp.runPython("gc.collect()\n"); } catch (e) { /* a dead VM fails the next test anyway */ }
  }
}

function mkdirs(FS, dir) {
  let cur = "";
  for (const part of dir.split("/").filter((p) => p)) {
    cur += "/" + part;
    try { FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

function pyStr(s) { return JSON.stringify(s); }
function pyList(a) { return "[" + a.map(pyStr).join(", ") + "]"; }
function errText(e) { return e && e.name === "PythonError" ? e.message : String(e && e.stack || e); }

// ---------------------------------------------------------------- main: find, schedule, report

function walk(dir, out) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch (e) { return out; }
  for (const ent of entries) {
    if (ent.name.startsWith(".") || SKIP_DIRS.has(ent.name)) continue;
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) walk(p, out);
    else if (ent.isFile()) out.push(p);
  }
  return out;
}

function isLaneFile(p) {
  const first = fs.readFileSync(p, "utf8").split("\n", 1)[0].replace(/\r$/, "");
  return first === MARKER;
}

// Adds the source line to each "File ..., line N" of a MicroPython traceback, which prints none.
function annotate(text) {
  return text.split("\n").filter((line) => !/^\s*File "<stdin>"/.test(line)).map((line) => {
    const m = line.match(/^\s*File "([^"]+)", line (\d+)/);
    if (!m || !m[1].startsWith(VM_ROOT + "/")) return line;
    const host = path.join(ROOT, m[1].slice(VM_ROOT.length + 1));
    try {
      const src = fs.readFileSync(host, "utf8").split("\n")[Number(m[2]) - 1];
      return src === undefined ? line : line + "\n    " + src.trim();
    } catch (e) { return line; }
  }).join("\n");
}

function indent(text) {
  return text.replace(/\s+$/, "").split("\n").map((l) => "    " + l).join("\n");
}

function runWorker(job, timeoutMs) {
  return new Promise((resolve) => {
    const lines = [];
    let passed = 0, failed = 0, current = null, finished = false;
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: job });
    const finish = (extra) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (extra) { failed += 1; lines.push(extra); }
      resolve({ lines, passed, failed });
    };
    const timer = setTimeout(() => {
      w.terminate();
      finish("FAIL " + job.relPath + (current ? "::" + current : "") +
        "\n    timed out after " + timeoutMs / 1000 + " s (MPVM_TIMEOUT)");
    }, timeoutMs);
    w.on("message", (msg) => {
      if (msg.type === "impl") console.log("MicroPython VM: " + msg.text);
      else if (msg.type === "start") current = msg.name;
      else if (msg.type === "result") {
        current = null;
        const id = job.relPath + "::" + msg.name;
        if (msg.ok) { passed += 1; lines.push("PASS " + id + " (" + msg.ms.toFixed(0) + " ms)"); }
        else {
          failed += 1;
          let text = "FAIL " + id + "\n" + indent(annotate(msg.error));
          if (msg.output.trim()) text += "\n    --- output ---\n" + indent(msg.output);
          lines.push(text);
        }
      } else if (msg.type === "file-error") {
        let text = "FAIL " + job.relPath + "\n" + indent(annotate(msg.error));
        if (msg.output.trim()) text += "\n    --- output ---\n" + indent(msg.output);
        finish(text);
      }
    });
    w.on("error", (e) => finish("FAIL " + job.relPath + (current ? "::" + current : "") +
      "\n" + indent(String(e && e.stack || e))));
    w.on("exit", (code) => {
      if (current) finish("FAIL " + job.relPath + "::" + current + "\n    VM worker exited (" + code + ")");
      else finish(null);
    });
  });
}

async function main(argv) {
  const t0 = performance.now();
  let targets;
  if (argv.length) {
    targets = argv.map((a) => path.resolve(a));
    for (const t of targets) {
      if (!fs.existsSync(t)) { console.error("mpvm: no such file: " + t); return 2; }
      if (!t.startsWith(path.join(ROOT, "tests") + path.sep)) {
        console.error("mpvm: not under tests/: " + t); return 2;
      }
      if (!isLaneFile(t)) {
        console.error("mpvm: " + path.relative(ROOT, t) + " does not start with '" + MARKER + "'");
        return 2;
      }
    }
  } else {
    targets = walk(path.join(ROOT, "tests"), [])
      .filter((p) => /^test_.*\.py$/.test(path.basename(p)) && isLaneFile(p)).sort();
  }

  // every file of lib/, firmware/ and tests/ (the npm package and caches excepted)
  const files = [];
  for (const top of ["lib", "firmware", "tests"]) {
    for (const p of walk(path.join(ROOT, top), [])) {
      const rel = path.relative(ROOT, p).split(path.sep).join("/");
      files.push({ vmPath: VM_ROOT + "/" + rel, data: fs.readFileSync(p) });
    }
  }

  const heap = Number(process.env.MPVM_HEAP || 4 * 1024 * 1024);
  const timeoutMs = Number(process.env.MPVM_TIMEOUT || 300) * 1000;
  const jobs = Math.max(1, Number(process.env.MPVM_JOBS ||
    Math.min(2, os.availableParallelism ? os.availableParallelism() : os.cpus().length)));

  let passed = 0, failed = 0, next = 0, printImpl = true;
  const results = new Array(targets.length);
  let printed = 0;
  const flush = () => {
    // print per file in a stable order even when files run in parallel
    while (printed < targets.length && results[printed]) {
      for (const l of results[printed].lines) console.log(l);
      printed += 1;
    }
  };
  async function lane() {
    while (next < targets.length) {
      const i = next++;
      const relPath = path.relative(ROOT, targets[i]).split(path.sep).join("/");
      const job = { files, relPath, source: fs.readFileSync(targets[i], "utf8"), heap, printImpl };
      printImpl = false;
      const r = await runWorker(job, timeoutMs);
      if (r.passed + r.failed === 0) r.lines.push("NOTE " + relPath + ": no test_* functions");
      passed += r.passed; failed += r.failed;
      results[i] = r;
      flush();
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, targets.length)) }, lane));
  flush();

  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log("mpvm: " + targets.length + " files in " + secs + " s");
  console.log("mpvm: " + passed + " passed, " + failed + " failed");
  if (passed + failed === 0) { console.log("mpvm: no test ran"); return 1; }
  return failed ? 1 : 0;
}

if (isMainThread) {
  process.exitCode = await main(process.argv.slice(2));
} else {
  try {
    await runFileInVM(workerData);
  } catch (e) {
    parentPort.postMessage({ type: "file-error", error: errText(e), output: "" });
  }
}
