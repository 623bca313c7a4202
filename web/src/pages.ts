// The read-only pages: Targets, Rules, Alerts, Status, and Tenant (who am I, limits, usage, vigil API
// keys, Grafana tokens). Each fetches its API and renders it as text.

import { ApiError, api } from "./api";
import { Child, ago, bytes, h, replace, table } from "./dom";

type Labels = Record<string, string>;

function failure(e: unknown): HTMLElement {
  return h("div", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e));
}

function kv(obj: Record<string, unknown>): HTMLTableElement {
  return table(["Name", "Value"], Object.entries(obj).map(([k, v]) =>
    [k, v !== null && typeof v === "object" ? JSON.stringify(v) : String(v)]), "grid kv");
}

function labelChips(l: Labels): HTMLElement {
  return h("span", { class: "chips" }, Object.entries(l).map(([k, v]) => h("span", { class: "chip" }, `${k}=${JSON.stringify(v)}`)));
}

function health(s: string): HTMLElement {
  return h("span", { class: `health health-${s}` }, s);
}

async function section(root: HTMLElement, title: string, load: () => Promise<Child | Child[]>): Promise<void> {
  const body = h("div", { class: "section-body" }, h("p", { class: "loading" }, "loading…"));
  root.appendChild(h("section", { class: "page-section" }, h("h2", null, title), body));
  try {
    replace(body, await load());
  } catch (e) {
    replace(body, failure(e));
  }
}

interface Target {
  labels: Labels; discoveredLabels: Labels; scrapePool: string; scrapeUrl: string; lastError: string;
  lastScrape: string; lastScrapeDuration: number; health: string; scrapeInterval: string;
}

export async function targets(root: HTMLElement): Promise<void> {
  replace(root, h("h1", null, "Targets"));
  await section(root, "Scrape pools", async () => {
    const d = await api<{ activeTargets: Target[] }>("api/v1/targets", { state: "active" });
    if (!d.activeTargets.length) return h("p", { class: "empty" }, "No targets");
    const pools = new Map<string, Target[]>();
    for (const t of d.activeTargets) pools.set(t.scrapePool, [...(pools.get(t.scrapePool) ?? []), t]);
    return [...pools.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([pool, ts]) => {
      const up = ts.filter((t) => t.health === "up").length;
      return h("div", { class: "pool", "data-pool": pool },
        h("h3", null, pool, h("span", { class: `count ${up === ts.length ? "ok" : "bad"}` }, ` (${up}/${ts.length} up)`)),
        table(["Endpoint", "State", "Labels", "Last scrape", "Duration", "Error"], ts.map((t) => [
          t.scrapeUrl, health(t.health), labelChips(t.labels), ago(t.lastScrape),
          `${(t.lastScrapeDuration * 1000).toFixed(1)} ms`, t.lastError ? h("span", { class: "err" }, t.lastError) : "",
        ])));
    });
  });
}

interface Alert { labels: Labels; annotations: Labels; state: string; activeAt: string; value: string; }
interface Rule {
  name: string; query: string; type: "alerting" | "recording"; health: string; lastError?: string; state?: string;
  duration?: number; labels?: Labels; alerts?: Alert[]; evaluationTime: number; lastEvaluation: string;
}
interface Group { name: string; file: string; rules: Rule[]; interval: number; evaluationTime: number; lastEvaluation: string; }

export async function rules(root: HTMLElement): Promise<void> {
  replace(root, h("h1", null, "Rules"));
  await section(root, "Rule groups", async () => {
    const d = await api<{ groups: Group[] }>("api/v1/rules");
    if (!d.groups.length) return h("p", { class: "empty" }, "No rules");
    return d.groups.map((g) => h("div", { class: "group" },
      h("h3", null, g.name, h("span", { class: "muted" }, ` ${g.file} · every ${g.interval}s · last ${ago(g.lastEvaluation)}`)),
      table(["Rule", "Health", "Last evaluation", "Evaluation time", "Error"], g.rules.map((r) => [
        h("div", null, h("div", { class: "rule-name" }, `${r.type === "alerting" ? "alert" : "record"}: ${r.name}`),
          h("pre", { class: "rule-query" }, r.query), r.labels && Object.keys(r.labels).length ? labelChips(r.labels) : null),
        health(r.health), ago(r.lastEvaluation), `${(r.evaluationTime * 1000).toFixed(2)} ms`, r.lastError ?? "",
      ]))));
  });
}

