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
const quietOnly = process.argv[3] === "--quiet";   // only the quiet wake, as JSON (tests/firmware/test_quiet_wake_vm.py)
if (!tree || !fs.existsSync(path.join(tree, "lib"))) {
  console.log("usage: node bench/board_heap.mjs DEPLOY_TREE [--quiet] (the tree made by tools/deploy_tree.py)");
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
function vm_fs_file(vm, name, data) { vm.FS.writeFile(name, data); }
const held = () => { mp.runPython("gc.collect()"); mp.runPython("_h = gc.mem_alloc()"); return mp.globals.get("_h"); };

// A quiet wake as a battery board runs it (deep_sleep: true): woken from deep sleep with the
// state its last wake left in RTC memory, nothing due (door closed, outbox empty, no report,
// NTP synced), so outpost/quiet.py samples, applies the rules, folds the sample into the report,
// saves the state and deep-sleeps without the app. A first VM runs the power-on wake (the
// whole app) to its deep sleep, for the RTC memory; a second one wakes from it. Each part is
// its own call into the VM (it reclaims memory only between calls): boot.py, then main.py
// whole, up to machine.deepsleep (which raises here), then, kept alive again as they were at
// the sleep, what only that call's frames held: the config, quiet.py itself, the state it
// saved, the sensors' drivers and their sample. Not counted: the unix port's stand-ins for
// machine, network and ntptime, built into a board's image. Counted: the rest, the interned
// names of every module the wake loaded included (they stay in the heap after a module goes).
const SLEEPS = "import machine\nclass _Slept(BaseException): pass\n" +
  "def _sleep(ms=0):\n    raise _Slept()\nmachine.deepsleep = _sleep\nimport network, ntptime, time";
const RUN_MAIN = "try:\n    exec(open('/main.py').read(), {'__name__': '__main__'})\nexcept _Slept:\n    pass";
async function deepBoard(cfgText, files) {
  mp = await board();
  for (const f of ["boot.py", "main.py"]) vm_fs_file(mp, "/" + f, fs.readFileSync(path.join(tree, f)));
  vm_fs_file(mp, "/config.json", cfgText);
  vm_fs_file(mp, "/pin27", "0");
  for (const k in files) vm_fs_file(mp, "/" + k, files[k]);
  mp.runPython("import os\nos.chdir('/')\n" + SLEEPS);   // (RTC memory and the reset cause: files)
}
async function quietWake() {
  const cfg = JSON.parse(fs.readFileSync(path.join(tree, "config.json")));
  cfg.deep_sleep = true;
  const text = JSON.stringify(cfg);
  await deepBoard(text, {});
  mp.runPython(RUN_MAIN);      // the power-on wake: the app, one step, its state to RTC memory
  const rtc = mp.FS.readFile("/rtc.mem");
  await deepBoard(text, { "rtc.mem": rtc, "reset.cause": "4" });    // machine.DEEPSLEEP_RESET
  const base = held();
  mp.runPython("exec(open('/boot.py').read(), {'__name__': '__main__'})");
  mp.runPython("import outpost.run\n_start = outpost.run.start\n_kept = []\n" +
               "def _keep(root):\n    c = _start(root)\n    _kept.append(c)\n    return c\n" +
               "outpost.run.start = _keep\n" + RUN_MAIN);
  mp.runPython("_m = ' '.join(sorted(k for k in sys.modules if k.startswith('outpost') or k.startswith('usmtp')))");
  const modules = mp.globals.get("_m").split(" ");
  mp.runPython("import json\n_kept.append(json.loads(open('/rtc.mem').read()))");
  mp.runPython("from outpost import quiet, sensors\n_d = sensors.build(_kept[0]['sensors'], machine)");
  mp.runPython("_kept.append((_d, sensors.sample(_d)))");
  return { heap: held() - base, modules: modules.includes("outpost.quiet") ? modules : modules.concat(["outpost.quiet"]).sort() };
}
// the first step after power-on, as a board that does not deep-sleep runs it (its one long
// wake): the app, which grows the name pool at boot for the alerts that wake will have
async function firstStep() {
  mp = await board();
  for (const f of ["boot.py", "main.py", "config.json"]) vm_fs_file(mp, "/" + f, fs.readFileSync(path.join(tree, f)));
  vm_fs_file(mp, "/pin27", "0");
  mp.runPython("import machine, network, ntptime, time");
  const base = held();
  const parts = [
    "exec(open('/boot.py').read(), {'__name__': '__main__'})",
    "import outpost.run\n_main = outpost.run.main\noutpost.run.main = lambda b, m, t: None\n" +
      "exec(open('/main.py').read(), {'__name__': '__main__'})\noutpost.run.main = _main\n_main = None",
    "import board\n_cfg = outpost.run.start(getattr(board, 'FS_ROOT', ''))",
    "from outpost import app\n_a = app.App(_cfg, board, machine, time)\napp = None",
    "_a.boot(None, None)",
    "_a.t0 = _a.mono()\n_delay = _a.step()",
  ];
  for (const p of parts) mp.runPython(p);
  return held() - base;
}
if (quietOnly) {
  const q = await quietWake();
  const first = await firstStep();
  console.log(JSON.stringify({ vm_version: (mp.runPython("_v = '%d.%d.%d' % sys.implementation.version[:3]"), mp.globals.get("_v")),
                               quiet_wake: q.heap, quiet_modules: q.modules, first_step: first }));
  process.exit(0);
}

// in the order a wake loads them: a quiet wake (boot and sample), the alert's words and record,
// the SMTP step (with the app out of the heap: outpost/run.py), the gateway paths
const steps = [
  // a quiet wake from deep sleep (outpost/quiet.py: sample, rules, report, RTC state)
  ["quiet wake", ["machine", "board", "outpost.run", "outpost.clock", "outpost.report", "outpost.sensors",
                  "outpost.rules", "outpost.rtc", "outpost.quiet"]],
  // a wake with work: the app, its outbox and Wi-Fi
  ["the app", ["outpost.outbox", "outpost.net", "outpost.app"]],
  // (the board writes the record without the record codec: outpost/alerts.py)
  ["an alert", ["outpost.words", "outpost.alerts", "outpost.alerting", "outpost.outbox_write"]],
  // the sending half, with something in the outbox (a quiet wake does not load it)
  ["sending", ["outpost.sending", "outpost.crash"]],
  ["smtp step", ["outpost.sendwake", "outpost.smtp_path", "usmtp", "usmtp.errors", "usmtp.checks",
                 "usmtp.core", "usmtp.client", "usmtp.writer", "outpost_contract.mail"]],
  ["mqtt step", ["outpost.transport", "outpost.mqtt_path", "outpost.mqtt_send", "outpost.mqtt_connect", "umqtt.simple"]],
  ["serial step", ["outpost.serial_path", "outpost_contract.frame"]],
  // discovery: at connect with mqtt.discovery; testalert: make test-alert
  // wiring: the config against the board, once at boot; cfgerror: only when that check fails
  // mqtt_keep: the kept MQTT connection (mqtt.host set)
  ["loaded on demand, then unloaded", ["outpost.discovery", "outpost.testalert", "outpost.wiring",
                                        "outpost.mqtt_keep"]],
  ["not loaded by a wake", ["outpost.config", "outpost.cfgerror", "umail"]],
];
const v = (mp.runPython("_v = '%d.%d.%d' % sys.implementation.version[:3]"), mp.globals.get("_v"));
console.log(`MicroPython ${v} (WebAssembly, 32-bit): heap held after import, .mpy from the filesystem`);
console.log("module".padEnd(28) + "held".padStart(8) + "  cumulative");
console.log("(machine is the unix port's stand-in, boards/unix/machine.py; built into a board's image)");
const base = held();
const totals = {};
const perModule = {};
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
    perModule[m] = after - before;
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
let quiet = null;
let quietModules = [];
let first = null;
try {
  const q = await quietWake();
  quiet = q.heap;
  quietModules = q.modules;
  console.log(`quiet wake (from deep sleep, nothing due: boot.py, main.py, outpost/quiet.py to its deep sleep): ${quiet} B`);
  console.log("  its modules: " + quietModules.join(" "));
  first = await firstStep();
  console.log(`first step after power-on (the app's boot and one step, the name pool grown for alerts): ${first} B`);
} catch (e) {
  console.log("quiet wake: failed on this VM: " + e);
}
if (missing.length) console.log("not importable here: " + [...new Set(missing)].join(", "));
const kb = (n) => (typeof n === "number" ? (n / 1024).toFixed(1) + " KB" : n);
console.log(`\nsummary (32-bit): quiet wake ${kb(quiet)} (goal 24 KB); modules of a quiet wake ${kb(totals["quiet wake"])}, ` +
            `the app +${kb(totals["the app"])}, an alert +${kb(totals["an alert"])}, SMTP step ${kb(totals["smtp step"])}, MQTT step ${kb(totals["mqtt step"])}`);
console.log("JSON " + JSON.stringify({ vm_version: v, modules: perModule, steps: totals, quiet_wake: quiet,
                                      quiet_modules: quietModules, first_step: first }));
