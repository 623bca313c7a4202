// Explore: panels of one expression each, with a Table tab (instant query) and a Graph tab (range
// query). The state lives in the URL with Prometheus' classic parameter names (g0.expr, g0.tab 0 =
// graph / 1 = table, g0.range_input, g0.end_input, g0.step_input, g0.stacked, g0.moment_input), so a
// Prometheus /graph link opens the same view here.

import { ApiError, api } from "./api";
import { ExpressionEditor } from "./editor";
import { h, replace, seriesText, table } from "./dom";
import { Graph, RangeSeries } from "./graph";
import { errorPosition } from "./promql";

export interface PanelState {
  expr: string; tab: 0 | 1; range: string; end: string; step: string; stacked: boolean; moment: string;
}

export const RANGES = ["5m", "1h", "6h", "24h", "7d"];
const MAX_ROWS = 10000;

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
export function parseDuration(s: string): number | null {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+)(ms|s|m|h|d|w|y)/g;
  let m: RegExpExecArray | null, total = 0, used = 0;
  while ((m = re.exec(t))) total += Number(m[1]) * UNITS[m[2]], used += m[0].length;
  return used === t.length && total > 0 ? total : null;
}

// "" = now; unix seconds; "YYYY-MM-DD HH:mm[:ss]" (UTC) or RFC 3339.
export function parseTime(s: string): number | null {
  const t = s.trim();
  if (!t) return Date.now() / 1000;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  let iso = t.replace(" ", "T");
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(iso)) iso += "Z";
  const ms = Date.parse(iso);
  return isFinite(ms) ? ms / 1000 : null;
}

export function fmtTime(sec: number): string {
  return new Date(sec * 1000).toISOString().replace("T", " ").replace(/(:\d\d)\.\d+Z$/, "$1");
}

export function readState(search: string): PanelState[] {
  const q = new URLSearchParams(search);
  const out: PanelState[] = [];
  for (let i = 0; i < 32; i++) {
    const p = (k: string) => q.get(`g${i}.${k}`);
    if (p("expr") === null && p("tab") === null && p("range_input") === null) {
      if (i === 0) continue;
      break;
    }
    out.push({
      expr: p("expr") ?? "", tab: p("tab") === "0" ? 0 : 1, range: p("range_input") ?? "1h", end: p("end_input") ?? "",
      step: p("step_input") ?? "", stacked: p("stacked") === "1", moment: p("moment_input") ?? "",
    });
  }
  if (!out.length) out.push(blank());
  return out;
}

function blank(): PanelState {
  return { expr: "", tab: 1, range: "1h", end: "", step: "", stacked: false, moment: "" };
}

export function writeState(panels: PanelState[]): string {
  const q = new URLSearchParams();
  panels.forEach((s, i) => {
    q.set(`g${i}.expr`, s.expr);
    q.set(`g${i}.tab`, String(s.tab));
    if (s.tab === 0) {
      q.set(`g${i}.range_input`, s.range);
      if (s.end) q.set(`g${i}.end_input`, s.end);
      if (s.step) q.set(`g${i}.step_input`, s.step);
      q.set(`g${i}.stacked`, s.stacked ? "1" : "0");
    } else if (s.moment) q.set(`g${i}.moment_input`, s.moment);
  });
  return `?${q.toString()}`;
}

interface QueryData {
  resultType: "vector" | "matrix" | "scalar" | "string";
  result: unknown;
}

class Panel {
  readonly el: HTMLElement;
  private editor: ExpressionEditor;
  private tabs: HTMLButtonElement[];
  private views: HTMLElement[];
  private error: HTMLElement;
  private info: HTMLElement;
  private tableHost: HTMLElement;
  private graph: Graph;
  private rangeInput: HTMLInputElement;
  private endInput: HTMLInputElement;
  private stepInput: HTMLInputElement;
  private stackedInput: HTMLInputElement;
  private momentInput: HTMLInputElement;
  private abort: AbortController | null = null;