export async function alerts(root: HTMLElement): Promise<void> {
  replace(root, h("h1", null, "Alerts"));
  await section(root, "Alerting rules", async () => {
    const d = await api<{ groups: Group[] }>("api/v1/rules", { type: "alert" });
    const rs = d.groups.flatMap((g) => g.rules);
    if (!rs.length) return h("p", { class: "empty" }, "No rules");
    return table(["Rule", "State", "Active alerts", "Query"], rs.map((r) =>
      [r.name, h("span", { class: `state state-${r.state}` }, r.state ?? ""), String(r.alerts?.length ?? 0), h("pre", { class: "rule-query" }, r.query)]));
  });
  await section(root, "Active alerts", async () => {
    const d = await api<{ alerts: Alert[] }>("api/v1/alerts");
    if (!d.alerts.length) return h("p", { class: "empty" }, "No alerts pending or firing");
    return table(["Labels", "State", "Active since", "Value", "Annotations"], d.alerts.map((a) => [
      labelChips(a.labels), h("span", { class: `state state-${a.state}` }, a.state), a.activeAt, a.value,
      h("div", null, Object.entries(a.annotations).map(([k, v]) => h("div", null, h("b", null, k), ": ", v))),
    ]));
  });
}

interface TopEntry { name: string; value: number; }
interface Tsdb {
  headStats: { numSeries: number; numLabelPairs: number; chunkCount: number; minTime: number; maxTime: number; };
  seriesCountByMetricName: TopEntry[]; labelValueCountByLabelName: TopEntry[];
  memoryInBytesByLabelName: TopEntry[]; seriesCountByLabelValuePair: TopEntry[];
}

export async function status(root: HTMLElement): Promise<void> {
  replace(root, h("h1", null, "Status"));
  await section(root, "Build information", async () => kv(await api("api/v1/status/buildinfo")));
  await section(root, "Components", async () => {
    const d = await api<{ version: string; uptime_seconds: number; ready: boolean; components: Record<string, { status: string; message: string; since: string }> }>("api/v1/status");
    return [
      kv({ version: d.version, uptime: `${Math.round(d.uptime_seconds)} s`, ready: d.ready }),
      table(["Component", "Status", "Message", "Since"], Object.entries(d.components).map(([n, c]) => [n, health(c.status), c.message, c.since])),
    ];
  });
  await section(root, "Runtime information", async () => {
    try {
      return kv(await api("api/v1/status/runtimeinfo"));
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) return h("p", { class: "notice" }, "Runtime information is shown to admins only.");
      throw e;
    }
  });
  await section(root, "TSDB cardinality", async () => {
    const d = await api<Tsdb>("api/v1/status/tsdb");
    const top = (title: string, rows: TopEntry[], col: string, fmt = (v: number) => String(v)) =>
      h("div", { class: "top" }, h("h3", null, title), rows.length ? table(["Name", col], rows.map((r) => [r.name, fmt(r.value)])) : h("p", { class: "empty" }, "none"));
    const hs = d.headStats;
    return [
      kv({ series: hs.numSeries, "label pairs": hs.numLabelPairs, chunks: hs.chunkCount,
        "min time": hs.minTime > 0 ? new Date(hs.minTime).toISOString() : "–", "max time": hs.maxTime > 0 ? new Date(hs.maxTime).toISOString() : "–" }),
      h("div", { class: "tops" },
        top("Top metrics by series", d.seriesCountByMetricName, "Series"),
        top("Top label names by values", d.labelValueCountByLabelName, "Values"),
        top("Top label pairs by series", d.seriesCountByLabelValuePair, "Series"),
        top("Top label names by memory", d.memoryInBytesByLabelName, "Memory", bytes)),
    ];
  });
  await section(root, "Configuration", async () => {
    try {
      const d = await api<{ yaml: string }>("api/v1/status/config");
      return h("pre", { class: "config" }, d.yaml);
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) return h("p", { class: "notice" }, "The configuration is shown to admins only (this credential is not an admin's).");
      throw e;
    }
  });
}

