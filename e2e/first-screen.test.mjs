// End-to-end: the real Bucketsync window, driven through tauri-driver and
// WebKitWebDriver under Xvfb. Run by e2e/run.sh, which starts both.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Session } from "./webdriver.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const app = process.env.BUCKETSYNC_APP;
const driver = process.env.TAURI_DRIVER_URL ?? "http://127.0.0.1:4444";
const shots = join(here, "screenshots");

async function snap(session, name) {
  mkdirSync(shots, { recursive: true });
  const file = join(shots, `${name}.png`);
  writeFileSync(file, Buffer.from(await session.screenshot(), "base64"));
  return file;
}

test("first launch opens the setup wizard with every provider", async () => {
  assert.ok(app, "BUCKETSYNC_APP must point at the built desktop binary");
  const session = await Session.create(driver, {
    alwaysMatch: { browserName: "wry", "tauri:options": { application: app } },
  });
  try {
    const title = await session.waitFor("#wizard-title");
    assert.equal(await session.text(title), "Connect a bucket");
    assert.equal(await session.text(await session.find("[data-testid=policy-count]")), "No storage policy yet");

    const providers = await session.findAll("[data-provider]");
    assert.equal(providers.length, 11, "one card per provider preset from Rust");

    await session.click(await session.find('[data-provider="b2"]'));
    const card = await session.find('[data-provider="b2"]');
    assert.equal(await session.attribute(card, "aria-checked"), "true");
    const aside = await session.text(await session.find("aside"));
    assert.match(aside, /keyID/, "B2's own key names are shown");
    assert.match(aside, /region is read from it/);
    await snap(session, "first-screen-b2");

    await session.click(await session.find('[data-provider="r2"]'));
    assert.match(await session.text(await session.find("aside")), /account id/);
    await snap(session, "first-screen-r2");
  } finally {
    await session.close();
  }
});
