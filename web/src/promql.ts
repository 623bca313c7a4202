// A light PromQL tokenizer for highlighting and for knowing what the cursor is in (for completion). It
// never rejects input: the server's parser is the judge of what is valid.

export const FUNCTIONS = (
  "abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min " +
  "cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor " +
  "histogram_count histogram_fraction histogram_quantile histogram_sum holt_winters hour idelta increase irate " +
  "label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi predict_linear " +
  "present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_desc sqrt " +
  "stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year"
).split(" ");
export const AGGREGATIONS = "sum avg count min max group stddev stdvar topk bottomk quantile count_values".split(" ");
export const KEYWORDS = "by without on ignoring group_left group_right offset bool and or unless atan2".split(" ");

export type TokKind = "ws" | "comment" | "string" | "number" | "duration" | "func" | "agg" | "keyword" | "metric" |
  "label" | "op" | "paren" | "brace" | "bracket" | "comma" | "other";
export interface Token { kind: TokKind; text: string; start: number; end: number; }

const isIdentStart = (c: string) => /[A-Za-z_:]/.test(c);
const isIdent = (c: string) => /[A-Za-z0-9_:]/.test(c);

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0, braces = 0, brackets = 0;
  const push = (kind: TokKind, start: number) => out.push({ kind, text: src.slice(start, i), start, end: i });
  while (i < src.length) {
    const c = src[i], s = i;
    if (/\s/.test(c)) {
      while (i < src.length && /\s/.test(src[i])) i++;
      push("ws", s);
    } else if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      push("comment", s);
    } else if (c === '"' || c === "'" || c === "`") {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === "\\" && c !== "`" ? 2 : 1;
      i = Math.min(i + 1, src.length);
      push("string", s);
    } else if (/[0-9.]/.test(c) && (/[0-9]/.test(c) || /[0-9]/.test(src[i + 1] ?? ""))) {
      while (i < src.length && /[0-9A-Za-z_.+]/.test(src[i]) && !(src[i] === "+" && !/[eE]/.test(src[i - 1]))) i++;
      push(brackets > 0 || /[smhdwy]$/.test(src.slice(s, i)) && !/^0x/i.test(src.slice(s, i)) ? "duration" : "number", s);
    } else if (isIdentStart(c)) {
      while (i < src.length && isIdent(src[i])) i++;
      const w = src.slice(s, i);
      let j = i;
      while (j < src.length && /\s/.test(src[j])) j++;
      const next = src[j];
      let kind: TokKind;
      if (braces > 0) kind = "label";
      else if (KEYWORDS.includes(w.toLowerCase()) || ["inf", "nan"].includes(w.toLowerCase())) kind = "keyword";
      else if (AGGREGATIONS.includes(w.toLowerCase()) && (next === "(" || /^\s*(by|without)\b/i.test(src.slice(i)))) kind = "agg";
      else if (FUNCTIONS.includes(w) && next === "(") kind = "func";
      else kind = "metric";
      push(kind, s);
    } else if (c === "{" || c === "}") {
      braces += c === "{" ? 1 : -1;
      if (braces < 0) braces = 0;
      i++;
      push("brace", s);
    } else if (c === "[" || c === "]") {
      brackets += c === "[" ? 1 : -1;
      if (brackets < 0) brackets = 0;
      i++;
      push("bracket", s);
    } else if (c === "(" || c === ")") {
      i++;
      push("paren", s);
    } else if (c === ",") {
      i++;
      push("comma", s);
    } else if (/[-+*/%^=!<>~@:]/.test(c)) {
      i++;
      if (/[=~]/.test(src[i] ?? "") && /[=!<>]/.test(c)) i++;
      push("op", s);
    } else {
      i++;
      push("other", s);
    }
  }
  return out;
}

// What the word ending at `pos` is, for completion.
export type Context =
  | { kind: "name"; prefix: string; start: number }                       // metric, function, keyword
  | { kind: "label"; prefix: string; start: number; metric: string }      // a label name inside {…} or by (…)
  | { kind: "value"; prefix: string; start: number; label: string; quote: string } // a label value inside quotes
  | { kind: "none" };

export function contextAt(src: string, pos: number): Context {
  const before = src.slice(0, pos);
  const toks = tokenize(before);
  const last = toks[toks.length - 1];
  // inside an unterminated string after label=
  if (last && last.kind === "string" && (last.text.length === 1 || last.text[last.text.length - 1] !== last.text[0] || last.text.length < 2)) {
    let k = toks.length - 2;
    while (k >= 0 && toks[k].kind === "ws") k--;
    if (k >= 0 && toks[k].kind === "op") {
      let l = k - 1;
      while (l >= 0 && toks[l].kind === "ws") l--;
      if (l >= 0 && toks[l].kind === "label")
        return { kind: "value", prefix: last.text.slice(1), start: last.start + 1, label: toks[l].text, quote: last.text[0] };
    }
    return { kind: "none" };
  }
  const word = last && ["metric", "label", "func", "agg", "keyword"].includes(last.kind) ? last : null;
  const prefix = word ? word.text : "";
  const start = word ? word.start : pos;
  // inside {…}: label names; inside by (…)/without (…)/on (…)/ignoring (…): label names too
  let depthBrace = 0, depthParen = 0, grouping = false, metric = "";
  for (let k = toks.length - 1; k >= 0; k--) {
    const t = toks[k];
    if (t.kind === "brace") {
      if (t.text === "}") depthBrace++;
      else if (depthBrace === 0) {
        let m = k - 1;
        while (m >= 0 && toks[m].kind === "ws") m--;
        if (m >= 0 && toks[m].kind === "metric") metric = toks[m].text;
        return word && word.kind !== "label" && word.start < t.start ? { kind: "none" } : { kind: "label", prefix, start, metric };
      } else depthBrace--;
    } else if (t.kind === "paren") {
      if (t.text === ")") depthParen++;
      else if (depthParen === 0) {
        let m = k - 1;
        while (m >= 0 && toks[m].kind === "ws") m--;
        grouping = m >= 0 && /^(by|without|on|ignoring|group_left|group_right)$/i.test(toks[m].text);
        break;
      } else depthParen--;
    }
  }
  if (grouping) return { kind: "label", prefix, start, metric: "" };
  if (last && last.kind === "bracket" && last.text === "[") return { kind: "none" };
  if (last && (last.kind === "duration" || last.kind === "number" || last.kind === "string")) return { kind: "none" };
  return { kind: "name", prefix, start };
}

// "1:10: parse error: …" or "… at position 10": the 1-based line and column the message names.
export function errorPosition(msg: string): { line: number; col: number } | null {
  const m = /(?:^|\s|")(\d+):(\d+)(?::\d+)?:\s/.exec(msg);
  if (m) return { line: Number(m[1]), col: Number(m[2]) };
  return null;
}