interface Self {
  tenant: string; subject: string; admin: boolean; anonymous: boolean;
  enforced?: { label: string; values: string[] }; limits: Record<string, unknown>; usage: Record<string, unknown>;
}
interface ApiKey { id: number; name: string; created: string; grafana: boolean; }
interface GToken { id: number; name: string; created: string; expires: string; last_used: string; expired: boolean; }

export async function tenant(root: HTMLElement): Promise<void> {
  replace(root, h("h1", null, "Tenant"));
  let self: Self | null = null;
  await section(root, "Who am I", async () => {
    self = await api<Self>("api/v1/tenants/self");
    const s = self;
    const who = s.anonymous ? "anonymous (authentication is off: every request is served unscoped)"
      : s.admin && !s.tenant ? "an admin, across all tenants" : s.tenant;
    return kv({
      identity: who, tenant: s.tenant || "–", subject: s.subject || "–", admin: s.admin,
      "enforced matcher": s.enforced ? `${s.enforced.label}${s.enforced.values.length > 1 ? "=~" : "="}${JSON.stringify(s.enforced.values.join("|"))}` : "none",
    });
  });
  const s = self as Self | null;
  if (!s) return;
  await section(root, "Limits", async () => kv(s.limits));
  await section(root, "Usage", async () => kv(s.usage));
  await section(root, "API keys", async () => apiKeys(s));
  await section(root, "Grafana tokens", async () => grafanaTokens(s));
}

// Tokens of the tenant's Grafana service account. An admin (no tenant of its own) names the tenant to act
// for: the Grafana endpoints are the only ones where vigil lets an admin act as a tenant.
async function grafanaTokens(s: Self): Promise<HTMLElement> {
  try {
    await api("api/v1/grafana/health");
  } catch (e) {
    // not configured: say so instead of offering buttons that cannot work; Grafana down: carry on
    if (e instanceof ApiError && e.status === 503 && /not configured/.test(e.message))
      return h("p", { class: "notice" }, `Grafana tokens are not available: ${e.message}`);
  }
  const host = h("div", { class: "tokens" });
  const out = h("div", { class: "token-out" });
  const tenantInput = h("input", { type: "text", "aria-label": "Tenant", placeholder: "tenant id" });
  const params = () => (s.tenant ? {} : { tenant: tenantInput.value.trim() });
  const load = async () => {
    replace(host, h("p", { class: "loading" }, "loading…"));
    try {
      const list = await api<GToken[]>("api/v1/metrics/grafana-tokens", params());
      replace(host, list.length ? table(["Name", "Created", "Expires", "Last used", ""], list.map((t) => [
        t.name + (t.expired ? " (expired)" : ""), t.created, t.expires, t.last_used || "never",
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm(`Revoke ${t.name}?`)) return;
          try {
            await api(`api/v1/metrics/grafana-tokens/${encodeURIComponent(String(t.id))}`, params(), { method: "DELETE" });
            await load();
          } catch (e) {
            replace(out, failure(e));
          }
        } }, "Revoke"),
      ])) : h("p", { class: "empty" }, "No Grafana tokens"));
    } catch (e) {
      replace(host, e instanceof ApiError && e.status === 503
        ? h("p", { class: "notice" }, `Grafana tokens are not available: ${e.message}`) : failure(e));
    }
  };
  const create = h("button", { type: "button", class: "primary", onclick: async () => {
    try {
      const t = await api<{ token: string; name: string; grafana_url: string; message?: string }>("api/v1/metrics/grafana-token", params(), { method: "POST" });
      replace(out, h("div", { class: "notice" }, h("p", null, `Created ${t.name}. Copy the token now: it is not shown again.`),
        h("pre", { class: "secret" }, t.token), t.grafana_url ? h("p", null, "Grafana: ", t.grafana_url) : null));
      await load();
    } catch (e) {
      replace(out, failure(e));
    }
  } }, "Create token");
  const admin = !s.tenant;
  const bar = h("div", { class: "controls" },
    admin ? h("label", null, "Act for tenant ", tenantInput, h("button", { type: "button", onclick: () => void load() }, "Show")) : null, create);
  if (!admin) void load();
  else replace(host, h("p", { class: "muted" }, "As an admin, name the tenant whose Grafana tokens to manage."));
  return h("div", null, bar, out, host);
}