  constructor(public s: PanelState, private changed: (push: boolean) => void, remove: () => void) {
    this.editor = new ExpressionEditor(s.expr, () => this.execute(true), (v) => {
      this.s.expr = v;
      this.changed(false);
    });
    const tab = (label: string, idx: 0 | 1) =>
      h("button", { role: "tab", type: "button", class: "tab", onclick: () => this.setTab(idx) }, label);
    this.tabs = [tab("Graph", 0), tab("Table", 1)];
    this.error = h("div", { class: "error", role: "alert", hidden: true });
    this.info = h("div", { class: "info" });
    this.tableHost = h("div", { class: "table-host" });
    this.momentInput = h("input", { type: "text", class: "time", "aria-label": "Evaluation time", placeholder: "now", value: s.moment,
      onchange: () => { this.s.moment = this.momentInput.value.trim(); this.execute(true); } });
    this.rangeInput = h("input", { type: "text", class: "range", "aria-label": "Range", value: s.range,
      onchange: () => { this.s.range = this.rangeInput.value.trim(); this.execute(true); } });
    this.endInput = h("input", { type: "text", class: "time", "aria-label": "End time", placeholder: "now (YYYY-MM-DD HH:mm UTC)", value: s.end,
      onchange: () => { this.s.end = this.endInput.value.trim(); this.execute(true); } });
    this.stepInput = h("input", { type: "text", class: "step", "aria-label": "Step", placeholder: "auto", value: s.step,
      onchange: () => { this.s.step = this.stepInput.value.trim(); this.execute(true); } });
    this.stackedInput = h("input", { type: "checkbox", "aria-label": "Stacked", checked: s.stacked,
      onchange: () => { this.s.stacked = this.stackedInput.checked; this.execute(true); } });
    const presets = h("span", { class: "presets", role: "group", "aria-label": "Range presets" },
      RANGES.map((r) => h("button", { type: "button", class: "preset", "data-range": r,
        onclick: () => { this.s.range = r; this.rangeInput.value = r; this.execute(true); } }, r)));
    const chart = h("div", { class: "chart" });
    const hover = h("div", { class: "hover", hidden: true });
    const legend = h("ul", { class: "legend", "aria-label": "Legend" });
    this.graph = new Graph(chart, legend, hover);
    this.views = [
      h("div", { role: "tabpanel", class: "graph-view" },
        h("div", { class: "controls" }, presets, h("label", null, "Range ", this.rangeInput), h("label", null, "End ", this.endInput),
          h("label", null, "Step ", this.stepInput), h("label", { class: "check" }, this.stackedInput, " stacked")),
        h("div", { class: "chart-wrap" }, chart, hover), legend),
      h("div", { role: "tabpanel", class: "table-view" },
        h("div", { class: "controls" }, h("label", null, "Evaluation time ", this.momentInput)), this.tableHost),
    ];
    this.el = h("section", { class: "panel" },
      h("div", { class: "panel-head" }, this.editor.el,
        h("button", { type: "button", class: "primary", onclick: () => this.execute(true) }, "Execute"),
        h("button", { type: "button", class: "remove", title: "Remove panel", "aria-label": "Remove panel", onclick: remove }, "✕")),
      this.error,
      h("div", { role: "tablist", class: "tabs" }, this.tabs),
      this.views, this.info);
    this.showTab();
  }

  destroy(): void {
    this.abort?.abort();
    this.graph.destroy();
  }

  private setTab(t: 0 | 1): void {
    if (this.s.tab === t) return;
    this.s.tab = t;
    this.showTab();
    this.execute(true);
  }

  private showTab(): void {
    this.tabs.forEach((b, i) => {
      b.setAttribute("aria-selected", String(i === this.s.tab));
      b.tabIndex = i === this.s.tab ? 0 : -1;
    });
    this.views.forEach((v, i) => (v.hidden = i !== this.s.tab));
    this.el.querySelectorAll<HTMLElement>(".preset").forEach((b) => b.classList.toggle("on", b.dataset.range === this.s.range));
  }

  private fail(e: unknown): void {
    if ((e as Error).name === "AbortError") return;
    const msg = e instanceof ApiError ? e.message : String(e);
    const pos = errorPosition(msg);
    const parts: (Node | string)[] = [h("div", { class: "error-text" }, msg)];
    if (pos) {
      const line = this.editor.value.split("\n")[pos.line - 1];
      if (line !== undefined)
        parts.push(h("pre", { class: "error-pos" }, line + "\n" + " ".repeat(Math.max(0, pos.col - 1)) + "^"));
    }
    replace(this.error, parts);
    this.error.hidden = false;
    this.el.dataset.state = "error";
  }

