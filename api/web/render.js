// Turning server data into DOM nodes. Streamed text only ever goes through textContent; the final
// answer's HTML (Markdown rendered by the server, raw HTML escaped) is re-built element by element
// from an allowlist, and its [n] citations become links to the sources panel.

import { num, t } from "./i18n.js";

const ALLOWED = new Set([
  "P", "BR", "STRONG", "EM", "B", "I", "CODE", "PRE", "UL", "OL", "LI", "BLOCKQUOTE", "HR",
  "H1", "H2", "H3", "H4", "H5", "H6", "A", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "DEL", "S",
]);
const HEADING_SHIFT = { H1: "H3", H2: "H4", H3: "H5", H4: "H6", H5: "H6", H6: "H6" };

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function safeUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, location.href);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

/** The answer's HTML as safe nodes, [n] linked to `sourceId(n)` when source n exists. */
export function renderAnswer(html, sourceIds, sourceId) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  const out = document.createDocumentFragment();
  for (const child of parsed.body.childNodes) appendSafe(out, child, sourceIds, sourceId);
  return out;
}

function appendSafe(parent, node, sourceIds, sourceId) {
  if (node.nodeType === Node.TEXT_NODE) {
    parent.append(linkCitations(node.textContent, sourceIds, sourceId, parent.nodeName === "CODE"));
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  let target = parent;
  if (ALLOWED.has(node.tagName)) {
    target = document.createElement(HEADING_SHIFT[node.tagName] || node.tagName);
    if (node.tagName === "A") {
      const href = safeUrl(node.getAttribute("href"));
      if (href) {
        target.href = href;
        target.rel = "noopener noreferrer";
        target.target = "_blank";
      }
    } else if (node.tagName === "OL" && node.hasAttribute("start")) {
      target.setAttribute("start", String(parseInt(node.getAttribute("start"), 10) || 1));
    }
    parent.append(target);
  }
  for (const child of node.childNodes) appendSafe(target, child, sourceIds, sourceId);
}

/** `[1]` or `[1, 2]` standing alone: an index glued to a name (`argv[0]`) is code, not a citation. */
const CITATION = /(?<![\p{L}\p{N}_])\[(\d+(?:\s*,\s*\d+)*)\]/gu;

function linkCitations(text, sourceIds, sourceId, inCode) {
  const fragment = document.createDocumentFragment();
  if (inCode) {
    fragment.append(text);
    return fragment;
  }
  let last = 0;
  for (const match of text.matchAll(CITATION)) {
    const numbers = match[1].split(",").map(Number);
    if (!numbers.some((n) => sourceIds.has(n))) continue;
    fragment.append(text.slice(last, match.index));
    for (const n of numbers) {
      fragment.append(
        sourceIds.has(n)
          ? el("a", { class: "cite", href: `#${sourceId(n)}`, "data-source": n, "aria-label": t("source", { n }), text: `[${n}]` })
          : `[${n}]`,
      );
    }
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

/** One source of the panel: number, title (linked when it has a URL), file, score, page, section, snippet. */
export function renderSource(source, id) {
  const url = safeUrl(source.url);
  const title = url
    ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: source.title || url })
    : el("span", { class: "file", text: source.title || source.file_id });
  const meta = [];
  if (!url) meta.push(t("file"));
  if (typeof source.score === "number") meta.push(t("score", { v: num(source.score, 2) }));
  if (source.page !== undefined && source.page !== null) meta.push(t("page", { v: source.page }));
  if (source.section) meta.push(t("section", { v: source.section }));
  return el(
    "li",
    { id, tabindex: "-1", value: source.id, "data-file-id": source.file_id },
    el("p", { class: "source-title" }, el("span", { class: "badge", text: `[${source.id}]` }), " ", title),
    el("p", { class: "source-meta", text: meta.join(" · ") }),
    source.snippet ? el("blockquote", { class: "snippet", text: source.snippet }) : null,
  );
}

function seconds(value) {
  return value === null || value === undefined ? t("unknown") : t("seconds", { v: num(value) });
}

/** The answer's metrics as a definition list; every null figure reads "unknown". */
export function renderMetrics(m) {
  const usage = m.usage || {};
  const cost = m.pricing ? m.pricing.total_cost : null;
  const g = m.emissions_gCO2eq;
  let emissions = t("unknown");
  if (g !== null && g !== undefined) {
    emissions = `${num(g)} gCO2eq`;
    const lo = m.emissions_gCO2eq_min;
    const hi = m.emissions_gCO2eq_max;
    if (lo !== null && lo !== undefined && hi !== null && hi !== undefined && lo !== hi) emissions += ` (${num(lo)} – ${num(hi)})`;
  }
  const eq = m.equivalences || {};
  const known = [
    ["carKm", eq.car_km],
    ["tgvKm", eq.tgv_km],
    ["phones", eq.smartphone_charges],
    ["water", eq.water_liters],
  ].filter(([, v]) => v !== null && v !== undefined);
  const equivalences = known.length ? known.map(([key, v]) => t(key, { v: num(v) })).join(" · ") : t("unknown");
  const rows = [
    ["latency", seconds(m.latency_s)],
    ["ttft", seconds(m.time_to_first_token_s)],
    [
      "tokens",
      usage.total_tokens === undefined
        ? t("unknown")
        : t("tokensDetail", { total: num(usage.total_tokens, 21), input: num(usage.input_tokens, 21), output: num(usage.output_tokens, 21) }),
    ],
    ["cost", cost === null || cost === undefined ? t("unknown") : `${num(cost)} €`],
    ["emissions", emissions],
    ["equivalences", equivalences],
  ];
  const list = el("dl", { class: "metrics", "aria-label": t("metrics") });
  for (const [key, value] of rows) list.append(el("div", { "data-metric": key }, el("dt", { text: t(key) }), el("dd", { text: value })));
  return list;
}
