// Heap held by each module of the board's deploy tree after import, on the MicroPython VM
// compiled to WebAssembly (tests/mpvm), which is 32-bit like an ESP32 (printed, never asserted).
//   node bench/board_heap.mjs DEPLOY_TREE        (bench/board_heap.py makes the tree and calls this)
// The .mpy files of DEPLOY_TREE/lib are loaded from the VM's filesystem, as on a board. Each
// import is its own call into the VM, and gc.mem_alloc() is read in the next call: the
// WebAssembly port only reclaims memory between calls.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const PKG = path.join(ROOT, "tests", "mpvm", "node_modules", "@micropython",
                      "micropython-webassembly-pyscript", "micropython.mjs");
const tree = process.argv[2];
if (!tree || !fs.existsSync(path.join(tree, "lib"))) {
  console.log("usage: node bench/board_heap.mjs DEPLOY_TREE (made by tools/deploy_tree.py)");
  process.exit(2);
}

function files(dir, rel = "") {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) out.push(...files(dir, r));
    else out.push(r);
  }
  return out.sort();
}

const { loadMicroPython } = await import(pathToFileURL(PKG).href);
let line = "";
const sink = (b) => { for (const c of b) { if (c === 10) { console.log(line); line = ""; } else line += String.fromCharCode(c); } };
async function board() {
  // a fresh VM with the deploy tree on its filesystem: a board after a reset
  const vm = await loadMicroPython({ stdout: sink, stderr: sink, linebuffer: false, heapsize: 512 * 1024 });
  for (const f of files(path.join(tree, "lib"))) {
    vm.FS.mkdirTree(path.posix.dirname("/lib/" + f));
    vm.FS.writeFile("/lib/" + f, fs.readFileSync(path.join(tree, "lib", f)));
  }
  vm.FS.writeFile("/board.mpy", fs.readFileSync(path.join(tree, "board.mpy")));
  vm.runPython("import sys, gc\nsys.path[:0] = ['/', '/lib']");
  return vm;
}
let mp = await board();
const held = () => { mp.runPython("gc.collect()"); mp.runPython("_h = gc.mem_alloc()"); return mp.globals.get("_h"); };

// in the order a wake loads them: the app at boot, then the SMTP step, then the MQTT fallback
// (the send wake, in a fresh VM below, loads the SMTP path and usmtp without the app)
const steps = [
  ["boot", ["machine", "board", "outpost.clock", "outpost_contract.record", "outpost.alerts",
            "outpost.outbox", "outpost.report", "outpost.rules", "outpost.sensors", "outpost.smtp_path",
            "outpost.transport", "outpost.net", "outpost.app", "outpost.mqtt_path"]],
  ["smtp step", ["usmtp.errors", "usmtp.reply", "usmtp.auth", "usmtp.stuffing", "usmtp.netio",
                 "usmtp.core", "usmtp.client", "usmtp", "usmtp.mimeenc", "usmtp.writer",
                 "outpost_contract.mail"]],
  ["mqtt step", ["umqtt.simple"]],
  ["serial step", ["outpost_contract.frame"]],
  // words: when a rule fires; discovery: at connect with mqtt.discovery; testalert: make test-alert
  // wiring: the config against the board, once at boot; cfgerror: only when that check fails
  ["loaded on demand, then unloaded", ["outpost.words", "outpost.discovery", "outpost.testalert", "outpost.wiring"]],
  ["not loaded by a wake", ["outpost.config", "outpost.cfgerror", "umail"]],
];
const v = (mp.runPython("_v = '%d.%d.%d' % sys.implementation.version[:3]"), mp.globals.get("_v"));
console.log(`MicroPython ${v} (WebAssembly, 32-bit): heap held after import, .mpy from the filesystem`);
console.log("module".padEnd(28) + "held".padStart(8) + "  cumulative");
console.log("(machine is the unix port's stand-in, boards/unix/machine.py; built into a board's image)");
const base = held();
const totals = {};
let missing = [];
for (const [step, mods] of steps) {
  const start = held();
  for (const m of mods) {
    const before = held();
    try {
      mp.runPython(`__import__(${JSON.stringify(m)})`);
    } catch (e) {
      missing.push(m);
      continue;
    }
    const after = held();
    console.log(("  " + m).padEnd(28) + String(after - before).padStart(8) + String(after - base).padStart(12));
  }
  totals[step] = held() - start;
  if (mods.every((m) => missing.includes(m))) {
    totals[step] = "?";
    console.log(`${step}: not measurable on this VM (no socket module)`);
  } else {
    console.log(`${step}: ${totals[step]} B`);
  }
}
// the send wake (outpost/sendwake.py): after the reset, without the app
mp = await board();
{
  const base2 = held();
  for (const m of ["board", "outpost.sendwake", "outpost.clock", "outpost.net", "outpost.smtp_path",
                   "usmtp.errors", "usmtp.reply", "usmtp.auth", "usmtp.stuffing", "usmtp.netio",
                   "usmtp.core", "usmtp.client", "usmtp"]) {
    try { mp.runPython(`__import__(${JSON.stringify(m)})`); } catch (e) { missing.push(m); }
  }
  totals["send wake"] = held() - base2;
  console.log(`send wake (board, SMTP path, usmtp client; the message composed before): ${totals["send wake"]} B`);
}
if (missing.length) console.log("not importable here: " + [...new Set(missing)].join(", "));
console.log(`\nsummary (32-bit): boot ${totals["boot"]} B, SMTP step +${totals["smtp step"]} B, ` +
            `MQTT step +${totals["mqtt step"]} B; a send wake ${totals["send wake"]} B before TLS; ` +
            `uMail holds 3.3 KB (issue 7's measurement)`);
