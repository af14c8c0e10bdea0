// End-to-end: the real Bucketsync window, driven through tauri-driver and
// WebKitWebDriver under Xvfb (e2e/run.sh starts both, inside a D-Bus
// session with an unlocked keyring), against a local Garage this test
// starts. One app launch for the whole journey of a new user:
//
//   a daemon holds the home -> the window says so and offers Retry ->
//   setup wizard (B2's rules shown as typed; then Garage with a wrong
//   secret, the fix shown, the right secret, a passing test) -> add a pair
//   (the folder typed into the path field beside "Choose…": the native
//   dialog cannot be driven by WebDriver) -> first-pass preview -> start ->
//   a new file goes through transferring to idle and lands in the bucket ->
//   pause / resume -> a mass delete shown and kept -> the key revoked on the
//   server: "Enter new keys", fixed in the window, the pair resumes ->
//   activity, settings, storage -> the tray menu over D-Bus (Pause all,
//   Resume all) -> the bucket browser: new folder, upload, rename, a link
//   fetched over plain HTTP, details with text and image previews, a
//   download to a chosen folder, a cancelled upload, delete with the count,
//   an upload into the synced prefix that lands in the local folder, a key
//   that cannot be a file renamed to its safe name, rows by keyboard, 1,500
//   and then 100,000 objects in one prefix scrolled -> the window closed to
//   the tray, a second launch that only brings it back, Quit in the tray.
//
// The app reaches Garage through a bandwidth-limiting proxy (the test
// server's --proxy) so a transfer can be held in flight to be seen and
// cancelled; 100,000 objects are put straight into Garage by s5cmd in the
// background from the start, so the fill overlaps the journey.
// Native notifications are watched on the session bus (dbus-monitor): no
// notification daemon runs here, but every Notify call the app makes is seen.
//
// Screenshots of every screen land in e2e/screenshots/.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { Key, Session } from "./webdriver.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (e2e/run.sh sets it)`);
  return v;
};
const app = env("BUCKETSYNC_APP");
const cliBin = env("BUCKETSYNC_CLI");
const testserverBin = env("BUCKETSYNC_TESTSERVER");
const tools = env("BUCKETSYNC_TOOLS");
const garageBin = join(tools, "bin/garage");
const home = env("BUCKETSYNC_HOME");
const work = env("E2E_WORK");
const driver = process.env.TAURI_DRIVER_URL ?? "http://127.0.0.1:4444";
const shots = join(here, "screenshots");