  async execute(push: boolean): Promise<void> {
    this.showTab();
    this.changed(push);
    this.abort?.abort();
    const expr = this.editor.value.trim();
    this.error.hidden = true;
    if (!expr) return;
    const ac = (this.abort = new AbortController());
    const t0 = performance.now();
    this.el.dataset.state = "loading";
    try {
      if (this.s.tab === 1) {
        const time = parseTime(this.s.moment);
        if (time === null) throw new Error(`invalid evaluation time "${this.s.moment}"`);
        const d = await api<QueryData>("api/v1/query", { query: expr, time: time.toFixed(3) }, { signal: ac.signal });
        const t1 = performance.now();
        this.renderTable(d);
        this.done(t0, t1, this.countOf(d));
      } else {
        const range = parseDuration(this.s.range);
        if (range === null) throw new Error(`invalid range "${this.s.range}"`);
        const end = parseTime(this.s.end);
        if (end === null) throw new Error(`invalid end time "${this.s.end}"`);
        const step = this.s.step ? parseDuration(this.s.step) : Math.max(Math.floor(range / 250), 1);
        if (step === null) throw new Error(`invalid step "${this.s.step}"`);
        const stop = Math.round(end * 1000) / 1000, start = stop - range;
        const d = await api<QueryData>("api/v1/query_range", { query: expr, start: start.toFixed(3), end: stop.toFixed(3), step }, { signal: ac.signal });
        const t1 = performance.now();
        const series = d.resultType === "matrix" ? (d.result as RangeSeries[]) : [];
        this.graph.draw(series, { start, end: stop, step, stacked: this.s.stacked });
        this.done(t0, t1, series.length);
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private countOf(d: QueryData): number {
    return Array.isArray(d.result) && (d.resultType === "vector" || d.resultType === "matrix") ? d.result.length : 1;
  }

  private done(t0: number, t1: number, n: number): void {
    // after layout and paint of what was drawn
    requestAnimationFrame(() => {
      const t2 = performance.now();
      this.el.dataset.fetchMs = (t1 - t0).toFixed(1);
      this.el.dataset.renderMs = (t2 - t0).toFixed(1);
      this.el.dataset.state = "done";
      replace(this.info, `${n} result${n === 1 ? "" : "s"} · query ${(t1 - t0).toFixed(0)} ms · shown ${(t2 - t0).toFixed(0)} ms`);
    });
  }

  private renderTable(d: QueryData): void {
    let rows: (string | Node)[][] = [];
    if (d.resultType === "vector") {
      rows = (d.result as { metric: Record<string, string>; value: [number, string] }[])
        .slice(0, MAX_ROWS).map((r) => [seriesText(r.metric), r.value[1]]);
    } else if (d.resultType === "matrix") {
      rows = (d.result as RangeSeries[]).slice(0, MAX_ROWS).map((r) =>
        [seriesText(r.metric), r.values.map(([t, v]) => `${v} @${t}`).join("\n")]);
    } else {
      const [, v] = d.result as [number, string];
      rows = [[d.resultType, v]];
    }
    if (!rows.length) {
      replace(this.tableHost, h("p", { class: "empty" }, "Empty query result"));
      return;
    }
    const n = Array.isArray(d.result) && d.resultType !== "scalar" && d.resultType !== "string" ? d.result.length : 1;
    replace(this.tableHost, table(["Series", "Value"], rows, "grid results"),
      n > MAX_ROWS ? h("p", { class: "note" }, `showing the first ${MAX_ROWS} of ${n} results`) : null);
  }
}

export function explore(root: HTMLElement): () => void {
  const states = readState(location.search);
  const panels: Panel[] = [];
  const list = h("div", { class: "panels" });
  const sync = (push: boolean) => {
    const url = `${location.pathname}${writeState(panels.map((p) => p.s))}`;
    if (url === `${location.pathname}${location.search}`) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  };
  const add = (s: PanelState) => {
    const p: Panel = new Panel(s, sync, () => {
      const i = panels.indexOf(p);
      if (i >= 0) panels.splice(i, 1);
      p.destroy();
      p.el.remove();
      if (!panels.length) add(blank());
      sync(true);
    });
    panels.push(p);
    list.appendChild(p.el);
    return p;
  };
  for (const s of states) add(s);
  replace(root, list, h("button", { type: "button", class: "add", onclick: () => { add(blank()); sync(true); } }, "Add panel"));
  for (const p of panels) if (p.s.expr) void p.execute(false);
  return () => panels.forEach((p) => p.destroy());
}
