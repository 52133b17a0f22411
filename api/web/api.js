// The public HTTP API as the page uses it: bearer token, error envelope, chat stream (SSE over
// fetch, so that a run can be aborted: the disconnect cancels it on the server).

const TOKEN_KEY = "routeur.token";
export const IDLE_TIMEOUT_S = 60;

export class ApiError extends Error {
  /** kind: "http" (status set), "network", "timeout", "stopped", "interrupted", "stream" (server error event). */
  constructor(kind, message, { status = 0, retryAfter = null, phase = null } = {}) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.retryAfter = retryAfter;
    this.phase = phase;
  }
}

async function errorFrom(response) {
  let message = response.statusText || "";
  try {
    const body = await response.json();
    message = body.message || body.detail || message;
  } catch {
    // Not the JSON envelope (a proxy's page, say): keep the status text.
  }
  const retry = response.headers.get("Retry-After");
  return new ApiError("http", message, { status: response.status, retryAfter: retry === null ? null : Number(retry) });
}

export class Api {
  constructor() {
    this.token = sessionStorage.getItem(TOKEN_KEY);
    // True once a token came without credentials (development): a 401 then just renews it.
    this.open = sessionStorage.getItem(`${TOKEN_KEY}.open`) === "1";
  }

  _keep(token, open) {
    this.token = token;
    this.open = open;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(`${TOKEN_KEY}.open`, open ? "1" : "0");
  }

  forget() {
    this.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  /** A token without credentials (development) or with a client's id and secret (production). */
  async login(clientId = null, clientSecret = null) {
    const init = { method: "POST" };
    if (clientId !== null) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify({ client_id: clientId, client_secret: clientSecret });
    }
    const response = await this._fetch("/auth/token", init);
    if (!response.ok) throw await errorFrom(response);
    const body = await response.json();
    this._keep(body.access_token, clientId === null);
    return body;
  }

  async _fetch(path, init) {
    try {
      return await fetch(path, init);
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new ApiError("network", String(error));
    }
  }

  /** An authorised request; a 401 renews an open token once, else it is raised (sign in again). */
  async request(path, init = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = { ...(init.headers || {}), Authorization: `Bearer ${this.token}` };
      const response = await this._fetch(path, { ...init, headers });
      if (response.status === 401 && attempt === 0 && this.open) {
        await this.login();
        continue;
      }
      if (response.status === 401) this.forget();
      if (!response.ok) throw await errorFrom(response);
      return response;
    }
  }

  async json(path, init = {}) {
    return (await this.request(path, init)).json();
  }

  postJson(path, body, init = {}) {
    return this.json(path, { ...init, method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  /**
   * Stream one chat turn: calls onEvent(name, data) for every event, resolves when `done` or
   * `error` arrives (an `error` event rejects with kind "stream"). Rejects with kind "stopped"
   * when `signal` aborts, "timeout" after IDLE_TIMEOUT_S without a byte, "interrupted" when the
   * stream ends without `done`.
   */
  async chatStream(body, onEvent, signal) {
    const controller = new AbortController();
    const stop = () => controller.abort(new ApiError("stopped", "stopped"));
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    let idle;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new ApiError("timeout", "idle", { retryAfter: IDLE_TIMEOUT_S })), IDLE_TIMEOUT_S * 1000);
    };
    arm();
    try {
      const response = await this.request("/api/v1/chat/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        let part;
        try {
          part = await reader.read();
        } catch (error) {
          if (controller.signal.aborted) throw controller.signal.reason;
          throw new ApiError("interrupted", String(error));
        }
        if (part.done) throw new ApiError("interrupted", "stream ended before done");
        arm();
        buffer += part.value;
        const blocks = buffer.split(/\r?\n\r?\n/);
        buffer = blocks.pop();
        for (const block of blocks) {
          const event = parseBlock(block);
          if (!event) continue;
          if (event.name === "error") {
            throw new ApiError("stream", event.data.message || "", { phase: event.data.phase || null });
          }
          onEvent(event.name, event.data);
          if (event.name === "done") {
            reader.cancel().catch(() => {});
            return event.data;
          }
        }
      }
    } catch (error) {
      if (controller.signal.aborted && !(error instanceof ApiError && error.kind === "stream")) throw controller.signal.reason;
      throw error;
    } finally {
      clearTimeout(idle);
      signal.removeEventListener("abort", stop);
      if (!controller.signal.aborted) controller.abort(new ApiError("stopped", "finished"));
    }
  }
}

/** One SSE block ("event:" and "data:" lines) as {name, data}; comments and keep-alives give null. */
export function parseBlock(block) {
  let name = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}
