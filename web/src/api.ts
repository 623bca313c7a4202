// The API client: every call carries the signed-in credential (sessionStorage only: never in a URL or
// a cookie) as `Authorization: Bearer …`; a 401 sends the user back to sign-in.

const KEY = "vigil.credential";

export function credential(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setCredential(v: string | null): void {
  if (v) sessionStorage.setItem(KEY, v);
  else sessionStorage.removeItem(KEY);
  window.dispatchEvent(new Event("vigil:credential"));
}

export class ApiError extends Error {
  constructor(public status: number, public errorType: string, message: string) {
    super(message);
  }
}

export type Params = Record<string, string | number | undefined> | [string, string][];

export function query(params?: Params): string {
  const q = new URLSearchParams();
  if (Array.isArray(params)) for (const [k, v] of params) q.append(k, v);
  else if (params) for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.append(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// Calls path (relative to the page, so vigil behind a path prefix works) and answers `data` of the
// Prometheus success shape, or the whole body for endpoints that answer another shape.
export async function api<T = unknown>(path: string, params?: Params, init: { method?: string; signal?: AbortSignal; body?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const c = credential();
  if (c) headers.Authorization = `Bearer ${c}`;
  let r: Response;
  try {
    r = await fetch(path + query(params), { method: init.method ?? "GET", headers, body: init.body, signal: init.signal, credentials: "omit", cache: "no-store" });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "network", `cannot reach vigil: ${(e as Error).message}`);
  }
  const text = await r.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const obj = body as { status?: string; data?: unknown; error?: string; errorType?: string } | null;
  if (r.status === 401) {
    window.dispatchEvent(new CustomEvent("vigil:unauthorized", { detail: obj?.error ?? "" }));
    throw new ApiError(401, "unauthorized", obj?.error ?? "sign-in needed");
  }
  if (!r.ok || obj?.status === "error") {
    throw new ApiError(r.status, obj?.errorType ?? "http", obj?.error ?? (text.trim() || `HTTP ${r.status}`));
  }
  if (obj && obj.status === "success" && "data" in obj) return obj.data as T;
  return body as T;
}
