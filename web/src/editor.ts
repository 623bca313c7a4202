// The expression input: a textarea over a highlighted copy of its text, and a completion list fed by
// the label API (tenant-scoped by vigil: a tenant is only offered its own metric names and labels).

import { api } from "./api";
import { h, replace } from "./dom";
import { AGGREGATIONS, FUNCTIONS, KEYWORDS, contextAt, tokenize } from "./promql";

let namesCache: Promise<string[]> | null = null;
let labelsCache: Promise<string[]> | null = null;
const valuesCache = new Map<string, Promise<string[]>>();

window.addEventListener("vigil:credential", () => {
  namesCache = labelsCache = null;
  valuesCache.clear();
});

const soft = (p: Promise<string[]>) => p.catch(() => [] as string[]);
export function metricNames(): Promise<string[]> {
  return (namesCache ??= soft(api<string[]>("api/v1/label/__name__/values")));
}
function labelNames(): Promise<string[]> {
  return (labelsCache ??= soft(api<string[]>("api/v1/labels")));
}
function labelValues(label: string): Promise<string[]> {
  let p = valuesCache.get(label);
  if (!p) {
    p = soft(api<string[]>(`api/v1/label/${encodeURIComponent(label)}/values`));
    valuesCache.set(label, p);
  }
  return p;
}

interface Item { text: string; kind: string; }
const MAX_ITEMS = 50;

function rank(items: Item[], prefix: string): Item[] {
  const p = prefix.toLowerCase();
  const starts: Item[] = [], has: Item[] = [];
  for (const it of items) {
    const t = it.text.toLowerCase();
    if (t === p) continue;
    if (t.startsWith(p)) starts.push(it);
    else if (p && t.includes(p)) has.push(it);
  }
  return starts.concat(has).slice(0, MAX_ITEMS);
}

export class ExpressionEditor {
  readonly el: HTMLElement;
  readonly input: HTMLTextAreaElement;
  private hl: HTMLElement;
  private list: HTMLUListElement;
  private items: Item[] = [];
  private sel = 0;
  private picked = false; // the user moved through the list: Enter takes the suggestion, not the query
  private replaceFrom = 0;
  private seq = 0;

  constructor(value: string, private onExecute: () => void, private onChange: (v: string) => void) {
    this.hl = h("pre", { class: "hl", "aria-hidden": "true" });
    this.input = h("textarea", {
      class: "expr", "aria-label": "Expression", placeholder: "Expression (Enter runs, Shift+Enter adds a line)",
      spellcheck: "false", autocomplete: "off", autocapitalize: "off", rows: 1,
      "aria-autocomplete": "list", "aria-expanded": "false",
    });
    this.list = h("ul", { class: "ac", role: "listbox", hidden: true });
    this.el = h("div", { class: "editor" }, this.hl, this.input, this.list);
    this.input.value = value;
    this.input.addEventListener("input", () => {
      this.render();
      this.onChange(this.input.value);
      void this.complete();
    });
    this.input.addEventListener("scroll", () => {
      this.hl.scrollTop = this.input.scrollTop;
      this.hl.scrollLeft = this.input.scrollLeft;
    });
    this.input.addEventListener("keydown", (e) => this.key(e));
    this.input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== this.input) this.close();
    }, 150));
    this.render();
  }

  get value(): string {
    return this.input.value;
  }

  private render(): void {
    const src = this.input.value;
    const spans = tokenize(src).map((t) => (t.kind === "ws" ? t.text : h("span", { class: `t-${t.kind}` }, t.text)));
    replace(this.hl, spans, "\n"); // the trailing newline keeps the last line's height when it is empty
    this.input.rows = Math.min(10, src.split("\n").length);
  }

  private key(e: KeyboardEvent): void {
    const open = !this.list.hidden && this.items.length > 0;
    if (open && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      this.sel = (this.sel + (e.key === "ArrowDown" ? 1 : this.items.length - 1)) % this.items.length;
      this.picked = true;
      this.highlight();
    } else if (open && (e.key === "Tab" || (e.key === "Enter" && this.picked))) {
      e.preventDefault();
      this.accept(this.sel);
    } else if (open && e.key === "Escape") {
      e.preventDefault();
      this.close();
    } else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      this.close();
      this.onExecute();
    }
  }

  private async complete(): Promise<void> {
    const seq = ++this.seq;
    const pos = this.input.selectionStart ?? this.input.value.length;
    const ctx = contextAt(this.input.value, pos);
    let items: Item[] = [];
    if (ctx.kind === "name") {
      if (!ctx.prefix) return this.close();
      const names = await metricNames();
      items = rank([
        ...FUNCTIONS.map((f) => ({ text: f, kind: "function" })),
        ...AGGREGATIONS.map((f) => ({ text: f, kind: "aggregation" })),
        ...KEYWORDS.map((f) => ({ text: f, kind: "keyword" })),
        ...names.map((n) => ({ text: n, kind: "metric" })),
      ], ctx.prefix);
    } else if (ctx.kind === "label") {
      items = rank((await labelNames()).filter((n) => n !== "__name__").map((n) => ({ text: n, kind: "label" })), ctx.prefix);
      if (!ctx.prefix) items = (await labelNames()).filter((n) => n !== "__name__").slice(0, MAX_ITEMS).map((n) => ({ text: n, kind: "label" }));
    } else if (ctx.kind === "value") {
      const vals = await labelValues(ctx.label);
      items = (ctx.prefix ? rank(vals.map((v) => ({ text: v, kind: "value" })), ctx.prefix)
        : vals.slice(0, MAX_ITEMS).map((v) => ({ text: v, kind: "value" })));
    }
    if (seq !== this.seq) return; // a newer keystroke asked again
    if (ctx.kind === "none" || !items.length) return this.close();
    this.items = items;
    this.sel = 0;
    this.picked = false;
    this.replaceFrom = ctx.start;
    replace(this.list, items.map((it, i) =>
      h("li", { role: "option", "data-kind": it.kind, onmousedown: (ev: Event) => { ev.preventDefault(); this.accept(i); } },
        h("span", { class: "ac-text" }, it.text), h("span", { class: "ac-kind" }, it.kind))));
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.highlight();
  }

  private highlight(): void {
    Array.from(this.list.children).forEach((li, i) => li.setAttribute("aria-selected", String(i === this.sel)));
    (this.list.children[this.sel] as HTMLElement | undefined)?.scrollIntoView({ block: "nearest" });
  }

  private accept(i: number): void {
    const it = this.items[i];
    if (!it) return;
    const v = this.input.value, pos = this.input.selectionStart ?? v.length;
    let text = it.text;
    if (it.kind === "value") text = text.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    if (it.kind === "function" || it.kind === "aggregation") text += "(";
    this.input.value = v.slice(0, this.replaceFrom) + text + v.slice(pos);
    const at = this.replaceFrom + text.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.render();
    this.onChange(this.input.value);
    this.input.focus();
  }

  close(): void {
    this.seq++;
    this.list.hidden = true;
    this.items = [];
    this.input.setAttribute("aria-expanded", "false");
  }
}