// The tenant's vigil API keys: list, create (the key is shown once, with a copy button), revoke. An admin
// (no tenant of its own) names the tenant to act for, as for the Grafana tokens.
async function apiKeys(s: Self): Promise<HTMLElement> {
  const host = h("div", { class: "apikeys" });
  const out = h("div", { class: "apikey-out" });
  const tenantInput = h("input", { type: "text", "aria-label": "Tenant for API keys", placeholder: "tenant id" });
  const nameInput = h("input", { type: "text", "aria-label": "Key name", placeholder: "key name", maxlength: 64 });
  const params = () => (s.tenant ? {} : { tenant: tenantInput.value.trim() });
  const revoke = async (k: ApiKey) => {
    const what = k.grafana ? `${k.name} is the key of the Grafana datasource: its dashboards stop working until the credential is rotated. Revoke it anyway?`
      : `Revoke the API key ${k.name}? Clients using it are refused at once.`;
    if (!confirm(what)) return;
    try {
      await api(`api/v1/tenants/self/api-keys/${encodeURIComponent(String(k.id))}`, { ...params(), ...(k.grafana ? { grafana: "true" } : {}) }, { method: "DELETE" });
      replace(out, h("p", { class: "notice" }, `Revoked ${k.name}.`));
      await load();
    } catch (e) {
      replace(out, failure(e));
    }
  };
  const load = async () => {
    replace(host, h("p", { class: "loading" }, "loading…"));
    try {
      const list = await api<ApiKey[]>("api/v1/tenants/self/api-keys", params());
      replace(host, list.length ? table(["ID", "Name", "Created", ""], list.map((k) => [
        String(k.id), k.grafana ? `${k.name} (Grafana datasource)` : k.name, k.created,
        h("button", { type: "button", class: "danger", "data-key-id": String(k.id), onclick: () => void revoke(k) }, "Revoke"),
      ]), "grid apikey-list") : h("p", { class: "empty" }, "No API keys"));
    } catch (e) {
      replace(host, failure(e));
    }
  };
  const create = async (ev: Event) => {
    ev.preventDefault();
    try {
      const k = await api<ApiKey & { key: string }>("api/v1/tenants/self/api-keys", params(), { method: "POST", body: JSON.stringify({ name: nameInput.value.trim() }) });
      const secret = h("pre", { class: "secret" }, k.key);
      const copied = h("span", { class: "muted" });
      const copy = h("button", { type: "button", onclick: async () => {
        try {
          await navigator.clipboard.writeText(k.key);
          copied.textContent = "copied";
        } catch {
          // no clipboard (an insecure origin): select the text for the user to copy
          const r = document.createRange();
          r.selectNodeContents(secret);
          getSelection()?.removeAllRanges();
          getSelection()?.addRange(r);
          copied.textContent = "selected: copy it with Ctrl+C";
        }
      } }, "Copy");
      replace(out, h("div", { class: "notice", role: "status" },
        h("p", null, `Created the API key ${k.name}. Copy it now: it is not shown again, and anyone holding it reads and writes as this tenant.`),
        secret, h("div", { class: "controls" }, copy, copied)));
      nameInput.value = "";
      await load();
    } catch (e) {
      replace(out, failure(e));
    }
  };
  const admin = !s.tenant;
  const form = h("form", { class: "controls apikey-create", onsubmit: (ev: Event) => void create(ev) },
    admin ? h("label", null, "Act for tenant ", tenantInput, h("button", { type: "button", onclick: () => void load() }, "Show")) : null,
    h("label", null, "Name ", nameInput), h("button", { type: "submit", class: "primary" }, "Create key"));
  if (!admin) void load();
  else replace(host, h("p", { class: "muted" }, "As an admin, name the tenant whose API keys to manage."));
  return h("div", null, form, out, host);
}
