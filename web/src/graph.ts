// The graph of a range query: uPlot over the step grid of the query, a legend that lists every series
// (click to hide or show one) and a hover box with the time and the series nearest the cursor.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h, replace, seriesText } from "./dom";

export interface RangeSeries { metric: Record<string, string>; values: [number, string][]; }

export function color(i: number): string {
  return `hsl(${Math.round((i * 137.508) % 360)}, 65%, 42%)`;
}

function num(s: string): number | null {
  const v = s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : parseFloat(s);
  return isFinite(v) ? v : null;
}

function fmtValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1e4) / 1e4);
}

export interface GraphOpts { start: number; end: number; step: number; stacked: boolean; }

export class Graph {
  private plot: uPlot | null = null;
  private ro: ResizeObserver;
  private raw: (number | null)[][] = [];
  private labels: string[] = [];

  constructor(readonly el: HTMLElement, readonly legend: HTMLElement, readonly hover: HTMLElement) {
    // only a real change of width redraws (the observer also reports the size it starts with)
    this.ro = new ResizeObserver(() => {
      const w = this.width();
      if (this.plot && w !== this.plot.width) this.plot.setSize({ width: w, height: 320 });
    });
    this.ro.observe(el);
  }

  private width(): number {
    return Math.max(this.el.clientWidth, 300);
  }

  destroy(): void {
    this.ro.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }

  draw(result: RangeSeries[], o: GraphOpts): void {
    this.plot?.destroy();
    this.plot = null;
    const n = Math.max(1, Math.floor((o.end - o.start) / o.step) + 1);
    const xs = new Array<number>(n);
    for (let i = 0; i < n; i++) xs[i] = o.start + i * o.step;
    this.raw = result.map((s) => {
      const ys = new Array<number | null>(n).fill(null);
      for (const [t, v] of s.values) {
        const i = Math.round((t - o.start) / o.step);
        if (i >= 0 && i < n) ys[i] = num(v);
      }
      return ys;
    });
    this.labels = result.map((s) => seriesText(s.metric));
    let ys = this.raw;
    let order = result.map((_, i) => i);
    if (o.stacked) {
      const acc = new Array<number>(n).fill(0);
      ys = this.raw.map((r) => r.map((v, i) => (v === null ? null : (acc[i] += v))));
      order = order.reverse(); // the highest sum first, so each lower band is painted over it
    }
    const many = result.length > 50;
    const series: uPlot.Series[] = [{}];
    for (const i of order) {
      series.push({
        label: this.labels[i], stroke: color(i), width: 1.25,
        fill: o.stacked ? color(i).replace("hsl", "hsla").replace(")", ", 0.35)") : undefined,
        points: { show: false }, spanGaps: false,
      });
    }
    const data = [xs, ...order.map((i) => ys[i])] as uPlot.AlignedData;
    const opts: uPlot.Options = {
      width: this.width(), height: 320, series,
      legend: { show: false },
      cursor: { points: { show: !many }, drag: { x: true, y: false } },
      scales: { x: { time: true } },
      axes: [{}, { size: 60, values: (_u, vals) => vals.map((v) => fmtValue(v)) }],
      hooks: { setCursor: [(u) => this.onCursor(u, order)] },
    };
    const t0 = performance.now();
    this.plot = new uPlot(opts, data, this.el);
    const t1 = performance.now();
    this.renderLegend(result, order);
    this.el.dataset.plotMs = (t1 - t0).toFixed(1);
    this.el.dataset.legendMs = (performance.now() - t1).toFixed(1);
  }

  private renderLegend(result: RangeSeries[], order: number[]): void {
    replace(this.legend, result.map((_, i) =>
      h("li", {
        class: "legend-item", title: "click to hide or show",
        onclick: (e: Event) => {
          const li = e.currentTarget as HTMLElement;
          const on = li.classList.toggle("off");
          this.plot?.setSeries(order.indexOf(i) + 1, { show: !on });
        },
      }, this.swatch(i), h("span", { class: "legend-label" }, this.labels[i]))));
  }

  private swatch(i: number): HTMLElement {
    const s = h("span", { class: "swatch" });
    s.style.backgroundColor = color(i);
    return s;
  }

  private onCursor(u: uPlot, order: number[]): void {
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
      this.hover.hidden = true;
      return;
    }
    const y = u.posToVal(u.cursor.top ?? 0, "y");
    const shown = order.map((src, k) => ({ src, k })).filter(({ k }) => u.series[k + 1].show !== false);
    const near = shown
      .map(({ src, k }) => ({ src, v: this.raw[src][idx], d: Math.abs(((u.data[k + 1][idx] as number | null) ?? Infinity) - y) }))
      .filter((e) => e.v !== null)
      .sort((a, b) => a.d - b.d)
      .slice(0, 6);
    const t = new Date((u.data[0][idx] as number) * 1000);
    replace(this.hover, h("div", { class: "hover-time" }, t.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")),
      near.map((e) => h("div", { class: "hover-row" }, this.swatch(e.src),
        h("span", { class: "hover-value" }, fmtValue(e.v)), " ", h("span", { class: "hover-label" }, this.labels[e.src]))));
    this.hover.hidden = near.length === 0;
    const left = u.cursor.left + 16;
    this.hover.style.left = `${Math.min(left, this.width() - 260)}px`;
    this.hover.style.top = `${(u.cursor.top ?? 0) + 10}px`;
  }
}
