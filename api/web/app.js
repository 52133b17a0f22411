// The chat page: token, settings (agent, model, project, documents), the streamed turn with its
// phases, answer, sources and metrics, and the errors a person can act on.

import { Api, ApiError, IDLE_TIMEOUT_S } from "./api.js";
import { initialLanguage, language, setLanguage, t } from "./i18n.js";
import { el, renderAnswer, renderMetrics, renderSource } from "./render.js";

const $ = (id) => document.getElementById(id);
const api = new Api();
const state = { sessionId: null, running: null, turns: 0, selected: new Set(), documents: [] };

function describe(error) {
  if (!(error instanceof ApiError)) return t("serverError", { status: "?", message: String(error) });
  const message = error.message;
  switch (error.kind) {
    case "network":
      return t("unreachable");
    case "timeout":
      return t("timeout", { s: IDLE_TIMEOUT_S });
    case "stopped":
      return t("stopped");
    case "interrupted":
      return t("interrupted");
    case "stream":
      return t("streamError", { phase: phaseName(error.phase), message });
  }
  const status = error.status;
  if (status === 429) return t("rateLimited", { s: Number.isFinite(error.retryAfter) ? error.retryAfter : 60 });
  if (status === 401) return t("sessionExpired");
  if (status === 403) return t("forbidden", { message });
  if (status === 413) return t("tooLarge", { message });
  if (status === 415) return t("unsupported", { message });
  if (status === 400 || status === 422) return t("badRequest", { message });
  if (status === 502 || status === 503) return t("unavailable", { message });
  return t("serverError", { status, message });
}

function phaseName(phase) {
  const key = `phase_${phase}`;
  return t(key) === key ? phase || "?" : t(key);
}

function announce(text) {
  $("status").textContent = text;
}

function showSession() {
  $("session").textContent = state.sessionId ? t("session", { id: state.sessionId.slice(0, 8) }) : t("noSession");
  $("session").dataset.sessionId = state.sessionId || "";
}

/* ---------- sign-in ---------- */

function showLogin(message = "") {
  $("workspace").hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("login-error").textContent = message;
  $("client-id").focus();
}

async function start() {
  if (!api.token) {
    try {
      await api.login();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return showLogin();
      return showFatal(describe(error));
    }
  }
  await openWorkspace();
}

function showFatal(message) {
  $("login").hidden = true;
  $("workspace").hidden = false;
  announce(message);
  $("status").classList.add("error");
}

async function openWorkspace() {
  try {
    const [verify, models, agents] = await Promise.all([api.json("/auth/verify"), api.json("/models"), api.json("/agents")]);
    fillSelect($("agent"), agents.agents.map((a) => [a.type, a.name && a.name !== a.type ? `${a.type} — ${a.name}` : a.type]), $("agent").value || "V2");
    fillSelect($("model"), [["", t("defaultModel")], ...models.models.map((m) => [m.name, `${m.name} (${m.provider})`])], $("model").value);
    const projects = verify.user.projects.filter((p) => p !== "*");
    fillSelect($("project"), (projects.length ? projects : ["default"]).map((p) => [p, p]), $("project").value);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin(t("sessionExpired"));
    return showFatal(describe(error));
  }
  $("login").hidden = true;
  $("workspace").hidden = false;
  $("logout").hidden = api.open;
  showSession();
  await loadDocuments();
  $("message").focus();
}

function fillSelect(select, options, wanted) {
  select.replaceChildren(...options.map(([value, label]) => el("option", { value, text: label })));
  if (options.some(([value]) => value === wanted)) select.value = wanted;
}

/* ---------- documents ---------- */

function project() {
  return $("project").value;
}

async function loadDocuments() {
  const list = $("documents");
  try {
    const page = await api.json(`/projects/${encodeURIComponent(project())}/documents?page_size=200`);
    state.documents = page.items;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin(t("sessionExpired"));
    list.replaceChildren(el("li", { class: "error", text: describe(error) }));
    return;
  }
  const ids = new Set(state.documents.map((d) => d.file_id));
  for (const id of [...state.selected]) if (!ids.has(id)) state.selected.delete(id);
  if (!state.documents.length) return list.replaceChildren(el("li", { class: "hint", text: t("noDocuments") }));
  list.replaceChildren(
    ...state.documents.map((doc) => {
      const box = el("input", { type: "checkbox", id: `doc-${doc.file_id}`, value: doc.file_id, checked: state.selected.has(doc.file_id) });
      box.addEventListener("change", () => (box.checked ? state.selected.add(doc.file_id) : state.selected.delete(doc.file_id)));
      const remove = el("button", { type: "button", class: "icon danger", "aria-label": t("deleteDoc", { title: doc.title }), title: t("delete"), text: "✕" });
      remove.addEventListener("click", () => deleteDocument(doc));
      return el(
        "li",
        { "data-file-id": doc.file_id },
        box,
        el("label", { for: box.id }, el("span", { class: "doc-title", text: doc.title }), el("span", { class: "hint", text: t("passages", { n: doc.chunks }) })),
        remove,
      );
    }),
  );
}