let session;
async function snap(name) {
  mkdirSync(shots, { recursive: true });
  writeFileSync(join(shots, `${name}.png`), Buffer.from(await session.screenshot(), "base64"));
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function run(bin, args, extraEnv = {}) {
  const r = spawnSync(bin, args, { encoding: "utf8", env: { ...process.env, ...extraEnv } });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** The s5cmd binary itself (the venv's launcher adds a Python start per call). */
function s5cmdBinary() {
  const lib = join(tools, "venv/lib");
  for (const python of existsSync(lib) ? readdirSync(lib) : []) {
    const bin = join(lib, python, "site-packages/s5cmd/bin/s5cmd");
    if (existsSync(bin)) return bin;
  }
  return join(tools, "venv/bin/s5cmd");
}

/** Objects in the prefix the browser scrolls through at full size. */
const HUGE = 100000;
const hugeKey = (i) => `huge/f${String(i).padStart(6, "0")}.txt`;

/**
 * Puts HUGE one-byte objects under huge/ straight into Garage with s5cmd
 * (many PUTs in flight: the server is the limit). Resolves when it is done,
 * with its exit code and how long it took.
 */
function fillHuge(info) {
  const one = join(work, "one-byte.txt");
  writeFileSync(one, "x");
  const lines = [];
  for (let i = 0; i < HUGE; i++) lines.push(`cp ${one} s3://${info.bucket}/${hugeKey(i)}`);
  const commands = join(work, "fill-commands.txt");
  writeFileSync(commands, `${lines.join("\n")}\n`);
  const fillEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: info.access_key_id,
    AWS_SECRET_ACCESS_KEY: info.secret_access_key,
    AWS_REGION: info.region,
  };
  delete fillEnv.AWS_CA_BUNDLE;
  delete fillEnv.AWS_PROFILE;
  const started = Date.now();
  const child = spawn(
    s5cmdBinary(),
    ["--endpoint-url", info.endpoint, "--numworkers", "64", "--log", "error", "run", commands],
    { stdio: ["ignore", "ignore", "pipe"], env: fillEnv },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const done = new Promise((resolve) =>
    child.on("exit", (code) => resolve({ code, ms: Date.now() - started, stderr })),
  );
  return { child, done };
}

/** A small PNG (two colour bands), for the image preview. */
function png(width, height) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(8 + body.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 4 + body.length);
    return out;
  };
  const head = Buffer.alloc(13);
  head.writeUInt32BE(width, 0);
  head.writeUInt32BE(height, 4);
  head[8] = 8; // bits per channel
  head[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set(y < height / 2 ? [40, 120, 220] : [250, 180, 40], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", head),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The X window titled Bucketsync: its id and whether it is on screen. */
function appWindow() {
  const r = run("xwininfo", ["-name", "Bucketsync"]);
  if (r.code !== 0) return null;
  const id = r.stdout.match(/Window id: (0x[0-9a-f]+)/)?.[1];
  const state = r.stdout.match(/Map State: (\w+)/)?.[1];
  return id ? { id, viewable: state === "IsViewable" } : null;
}

/** Pids of processes running the app binary (the window's, and any second launch). */
function appPids() {
  const r = run("ps", ["-eo", "pid=,args="]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().match(/^(\d+) (\S+)/))
    .filter((m) => m && m[2] === app)
    .map((m) => Number(m[1]));
}

/**
 * The tray menu as a desktop panel sees it: libayatana-appindicator exports
 * the app's menu on the session bus (com.canonical.dbusmenu) at a path it
 * names after the tray's id. Returns its items and a way to click one, or
 * null while the app has not exported it.
 */
function trayMenu(pid) {
  const gdbus = (...args) => run("gdbus", ["call", "--session", ...args]);
  const bus = (method, ...args) =>
    gdbus("--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus", "--method", `org.freedesktop.DBus.${method}`, ...args);
  const path = "/org/ayatana/NotificationItem/tray_icon_tray_app_main/Menu";
  const names = [...bus("ListNames").stdout.matchAll(/'(:[0-9.]+)'/g)].map((m) => m[1]);
  for (const name of names) {
    if (!bus("GetConnectionUnixProcessID", name).stdout.includes(`(uint32 ${pid},)`)) continue;
    const layout = () => {
      const r = gdbus("--dest", name, "--object-path", path, "--method", "com.canonical.dbusmenu.GetLayout", "0", "int32 -1", "[]");
      if (r.code !== 0) return null;
      return [...r.stdout.matchAll(/<\((\d+), \{([^}]*)\}/g)].map((m) => ({
        id: Number(m[1]),
        label: m[2].match(/'label': <'([^']*)'>/)?.[1] ?? null,
        enabled: !m[2].includes("'enabled': <false>"),
      }));
    };
    if (layout() === null) continue;
    return {
      items: () => layout() ?? [],
      click(label) {
        const item = (layout() ?? []).find((i) => i.label === label);
        assert.ok(item, `a tray item "${label}" in ${JSON.stringify(layout())}`);
        const r = gdbus("--dest", name, "--object-path", path, "--method", "com.canonical.dbusmenu.Event",
          String(item.id), "clicked", "<int32 0>", "0");
        assert.equal(r.code, 0, r.stderr);
      },
    };
  }
  return null;
}

// Garage's own key format: "GK" + 24 hex digits, a 64-hex-digit secret.
function newKey() {
  return { id: `GK${randomBytes(12).toString("hex")}`, secret: randomBytes(32).toString("hex") };
}

const $ = (css) => session.waitFor(css);
const click = async (css) => session.click(await $(css));
async function typeInto(css, text, clear = true) {
  const el = await $(css);
  if (clear) await session.clear(el);
  await session.type(el, text);
}
const textOf = async (css) => session.text(await $(css));
const stateOf = (pair) =>
  session.execute(`return document.querySelector('[data-pair="${pair}"]')?.dataset.state ?? null;`);
async function untilState(pair, want, timeoutMs = 60000) {
  await session.until(`pair ${pair} ${want}`, async () => (await stateOf(pair)) === want, timeoutMs);
}

test("a new user connects a bucket, syncs a folder, and recovers from the usual trouble", async (t) => {
  // The local bucket and the keys the "user" gets from its console.
  const gdir = join(work, "garage");
  const port = await freePort();
  const server = spawn(testserverBin, ["garage", gdir, String(port), "e2e-photos", "--proxy"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  t.after(() => server.kill());
  /** Limits the proxy between the app and Garage to `bytesPerSec` each way (null: no limit). */
  const limitRate = (bytesPerSec) => server.stdin.write(`rate ${bytesPerSec ?? "off"}\n`);
  const info = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve(JSON.parse(line));
    });
    server.on("exit", (c) => reject(new Error(`the test Garage exited (${c})`)));
  });
  // The 100,000 objects for the scroll at the end, filled while the rest runs.
  const fill = fillHuge(info);
  t.after(() => fill.child.kill());

  // Native notifications as the session bus carries them.
  const monitor = spawn(
    "dbus-monitor",
    ["--session", "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  t.after(() => monitor.kill());
  let notified = "";
  monitor.stdout.on("data", (d) => (notified += d));
  const needsYou = () => notified.split('string "photos needs you"').length - 1;
  const garage = (...args) => {
    const r = run(garageBin, ["-c", join(gdir, "garage.toml"), ...args], { RUST_LOG: "error" });
    assert.equal(r.code, 0, `garage ${args.join(" ")}: ${r.stderr}`);
  };
  const grant = (name, key) => {
    garage("key", "import", "--yes", "-n", name, key.id, key.secret);
    garage("bucket", "allow", "--read", "--write", info.bucket, "--key", name);
  };
  const userKey = newKey();
  grant("e2e-user", userKey);

  // An observer with the server's main key, to see what lands in the bucket.
  const observer = join(work, "observer");
  const obsEnv = { OBS_SECRET: info.secret_access_key };
  const added = run(
    cliBin,
    ["--home", observer, "policy", "add", "obs", "--provider", "garage", "--endpoint", info.endpoint,
      "--region", info.region, "--bucket", info.bucket, "--access-key-id", info.access_key_id,
      "--secret-source", "env:OBS_SECRET"],
    obsEnv,
  );
  assert.equal(added.code, 0, added.stderr);
  const bucketKeys = () => {
    const r = run(cliBin, ["--home", observer, "ls", "obs:photos/", "--recursive", "--json"], obsEnv);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).filter((o) => !o.folder).map((o) => o.key);
  };
  const inBucket = (key) => session.until(`${key} in the bucket`, () => bucketKeys().includes(key));

  // The folder to sync, with two files already in it.
  const folder = join(work, "photos");
  mkdirSync(join(folder, "trip"), { recursive: true });
  writeFileSync(join(folder, "a.txt"), "alpha");
  writeFileSync(join(folder, "trip", "b.txt"), "bravo!");

  // A daemon runs this home when the app starts.
  const daemon = spawn(cliBin, ["--home", home, "daemon"], { stdio: "ignore" });
  t.after(() => daemon.kill());
  await new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = () => {
      const lock = join(home, "engine.lock");
      if (existsSync(lock) && readFileSync(lock, "utf8").includes(`"pid":${daemon.pid}`)) return resolve();
      if (Date.now() - start > 30000) return reject(new Error("the daemon did not take the home's lock"));
      setTimeout(poll, 100);
    };
    poll();
  });

  session = await Session.create(driver, {
    alwaysMatch: { browserName: "wry", "tauri:options": { application: app } },
  });
  // Quit in the tray ends the app at the end, and with it the session:
  // no DELETE is sent to a session whose app is gone.
  let quit = false;
  t.after(() => (quit ? undefined : session.close().catch(() => {})));
  // The smallest size the app promises to be usable at.
  await session.setWindowRect({ width: 1024, height: 700 }).catch(() => {});

  // --- The engine is held by the daemon: said plainly, with Retry.
  const refused = await textOf("[data-testid=engine-refused]");
  assert.match(refused, new RegExp(`Bucketsync is already syncing this home \\(the bucketsync daemon, pid ${daemon.pid}\\)`));
  await snap("00-engine-held-by-daemon");
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.once("exit", r));
  await click("[data-testid=engine-retry]");
  await session.until("the banner to go", async () => (await session.findAll("[data-testid=engine-refused]")).length === 0);

  // --- Wizard, provider step: every preset from Rust, in its own words.
  assert.equal(await textOf("#wizard-title"), "Connect a bucket");
  assert.equal((await session.findAll("[data-provider]")).length, 11);
  await click('[data-provider="b2"]');
  assert.match(await textOf("aside"), /keyID/);
  await snap("01-wizard-provider-b2");

  // B2's rules as the seed describes them, applied by Rust as typed.
  await click("[data-testid=next]");
  await typeInto("#f-endpoint", "s3.us-west-004.backblazeb2.com/my-bucket");
  await typeInto("#f-bucket", "my-bucket");
  await session.until("the normalised endpoint", async () =>
    (await textOf("[data-testid=normalised-endpoint]")).includes("https://s3.us-west-004.backblazeb2.com"),
  );
  assert.equal(await session.execute("return document.querySelector('#f-region').value;"), "us-west-004");
  assert.match(await textOf("[data-testid=notes]"), /removed/);
  await snap("02-wizard-b2-rules");

  // Now the real bucket: Garage.
  await click("[data-testid=back]");
  await click('[data-provider="garage"]');
  await click("[data-testid=next]");
  await typeInto("#f-endpoint", info.proxy_endpoint);
  await typeInto("#f-bucket", info.bucket);
  await typeInto("#f-name", "local-garage");
  await session.until("the connection fields to pass", async () =>
    (await session.execute("return !document.querySelector('[data-testid=next]').disabled;")),
  );
  await click("[data-testid=next]");
  await typeInto("#f-key", userKey.id);
  await typeInto("#f-secret", "0".repeat(64));
  await snap("03-wizard-access");

  // A wrong secret: the test fails and says how to fix it.
  await click("[data-testid=next]");
  const failed = await textOf("[data-testid=test-failed]");
  assert.match(failed, /failed/);
  assert.match(failed, /secret|key/i);
  assert.equal(await session.execute("return document.querySelector('[data-testid=save]').disabled;"), true, "no save before a pass");
  await snap("04-wizard-test-failed");
  await click("[data-testid=go-fix]");
  assert.equal(await session.execute("return document.querySelector('#f-secret').value;"), "", "the secret is not kept in the page");
  await typeInto("#f-secret", userKey.secret);
  await click("[data-testid=next]");
  await $("[data-testid=test-passed]");
  await snap("05-wizard-test-passed");
  await click("[data-testid=save]");
  await $("#f-origins");
  await snap("06-wizard-cors");
  await click("[data-testid=next]");
  assert.match(await textOf("[data-testid=done]"), /local-garage is ready/);
  await snap("07-wizard-done");
  await click("[data-testid=add-folder]");

  // --- Add a pair; see the first pass before it runs.
  await typeInto("#pair-dir", folder);
  await typeInto("#pair-prefix", "photos");
  await click("[data-testid=preview-pair]");
  const summary = await textOf("[data-testid=preview-summary]");
  assert.match(summary, /2 files up/);
  assert.deepEqual(bucketKeys(), [], "the preview changed nothing");
  await snap("08-first-pass-preview");
  await click("[data-testid=start-sync]");
  await untilState("photos", "idle");
  await inBucket("photos/a.txt");
  await inBucket("photos/trip/b.txt");
  await snap("09-pairs-idle");

  // --- A new file: transferring, then idle, and the object in the bucket.
  await session.execute(`
    window.__states = [];
    const card = document.querySelector('[data-pair="photos"]');
    new MutationObserver(() => window.__states.push(card.dataset.state)).observe(card, { attributes: true, attributeFilter: ["data-state"] });
  `);
  // The link held to 4 MB/s while the card is looked at, so the picture is
  // taken mid-transfer with its progress, rate and time left (progress
  // moves inside each part: all 8 parts of 5 MiB are in flight at once).
  limitRate(4_000_000);
  writeFileSync(join(folder, "big.bin"), randomBytes(40 * 1024 * 1024));
  await session.until("the card transferring with bytes moved", async () =>
    session.execute(`const c = document.querySelector('[data-pair="photos"]');
      return c.dataset.state === "transferring" && Number(c.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow') ?? 0) > 0;`),
  );
  await snap("10-transferring");
  assert.equal(await stateOf("photos"), "transferring", "the screenshot shows the transfer");
  assert.match(await textOf('[data-pair="photos"] [data-testid=status]'), /of .*\/s/, "files and bytes done, with a rate");
  limitRate(null);
  await inBucket("photos/big.bin");
  await untilState("photos", "idle");
  const seen = await session.execute("return window.__states;");
  assert.ok(seen.indexOf("transferring") < seen.lastIndexOf("idle"), `states: ${seen}`);

  // --- Pause and resume.
  await click('[data-pair="photos"] [data-testid=pause]');
  await untilState("photos", "paused");
  await snap("11-paused");
  writeFileSync(join(folder, "c.txt"), "charlie");
  await click('[data-pair="photos"] [data-testid=resume]');
  await inBucket("photos/c.txt");
  await untilState("photos", "idle");

  // --- A mass delete is shown, and kept. Deleted while paused, so the pass
  // after Resume sees all three gone at once (a pass starting between two
  // deletes saw a share under the limit and let them through).
  await click('[data-pair="photos"] [data-testid=pause]');
  await untilState("photos", "paused");
  for (const f of ["a.txt", "big.bin", "c.txt"]) rmSync(join(folder, f));
  await click('[data-pair="photos"] [data-testid=resume]');
  await untilState("photos", "needs-confirmation");
  const list = await textOf('[data-pair="photos"] [data-testid=confirm-deletes]');
  for (const f of ["a.txt", "big.bin", "c.txt"]) assert.ok(list.includes(f), `${f} listed: ${list}`);
  await snap("12-mass-delete-confirmation");
  await click('[data-pair="photos"] [data-testid=keep]');
  await session.until("the kept files back", () => existsSync(join(folder, "a.txt")) && existsSync(join(folder, "c.txt")));
  await untilState("photos", "idle");
  assert.ok(bucketKeys().includes("photos/big.bin"), "nothing was deleted from the bucket");
  // The question also went out as a native notification.
  await session.until("the mass-delete notification", () => needsYou() >= 1 && notified.includes("3 file(s) would be deleted"));

  // --- The key is revoked at the provider: "Enter new keys", fixed here.
  garage("key", "delete", "--yes", "e2e-user");
  await click('[data-pair="photos"] [data-testid=sync-now]');
  await untilState("photos", "error");
  // Failed twice on a loaded machine with a nearly full disk, without the fix
  // button: say which error the card showed instead.
  const card = await textOf('[data-pair="photos"]');
  assert.ok(card.includes("Enter new keys"), `the card offers "Enter new keys": ${card}`);
  assert.equal(await textOf('[data-pair="photos"] [data-testid=fix]'), "Enter new keys");
  await snap("13-keys-rejected");
  // A second "needs you" notification: the error that needs the user.
  await session.until("a notification for the rejected keys", () => needsYou() >= 2);
  const renewed = newKey();
  grant("e2e-renewed", renewed);
  await click('[data-pair="photos"] [data-testid=fix]');
  // The wizard opens, then loads the policy it edits: wait for its title.
  await session.until("the wizard on local-garage", async () => (await textOf("#wizard-title")) === "Change local-garage");
  await typeInto("#f-key", renewed.id);
  await typeInto("#f-secret", renewed.secret);
  await snap("14-enter-new-keys");
  await click("[data-testid=next]");
  await $("[data-testid=test-passed]");
  await click("[data-testid=save]");
  assert.match(await textOf("[data-testid=done]"), /resume/);
  await click("[data-testid=add-folder]");
  await untilState("photos", "idle");
  writeFileSync(join(folder, "after-new-keys.txt"), "delta");
  await inBucket("photos/after-new-keys.txt");

  // --- The other screens.
  await click("[data-nav=activity]");
  await session.until("activity rows", async () => (await textOf("[data-testid=activity]")).includes("after-new-keys.txt"));
  await snap("15-activity");
  await click("[data-nav=settings]");
  await $("[data-testid=save-settings]");
  // A rate the app cannot read is refused at its field, with how to write one;
  // a good one is kept; clearing it lifts the limit before the transfers below.
  await typeInto("#s-up", "fast");
  await click("[data-testid=save-settings]");
  assert.match(await textOf("[data-testid=error-limit-up]"), /not a rate.*10M or 500K/);
  await snap("16-settings-bad-rate");
  await typeInto("#s-up", "50M");
  await click("[data-testid=save-settings]");
  await session.until("settings saved", async () => (await session.findAll("[data-testid=error-limit-up]")).length === 0 && (await textOf("form.panel")).includes("Saved."));
  await snap("16-settings");
  await click("[data-nav=storage]");
  await click("[data-nav=settings]");
  await session.until("the limit kept", async () => (await session.execute("return document.querySelector('#s-up')?.value", [])) === "50M");
  await snap("16-settings-kept");
  await typeInto("#s-up", "off");
  await click("[data-testid=save-settings]");
  // Saved as no limit: the field comes back empty.
  await session.until("the limit lifted", async () => (await session.execute("return document.querySelector('#s-up')?.value", [])) === "");
  await click("[data-nav=storage]");
  await $('[data-policy="local-garage"]');
  await snap("17-storage");
  await click("[data-nav=pairs]");
  await untilState("photos", "idle");
  await snap("18-pairs");

  // --- The tray menu, clicked as a desktop panel would (over D-Bus): its
  // status line follows the engine; Pause all and Resume all reach the pair.
  const [appPid] = appPids();
  const tray = await session.until("the tray menu on the session bus", () => trayMenu(appPid));
  const status = () => tray.items().find((i) => i.enabled === false && i.label?.startsWith("Bucketsync:"))?.label;
  assert.deepEqual(
    tray.items().map((i) => i.label).filter(Boolean).slice(1),
    ["Open Bucketsync", "Pause all", "Resume all", "Quit Bucketsync"],
  );
  await session.until("the tray saying up to date", () => status() === "Bucketsync: up to date");
  tray.click("Pause all");
  await untilState("photos", "paused");
  await session.until("the tray saying paused", () => /paused/i.test(status() ?? ""));
  tray.click("Resume all");
  await untilState("photos", "idle");
  await session.until("the tray saying up to date again", () => status() === "Bucketsync: up to date");

  // --- The bucket browser on the same Garage policy.
  const row = (key) => `[data-key="${key}"]`;
  const gone = (css) => session.until(`${css} gone`, async () => (await session.findAll(css)).length === 0);
  // Native dialogs cannot be driven: the test writes local paths into the
  // input the screen exposes for automation (data-testid=upload-paths); they
  // take the same path as a dialog's or a drop's (commands.browseUpload).
  const uploadPaths = (...paths) =>
    session.execute(
      `const i = document.querySelector('[data-testid=upload-paths]');
       i.value = arguments[0]; i.dispatchEvent(new Event('change', { bubbles: true }));`,
      [paths.join("\n")],
    );
  await click("[data-nav=browse]");
  await $(row("photos/"));
  await snap("19-browse-top");
  // A new folder outside the synced prefix, then into it.
  await click("[data-action=new-folder]");
  await typeInto("[data-testid=folder-input]", "shared");
  await click("[data-confirm=folder]");
  await click(`${row("shared/")} .open`);
  await $('[data-crumb="shared/"][aria-current=location]');
  await $("[data-testid=browse-list] .empty-list");
  await snap("20-browse-empty-folder");

  // Upload; the object is listed and the transfers panel shows it done.
  const up = join(work, "up");
  mkdirSync(up, { recursive: true });
  writeFileSync(join(up, "hello.txt"), "hello from the browser");
  await uploadPaths(join(up, "hello.txt"));
  await $(row("shared/hello.txt"));
  await $("[data-testid=transfers] [data-state=done]");
  const doneLine = await session.execute("return document.querySelector('[data-testid=transfers] [data-state=done]').textContent;");
  assert.match(doneLine, /hello\.txt to shared\/\s*1 done/);
  await snap("21-browse-uploaded");

  // Rename.
  await click(row("shared/hello.txt"));
  await click("[data-action=rename]");
  await typeInto("[data-testid=rename-input]", "renamed.txt");
  await snap("22-browse-rename");
  await click("[data-confirm=rename]");
  await $(row("shared/renamed.txt"));
  await gone(row("shared/hello.txt"));

  // A link (presigned: the bucket is private), fetched with plain HTTP.
  await click(row("shared/renamed.txt"));
  await click("[data-action=link]");
  await click("[data-confirm=link]");
  await $("[data-testid=link-url]");
  const url = await session.execute("return document.querySelector('[data-testid=link-url]').value;");
  await snap("23-browse-link");
  const got = await fetch(url);
  assert.equal(got.status, 200, `GET the link: ${got.status}`);
  assert.equal(await got.text(), "hello from the browser");
  await click("[data-dialog=link] button:not(.primary)");

  // Details with a text preview fetched by Rust.
  await click(row("shared/renamed.txt"));
  await click("[data-action=details]");
  await session.until("the preview", async () => (await textOf("[data-testid=preview]")).includes("hello from the browser"));
  await snap("24-browse-details");
  await click("[data-dialog=details] button");

  // Download to a chosen folder (the folder dialog cannot be driven: the
  // test writes the folder into the screen's automation input, as the
  // dialog would answer); the bytes land on disk.
  const down = join(work, "down");
  mkdirSync(down);
  const downloadTo = (dir) =>
    session.execute(
      `const i = document.querySelector('[data-testid=download-dest]');
       i.value = arguments[0]; i.dispatchEvent(new Event('change', { bubbles: true }));`,
      [dir],
    );
  const transferLine = (label) =>
    session.execute(
      `return [...document.querySelectorAll('[data-testid=transfers] [data-transfer]')]
         .find((li) => li.querySelector('.label').textContent.startsWith(arguments[0]))?.dataset.state ?? null;`,
      [label],
    );
  await click(row("shared/renamed.txt"));
  await downloadTo(down);
  await session.until("the download done", async () => (await transferLine(`renamed.txt to ${down}`)) === "done");
  assert.equal(readFileSync(join(down, "renamed.txt"), "utf8"), "hello from the browser");
  assert.deepEqual(readdirSync(down), ["renamed.txt"], "no temp file left beside it");
  await snap("24b-browse-downloaded");

  // An image's preview: its bytes fetched by Rust, shown from a data: URL.
  writeFileSync(join(up, "bands.png"), png(96, 64));
  await uploadPaths(join(up, "bands.png"));
  await click(row("shared/bands.png"));
  await click("[data-action=details]");
  await session.until("the image decoded", async () =>
    session.execute(`const i = document.querySelector('[data-testid=preview] img');
      return i !== null && i.complete && i.naturalWidth === 96 && i.naturalHeight === 64;`),
  );
  await snap("24c-browse-image-preview");
  await click("[data-dialog=details] button");

  // A running upload cancelled from the transfers panel: the link held to
  // 1 MB/s, so the 24 MiB file (its parts report as they complete, the
  // first after some 20 s) is still on its way when Cancel is clicked.
  limitRate(1_000_000);
  writeFileSync(join(up, "slow.bin"), randomBytes(24 * 1024 * 1024));
  await uploadPaths(join(up, "slow.bin"));
  await $('[data-testid=transfers] [data-state=running] [data-file="shared/slow.bin"][data-file-state=running]');
  await snap("24d-browse-upload-running");
  await session.click(
    await $('[data-testid=transfers] [data-state=running] [data-action=cancel]'),
  );
  await session.until("the upload cancelled", async () => (await transferLine("slow.bin to shared/")) === "cancelled");
  limitRate(null);
  await $(row("shared/bands.png")); // the list reloaded after the cancel
  await snap("24e-browse-upload-cancelled");
  const sharedKeys = () => {
    const r = run(cliBin, ["--home", observer, "ls", "obs:shared/", "--json"], obsEnv);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).map((o) => o.key);
  };
  assert.ok(!sharedKeys().includes("shared/slow.bin"), `the cancelled upload is not in the bucket: ${sharedKeys()}`);
  assert.equal((await session.findAll(row("shared/slow.bin"))).length, 0);

  // Delete, with the count asked first.
  await click(row("shared/renamed.txt"));
  await click("[data-action=delete]");
  assert.match(await textOf("[data-dialog=delete] h2"), /Delete 1 object\?/);
  await snap("25-browse-delete-confirm");
  await click("[data-confirm=delete]");
  await gone(row("shared/renamed.txt"));

  // An upload into the synced prefix arrives in the pair's local folder.
  await click('[data-crumb=""]');
  await click(`${row("photos/")} .open`);
  await $("[data-testid=synced-note]");
  writeFileSync(join(up, "from-browser.txt"), "sent from the browser");
  await uploadPaths(join(up, "from-browser.txt"));
  await $(row("photos/from-browser.txt"));
  await session.until("the upload in the synced folder", () => existsSync(join(folder, "from-browser.txt")), 60000);
  assert.equal(readFileSync(join(folder, "from-browser.txt"), "utf8"), "sent from the browser");
  await snap("26-browse-synced-prefix");
  // Deleting there says the local copy goes too, and it does.
  await click(row("photos/from-browser.txt"));
  await click("[data-action=delete]");
  assert.match(await textOf("[data-testid=delete-synced-warning]"), /will be deleted too/);
  assert.ok((await textOf("[data-testid=delete-synced-warning]")).includes(folder), "the warning names the local folder");
  await snap("26b-browse-delete-synced");
  await click("[data-confirm=delete]");
  await gone(row("photos/from-browser.txt"));
  await session.until("the local copy gone", () => !existsSync(join(folder, "from-browser.txt")), 60000);

  // A key that cannot be a file (a name over 255 bytes), put there by
  // another tool: listed, marked, and renamed from the browser to the safe
  // name Rust suggests (cut before its extension).
  const longName = `${"a-name-longer-than-a-file-can-have-".repeat(8)}.txt`;
  const safeName = `${longName.slice(0, 255 - 4)}.txt`;
  writeFileSync(join(up, "odd.txt"), "odd one");
  const put = run(cliBin, ["--home", observer, "cp", join(up, "odd.txt"), `obs:odd/${longName}`], obsEnv);
  assert.equal(put.code, 0, put.stderr);

  // Rows by keyboard: Tab from the last column's header lands on the
  // list (one tab stop), arrows move, Enter opens the folder.
  await click('[data-crumb=""]');
  await $(row("odd/"));
  await session.execute("document.querySelector('[data-sort=date]').focus();");
  await session.press(Key.Tab);
  const focused = () => session.execute("return document.activeElement?.dataset?.key ?? null;");
  assert.equal(await session.execute("return document.activeElement?.dataset?.row ?? null;"), "0", "Tab lands on the first row");
  for (let i = 0; i < 10 && (await focused()) !== "odd/"; i++) await session.press(Key.Down);
  assert.equal(await focused(), "odd/");
  assert.equal(await session.execute("return document.querySelector('[data-key=\"odd/\"]').getAttribute('aria-selected');"), "true");
  await snap("26c-browse-keyboard");
  await session.press(Key.Enter);
  await $('[data-crumb="odd/"][aria-current=location]');
  // The keyboard stays in the list: the opened folder's first row has focus.
  await session.until("focus on the first row after Enter", async () => (await session.execute("return document.activeElement?.dataset?.row ?? null;")) === "0");

  const oddRow = row(`odd/${longName}`);
  assert.equal(await textOf(`${oddRow} .badge`), "cannot be a file");
  await snap("26d-browse-unsafe-key");
  await click(oddRow);
  await click("[data-action=rename]");
  assert.equal(await session.execute("return document.querySelector('[data-testid=rename-input]').value;"), safeName);
  await snap("26e-browse-unsafe-rename");
  await click("[data-confirm=rename]");
  await $(row(`odd/${safeName}`));
  await gone(oddRow);
  assert.equal((await session.findAll(`${row(`odd/${safeName}`)} .badge`)).length, 0, "the new name is not marked");
  const odd = run(cliBin, ["--home", observer, "ls", "obs:odd/", "--json"], obsEnv);
  assert.deepEqual(JSON.parse(odd.stdout).map((o) => o.key), [`odd/${safeName}`]);
  await snap("26f-browse-unsafe-renamed");

  // A folder of 1,500 objects (uploaded as one folder through the app):
  // two pages, and a list that renders only the rows in view. Scrolled to
  // the end, the next page loads and the last rows show.
  const many = join(up, "many");
  mkdirSync(many);
  for (let i = 0; i < 1500; i++) writeFileSync(join(many, `f${String(i).padStart(4, "0")}.txt`), `${i}`);
  await click('[data-crumb=""]');
  await $(row("photos/"));
  // Per-file progress while it runs: file lines inside the running transfer.
  await session.execute(`
    window.__fileLines = 0;
    new MutationObserver(() => {
      window.__fileLines = Math.max(window.__fileLines,
        document.querySelectorAll('[data-testid=transfers] [data-state=running] [data-file]').length);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  `);
  await uploadPaths(many);
  await session.waitFor(row("many/"), 120000);
  assert.ok((await session.execute("return window.__fileLines;")) > 0, "file lines with progress while the upload ran");
  await click(`${row("many/")} .open`);
  await $('[data-crumb="many/"][aria-current=location]');
  await $(row("many/f0000.txt"));
  assert.match(await textOf("[data-testid=browse-status]"), /1,000 items loaded, more as you scroll/);
  const rendered = () => session.execute("return document.querySelectorAll('[data-testid=browse-list] [data-row]').length;");
  assert.ok((await rendered()) < 100, `only the rows in view are rendered (${await rendered()})`);
  await snap("27-browse-1500-top");
  await session.until("the second page and the last rows", async () => {
    await session.execute("const s = document.querySelector('[data-testid=browse-scroll]'); s.scrollTop = s.scrollHeight;");
    return (await session.findAll(row("many/f1499.txt"))).length === 1;
  }, 60000);
  assert.match(await textOf("[data-testid=browse-status]"), /^1,500 items$/);
  assert.ok((await rendered()) < 100, `still only the rows in view (${await rendered()})`);
  await snap("28-browse-1500-scrolled");
  // Sorted by name the other way round, the last name comes first; the filter narrows to one.
  await click("[data-sort=name]");
  await session.until("the list reversed", async () =>
    (await session.execute(`const s = document.querySelector('[data-testid=browse-scroll]'); s.scrollTop = 0;
      return document.querySelector('[data-row="0"]')?.dataset.key;`)) === "many/f1499.txt");
  await typeInto("[data-testid=browse-filter]", "f0007");
  await session.until("one row", async () => (await rendered()) === 1);
  await $(row("many/f0007.txt"));
  assert.equal(await textOf("[data-testid=browse-status]"), "1 of 1,500 items");
  await snap("29-browse-filtered");
  await click("[data-sort=name]"); // back to A to Z

  // --- 100,000 objects in one prefix (put by s5cmd since the start).
  const filled = await Promise.race([
    fill.done,
    // (unref: a pending timer would keep the test process alive after the end)
    new Promise((resolve) => setTimeout(() => resolve({ code: "timeout", ms: 900000, stderr: "" }), 900000).unref()),
  ]);
  assert.equal(filled.code, 0, `s5cmd filled huge/: ${filled.stderr}`);
  t.diagnostic(`fill: ${HUGE} objects in ${(filled.ms / 1000).toFixed(1)} s`);
  await click('[data-crumb=""]');
  await click(`${row("huge/")} .open`);
  const opened = Date.now();
  await $(row(hugeKey(0)));
  t.diagnostic(`100k: first page shown ${Date.now() - opened} ms after opening the folder`);
  assert.match(await textOf("[data-testid=browse-status]"), /^1,000 items loaded, more as you scroll$/);
  assert.ok((await rendered()) < 100, `only the rows in view are rendered (${await rendered()})`);
  await snap("30-browse-100k-first-page");
  // Scrolled to the end: the page keeps the list at its bottom so every
  // page that arrives asks for the next, until the last row shows.
  const scrolling = Date.now();
  await session.until("all 100,000 loaded and the last row shown", () =>
    session.executeAsync(`
      const done = arguments[arguments.length - 1];
      const s = document.querySelector('[data-testid=browse-scroll]');
      const until = Date.now() + 20000;
      const step = () => {
        s.scrollTop = s.scrollHeight;
        if (document.querySelector('[data-key="${hugeKey(HUGE - 1)}"]')) return done(true);
        if (Date.now() > until) return done(false);
        requestAnimationFrame(step);
      };
      step();`), 600000);
  t.diagnostic(`100k: scrolled to the end (99 more pages) in ${Date.now() - scrolling} ms`);
  assert.equal(await textOf("[data-testid=browse-status]"), "100,000 items");
  assert.ok((await rendered()) < 100, `still only the rows in view (${await rendered()})`);
  await snap("31-browse-100k-end");
  // Frame by frame through the whole list in 60 strides: the rows in view
  // follow the scroll every frame (frame times reported, not asserted).
  const probe = await session.executeAsync(`
    const done = arguments[arguments.length - 1];
    const s = document.querySelector('[data-testid=browse-scroll]');
    const stride = Math.floor((s.scrollHeight - s.clientHeight) / 60);
    s.scrollTop = 0;
    const frames = [], firsts = [];
    let last = null, n = 0;
    const step = (t) => {
      if (last !== null) frames.push(t - last);
      last = t;
      firsts.push(Number(s.querySelector('[data-row]')?.dataset.row ?? -1));
      if (n++ === 61) return done({ frames, firsts, rows: s.querySelectorAll('[data-row]').length });
      s.scrollTop = n * stride;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);`);
  const sorted = [...probe.frames].sort((a, b) => a - b);
  t.diagnostic(`100k: frame times over 60 strides: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms, ` +
    `p95 ${sorted[Math.floor(sorted.length * 0.95)].toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms`);
  const moved = probe.firsts.slice(2).filter((f, i) => f > probe.firsts[i + 1]).length;
  assert.ok(moved >= 55, `the rows in view changed on ${moved} of 60 frames: ${probe.firsts}`);
  assert.ok(probe.firsts.at(-1) > HUGE - 100, `the last frame shows the end (${probe.firsts.at(-1)})`);
  assert.ok(probe.rows < 100, `${probe.rows} rows rendered`);
  // Halfway down, the rows there show.
  await session.execute("const s = document.querySelector('[data-testid=browse-scroll]'); s.scrollTop = 50000 * 34;");
  await $(row(hugeKey(50005)));
  await snap("32-browse-100k-middle");
  // Sorted the other way round, all 100,000 of them: the last name comes first.
  await click("[data-sort=name]");
  await session.until("the 100,000 reversed", async () =>
    (await session.execute(`const s = document.querySelector('[data-testid=browse-scroll]'); s.scrollTop = 0;
      return document.querySelector('[data-row="0"]')?.dataset.key;`)) === hugeKey(HUGE - 1));

  // --- Closing the window keeps the app running in the tray; a second
  // launch exits at once and brings the first window back.
  const pids = appPids();
  assert.equal(pids.length, 1, `one app process: ${pids}`);
  const win = appWindow();
  assert.ok(win?.viewable, "the window is on screen");
  const closed = run("python3", [join(here, "x11.py"), "close", win.id]);
  assert.equal(closed.code, 0, closed.stderr);
  await session.until("the window hidden", () => appWindow()?.viewable === false);
  assert.deepEqual(appPids(), pids, "closing the window does not quit");
  writeFileSync(join(folder, "while-closed.txt"), "still syncing");
  await inBucket("photos/while-closed.txt");
  const second = spawn(app, [], { stdio: ["ignore", "ignore", "pipe"] });
  let secondErr = "";
  second.stderr.on("data", (d) => (secondErr += d));
  const exited = await Promise.race([
    new Promise((resolve) => second.on("exit", (code) => resolve(code))),
    new Promise((resolve) => setTimeout(() => resolve("still running"), 30000).unref()),
  ]);
  if (exited === "still running") second.kill();
  assert.equal(exited, 0, `the second launch exits at once: ${secondErr}`);
  await session.until("the window back on screen", () => appWindow()?.viewable === true);
  assert.deepEqual(appPids(), pids, "still one app process");
  assert.ok(readFileSync(join(home, "engine.lock"), "utf8").includes(`"pid":${pids[0]}`), "the first one still holds the home");
  await snap("33-window-back-after-second-launch");

  // The tray's Open brings the closed window back too.
  assert.equal(run("python3", [join(here, "x11.py"), "close", appWindow().id]).code, 0);
  await session.until("the window hidden again", () => appWindow()?.viewable === false);
  tray.click("Open Bucketsync");
  await session.until("the window back from the tray", () => appWindow()?.viewable === true);

  // Quit in the tray: the app ends and lets go of the home, so the CLI can sync it.
  quit = true;
  tray.click("Quit Bucketsync");
  await session.until("the app gone", () => appPids().length === 0);
  const after = run(cliBin, ["--home", home, "sync", "photos", "--json"]);
  assert.equal(after.code, 0, `sync after Quit: ${after.stdout} ${after.stderr}`);
});
