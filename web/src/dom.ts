// DOM helpers. Every text that comes from the API reaches the page as a text node (textContent), never
// as markup: there is no innerHTML anywhere in the console.

export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
      else if (k === "class") el.className = String(v);
      else if (k === "value") (el as unknown as HTMLInputElement).value = String(v);
      else if (k === "checked") (el as unknown as HTMLInputElement).checked = Boolean(v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el: Node, ...children: (Child | Child[])[]): void {
  clear(el);
  append(el, children);
}

// A table from a header row and rows of cells.
export function table(head: string[], rows: Child[][], cls = "grid"): HTMLTableElement {
  return h("table", { class: cls },
    h("thead", null, h("tr", null, head.map((t) => h("th", null, t)))),
    h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c))))));
}

// Label set {a="x", b="y"} as Prometheus prints it (values quoted with Go/JSON escapes).
export function labelsText(labels: Record<string, string>, skipName = false): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (skipName && k === "__name__") continue;
    parts.push(`${k}=${JSON.stringify(v)}`);
  }
  return `{${parts.join(", ")}}`;
}

export function seriesText(metric: Record<string, string>): string {
  const name = metric.__name__ ?? "";
  const rest = labelsText(metric, true);
  return rest === "{}" && name ? name : name + rest;
}

export function ago(iso: string | undefined): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (!isFinite(t) || t <= 0) return "never";
  const s = (Date.now() - t) / 1000;
  if (s < 0) return "just now";
  if (s < 60) return `${s.toFixed(1)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) n /= 1024, i++;
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}