async function deleteDocument(doc) {
  if (!confirm(t("confirmDelete", { title: doc.title }))) return;
  try {
    await api.request(`/projects/${encodeURIComponent(project())}/documents/${encodeURIComponent(doc.file_id)}`, { method: "DELETE" });
    $("upload-status").textContent = t("deleted", { title: doc.title });
  } catch (error) {
    $("upload-status").textContent = describe(error);
  }
  await loadDocuments();
}

async function upload(event) {
  event.preventDefault();
  const files = [...$("upload-input").files];
  const status = $("upload-status");
  if (!files.length) {
    status.textContent = t("chooseFiles");
    return;
  }
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  $("upload-button").disabled = true;
  status.textContent = t("uploading");
  const lines = (items) =>
    items.map((f) =>
      el("span", {
        class: f.status === "error" ? "error line" : "line",
        text:
          f.status === "error"
            ? t("uploadFailed", { name: f.filename, message: f.message || f.error })
            : f.status === "ingested" || f.status === "indexed"
              ? t("uploaded", { name: f.filename, n: f.chunks })
              : `${f.filename} : ${f.status}…`,
      }),
    );
  try {
    let result = await api.json(`/projects/${encodeURIComponent(project())}/documents`, { method: "POST", body: form });
    // Several or large files come back as a background job (202): follow it until every file is done.
    while (result.counts && result.status !== "done") {
      status.replaceChildren(...lines(result.files));
      await new Promise((resolve) => setTimeout(resolve, 700));
      result = await api.json(`/projects/${encodeURIComponent(project())}/jobs/${encodeURIComponent(result.id)}`);
    }
    status.replaceChildren(...lines(result.files));
    $("upload-input").value = "";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && !api.open) return showLogin(t("sessionExpired"));
    status.textContent = describe(error);
  } finally {
    $("upload-button").disabled = false;
  }
  await loadDocuments();
}

/* ---------- one turn ---------- */

class TurnView {
  constructor(question, agent, model) {
    this.n = ++state.turns;
    this.sources = new Map();
    this.phases = new Map();
    this.text = "";
    this.answer = el("div", { class: "answer", "aria-live": "off" });
    this.phaseList = el("ol", { class: "phases", "aria-label": t("steps") });
    this.error = el("p", { class: "error", role: "alert", hidden: true });
    this.sourceList = el("ol", { class: "sources" });
    this.sourcePanel = el("section", { class: "source-panel", hidden: true }, el("h3", { text: t("sources") }), this.sourceList);
    this.metrics = el("div", { class: "metrics-slot" });
    this.node = el(
      "article",
      { class: "turn", "data-turn": this.n, "aria-busy": "true" },
      el("div", { class: "msg user" }, el("p", { class: "who", text: t("you") }), el("p", { class: "question", text: question })),
      el(
        "div",
        { class: "msg assistant" },
        el("p", { class: "who", text: `${t("assistant")} · ${agent}${model ? ` · ${model}` : ""}` }),
        this.phaseList,
        this.answer,
        this.error,
        this.sourcePanel,
        this.metrics,
      ),
    );
    this.node.addEventListener("click", (event) => {
      const link = event.target.closest("a.cite");
      if (!link) return;
      event.preventDefault();
      this.focusSource(Number(link.dataset.source));
    });
  }

  sourceId(n) {
    return `source-${this.n}-${n}`;
  }

  focusSource(n) {
    const item = document.getElementById(this.sourceId(n));
    if (!item) return;
    for (const other of this.sourceList.children) other.classList.remove("highlight");
    item.classList.add("highlight");
    item.scrollIntoView({ block: "nearest", behavior: "smooth" });
    item.focus({ preventScroll: true });
  }

  onEvent(name, data) {
    if (name === "session") {
      state.sessionId = data.sessionId;
      showSession();
    } else if (name === "phase") this.phase(data);
    else if (name === "chunk") {
      this.text += data.content;
      this.answer.textContent = this.text;
      this.answer.classList.add("streaming");
    } else if (name === "sources") this.setSources(data.sources);
    else if (name === "done") this.done(data);
  }

