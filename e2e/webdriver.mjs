// A minimal W3C WebDriver client over fetch: enough to drive the real app
// window through tauri-driver without pulling a browser-automation stack.
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** WebDriver's code points for special keys. */
export const Key = { Tab: "\uE004", Enter: "\uE007", Space: "\uE00D", Up: "\uE013", Down: "\uE015", End: "\uE010", Home: "\uE011" };

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async create(base, capabilities) {
    const res = await call(base, "POST", "/session", { capabilities });
    return new Session(base, res.sessionId);
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  async find(css) {
    const el = await this.cmd("POST", "/element", { using: "css selector", value: css });
    return el[ELEMENT];
  }

  async findAll(css) {
    const els = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    return els.map((e) => e[ELEMENT]);
  }

  /** Polls for an element until `timeoutMs`; returns its id. */
  async waitFor(css, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.find(css);
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`no element ${css} after ${timeoutMs} ms: ${e.message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  text(el) {
    return this.cmd("GET", `/element/${el}/text`);
  }

  click(el) {
    return this.cmd("POST", `/element/${el}/click`, {});
  }

  /** Types into an input (real key events, so the page's input handlers run). */
  type(el, text) {
    return this.cmd("POST", `/element/${el}/value`, { text });
  }

  clear(el) {
    return this.cmd("POST", `/element/${el}/clear`, {});
  }

  /** Runs a script in the page; `arguments` holds `args`. */
  execute(script, args = []) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }

  /** Runs an async script; it calls `arguments[arguments.length - 1]` with its result. */
  executeAsync(script, args = []) {
    return this.cmd("POST", "/execute/async", { script, args });
  }

  /** Presses keys on whatever has the focus (WebDriver key values, e.g. Key.Down). */
  async press(...keys) {
    const actions = keys.flatMap((value) => [{ type: "keyDown", value }, { type: "keyUp", value }]);
    await this.cmd("POST", "/actions", { actions: [{ type: "key", id: "keyboard", actions }] });
    await this.cmd("DELETE", "/actions");
  }

  setWindowRect(rect) {
    return this.cmd("POST", "/window/rect", rect);
  }

  /** Polls `check` (an async function) until it returns a truthy value. */
  async until(what, check, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      try {
        const v = await check();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  attribute(el, name) {
    return this.cmd("GET", `/element/${el}/attribute/${name}`);
  }

  /** Waits for two animation frames, so a screenshot shows the latest DOM. */
  settle() {
    return this.cmd("POST", "/execute/async", {
      script: "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
      args: [],
    });
  }

  async screenshot() {
    await this.settle();
    return this.cmd("GET", "/screenshot");
  }

  close() {
    return this.cmd("DELETE", "");
  }
}

async function call(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = json.value ?? json;
    throw new Error(`${method} ${path}: ${res.status} ${err.error ?? ""} ${err.message ?? ""}`.trim());
  }
  return json.value;
}
