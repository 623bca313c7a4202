// The console's shell: navigation between its views (client-side, one page served at each of its
// paths), the sign-in box shown whenever the API answers 401, and who is signed in.

import "./style.css";
import { api, credential, setCredential } from "./api";
import { h, replace } from "./dom";
import { explore } from "./explore";
import { alerts, rules, status, targets, tenant } from "./pages";

const VIEWS: [string, string, (root: HTMLElement) => (() => void) | Promise<void>][] = [
  ["graph", "Explore", explore],
  ["targets", "Targets", targets],
  ["rules", "Rules", rules],
  ["alerts", "Alerts", alerts],
  ["status", "Status", status],
  ["tenant", "Tenant", tenant],
];

const main = h("main", { id: "view" });
const who = h("span", { class: "who" });
const signOut = h("button", { type: "button", class: "link", hidden: true, onclick: () => { setCredential(null); route(); } }, "Sign out");
let cleanup: (() => void) | null = null;
let signingIn = false;

function current(): string {
  const p = location.pathname.replace(/\/+$/, "").split("/").pop() ?? "";
  return VIEWS.some(([id]) => id === p) ? p : "graph";
}

function nav(): HTMLElement {
  return h("nav", { class: "top" },
    h("a", { class: "brand", href: "graph", "data-view": "graph" }, "vigil"),
    VIEWS.map(([id, label]) => h("a", { href: id, "data-view": id, class: "nav" }, label)),
    h("span", { class: "spacer" }), who, signOut);
}

function route(): void {
  cleanup?.();
  cleanup = null;
  signingIn = false;
  const id = current();
  document.querySelectorAll<HTMLAnchorElement>("nav a.nav").forEach((a) => a.setAttribute("aria-current", a.dataset.view === id ? "page" : "false"));
  const view = VIEWS.find(([v]) => v === id)!;
  document.title = `${view[1]} · vigil`;
  const r = view[2](main);
  if (typeof r === "function") cleanup = r;
  void whoami();
}

async function whoami(): Promise<void> {
  signOut.hidden = !credential();
  try {
    const s = await api<{ tenant: string; admin: boolean; anonymous: boolean }>("api/v1/tenants/self");
    who.textContent = s.anonymous ? "" : s.admin ? `admin${s.tenant ? ` · ${s.tenant}` : ""}` : `tenant ${s.tenant}`;
  } catch {
    who.textContent = "";
  }
}

// The credential is kept in this tab's sessionStorage only and sent as a bearer token.
function signIn(reason: string): void {
  if (signingIn) return;
  signingIn = true;
  cleanup?.();
  cleanup = null;
  const input = h("textarea", { class: "token", "aria-label": "Token", rows: 4, spellcheck: "false", autocomplete: "off",
    placeholder: "a JWT (eyJ…) or a vigil API key (vgk_…)" });
  const submit = (e: Event) => {
    e.preventDefault();
    const v = input.value.trim().replace(/^Bearer\s+/i, "");
    if (!v) return;
    setCredential(v);
    route();
  };
  replace(main, h("form", { class: "signin", onsubmit: submit },
    h("h1", null, "Sign in"),
    h("p", null, "vigil needs a credential for this. Paste a JWT issued for vigil or a vigil API key; it is kept in this browser tab only."),
    reason ? h("p", { class: "error", role: "alert" }, reason) : null,
    input,
    h("button", { type: "submit", class: "primary" }, "Sign in")));
  input.focus();
}

function start(): void {
  const app = document.getElementById("app")!;
  replace(app, nav(), main);
  document.addEventListener("click", (e) => {
    const a = (e.target as Element).closest?.("a[data-view]") as HTMLAnchorElement | null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    if (a.dataset.view !== current() || location.search) history.pushState(null, "", a.getAttribute("href")!);
    route();
  });
  window.addEventListener("popstate", route);
  window.addEventListener("vigil:unauthorized", (e) => signIn((e as CustomEvent<string>).detail));
  route();
}

start();