  phase(data) {
    const details = [];
    if (data.round) details.push(t("round", { n: data.round }));
    if (data.intent) details.push(t("intent", { v: t(`intent_${data.intent}`) }));
    if (data.keywords) details.push(t("keywords", { v: data.keywords }));
    if (data.phase === "rewrite" && data.query) details.push(t("query", { v: data.query }));
    if (data.kept !== undefined) details.push(t("kept", { kept: data.kept, hits: data.hits }));
    else if (data.hits !== undefined) details.push(t("hits", { n: data.hits }));
    let item = this.phases.get(data.phase);
    if (data.status === "start" || !item) {
      item = el("li", { "data-phase": data.phase }, el("span", { class: "phase-name", text: phaseName(data.phase) }), el("span", { class: "phase-state" }), el("span", { class: "phase-details" }));
      this.phases.set(data.phase, item);
      this.phaseList.append(item);
    }
    item.dataset.status = data.status;
    item.querySelector(".phase-state").textContent = data.status === "complete" ? `✓ ${t("done")}` : t("running");
    if (details.length) {
      const box = item.querySelector(".phase-details");
      box.textContent = [box.textContent, ...details].filter(Boolean).join(" · ");
    }
  }

  setSources(sources) {
    this.sources = new Map(sources.map((s) => [s.id, s]));
    this.sourceList.replaceChildren(...[...this.sources.values()].sort((a, b) => a.id - b.id).map((s) => renderSource(s, this.sourceId(s.id))));
    this.sourcePanel.hidden = this.sources.size === 0;
  }

  done(data) {
    this.setSources(data.sources || []);
    const html = data.htmlContent;
    if (typeof html === "string") {
      this.answer.replaceChildren(renderAnswer(html, new Set(this.sources.keys()), (n) => this.sourceId(n)));
    } else this.answer.textContent = data.content || this.text;
    this.answer.classList.remove("streaming");
    this.metrics.replaceChildren(renderMetrics(data.metadata || {}));
    this.finish("done");
  }

  fail(error) {
    this.error.textContent = describe(error);
    this.error.hidden = false;
    this.answer.classList.remove("streaming");
    this.finish(error.kind === "stopped" ? "stopped" : "error");
  }

  finish(outcome) {
    this.node.dataset.outcome = outcome;
    this.node.setAttribute("aria-busy", "false");
  }
}

async function send(event) {
  event?.preventDefault();
  const box = $("message");
  const question = box.value.trim();
  if (!question || state.running) return;
  $("empty")?.remove();
  const agent = $("agent").value;
  const model = $("model").value;
  const view = new TurnView(question, agent, model);
  $("transcript").append(view.node);
  view.node.scrollIntoView({ block: "start" });
  box.value = "";
  const body = { message: question, agent, project_id: project() };
  if (model) body.model = model;
  if (state.sessionId) body.sessionId = state.sessionId;
  if (state.selected.size) body.sources = [...state.selected];
  const controller = new AbortController();
  state.running = controller;
  setRunning(true);
  announce(t("answering"));
  try {
    await api.chatStream(body, (name, data) => view.onEvent(name, data), controller.signal);
    announce(t("answered"));
  } catch (error) {
    view.fail(error);
    announce(describe(error));
    if (error instanceof ApiError && error.status === 401 && !api.open) {
      box.value = question;
      showLogin(t("sessionExpired"));
    }
  } finally {
    state.running = null;
    setRunning(false);
    if (!$("workspace").hidden) box.focus();
  }
}

function setRunning(running) {
  $("send").disabled = running;
  $("stop").disabled = !running;
  $("transcript").setAttribute("aria-busy", String(running));
}

async function newConversation() {
  if (state.running) state.running.abort();
  const old = state.sessionId;
  state.sessionId = null;
  state.turns = 0;
  $("transcript").replaceChildren(el("p", { id: "empty", class: "empty", "data-i18n": "empty", text: t("empty") }));
  showSession();
  $("message").focus();
  if (!old) return announce(t("cleared"));
  try {
    await api.postJson("/api/v1/chat", { sessionId: old, clear: true });
    announce(t("cleared"));
  } catch (error) {
    announce(t("clearFailed", { message: describe(error) }));
  }
}

/* ---------- wiring ---------- */

function init() {
  setLanguage(initialLanguage());
  if (matchMedia("(max-width: 799px)").matches) $("settings-panel").open = false;
  $("lang-toggle").addEventListener("click", () => {
    setLanguage(language() === "fr" ? "en" : "fr");
    showSession();
  });
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.login($("client-id").value.trim(), $("client-secret").value);
      $("client-secret").value = "";
      await openWorkspace();
    } catch (error) {
      $("login-error").textContent = error instanceof ApiError && error.status === 401 ? t("loginFailed") : describe(error);
    }
  });
  $("logout").addEventListener("click", () => {
    api.forget();
    state.sessionId = null;
    showLogin();
  });
  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("stop").addEventListener("click", () => {
    state.running?.abort();
    $("message").focus();
  });
  $("new-chat").addEventListener("click", newConversation);
  $("project").addEventListener("change", () => {
    state.selected.clear();
    loadDocuments();
  });
  $("upload-form").addEventListener("submit", upload);
  start();
}

init();
