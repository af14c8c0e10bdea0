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
//   activity, settings, storage -> the bucket browser: new folder, upload,
//   rename, a link fetched over plain HTTP, details, delete with the count,
//   and an upload into the synced prefix that lands in the local folder.
//
// Screenshots of every screen land in e2e/screenshots/.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Session } from "./webdriver.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (e2e/run.sh sets it)`);
  return v;
};
const app = env("BUCKETSYNC_APP");
const cliBin = env("BUCKETSYNC_CLI");
const testserverBin = env("BUCKETSYNC_TESTSERVER");
const garageBin = join(env("BUCKETSYNC_TOOLS"), "bin/garage");
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
  const server = spawn(testserverBin, ["garage", gdir, String(port), "e2e-photos"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => server.kill());
  const info = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve(JSON.parse(line));
    });
    server.on("exit", (c) => reject(new Error(`the test Garage exited (${c})`)));
  });
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
  t.after(() => session.close());
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
  await typeInto("#f-endpoint", info.endpoint);
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
  writeFileSync(join(folder, "big.bin"), randomBytes(24 * 1024 * 1024));
  await session.until("a transfer", async () => (await session.execute("return window.__states;")).includes("transferring"));
  await snap("10-transferring");
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

  // --- A mass delete is shown, and kept.
  for (const f of ["a.txt", "big.bin", "c.txt"]) rmSync(join(folder, f));
  await untilState("photos", "needs-confirmation");
  const list = await textOf('[data-pair="photos"] [data-testid=confirm-deletes]');
  for (const f of ["a.txt", "big.bin", "c.txt"]) assert.ok(list.includes(f), `${f} listed: ${list}`);
  await snap("12-mass-delete-confirmation");
  await click('[data-pair="photos"] [data-testid=keep]');
  await session.until("the kept files back", () => existsSync(join(folder, "a.txt")) && existsSync(join(folder, "c.txt")));
  await untilState("photos", "idle");
  assert.ok(bucketKeys().includes("photos/big.bin"), "nothing was deleted from the bucket");

  // --- The key is revoked at the provider: "Enter new keys", fixed here.
  garage("key", "delete", "--yes", "e2e-user");
  await click('[data-pair="photos"] [data-testid=sync-now]');
  await untilState("photos", "error");
  assert.equal(await textOf('[data-pair="photos"] [data-testid=fix]'), "Enter new keys");
  await snap("13-keys-rejected");
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
  await snap("16-settings");
  await click("[data-nav=storage]");
  await $('[data-policy="local-garage"]');
  await snap("17-storage");
  await click("[data-nav=pairs]");
  await untilState("photos", "idle");
  await snap("18-pairs");

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
  assert.match(await textOf("[data-testid=browse-status]"), /1000 items loaded, more as you scroll/);
  const rendered = () => session.execute("return document.querySelectorAll('[data-testid=browse-list] [data-row]').length;");
  assert.ok((await rendered()) < 100, `only the rows in view are rendered (${await rendered()})`);
  await snap("27-browse-1500-top");
  await session.until("the second page and the last rows", async () => {
    await session.execute("const s = document.querySelector('[data-testid=browse-scroll]'); s.scrollTop = s.scrollHeight;");
    return (await session.findAll(row("many/f1499.txt"))).length === 1;
  }, 60000);
  assert.match(await textOf("[data-testid=browse-status]"), /^1500 items$/);
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
  assert.equal(await textOf("[data-testid=browse-status]"), "1 of 1500 items");
  await snap("29-browse-filtered");
});
