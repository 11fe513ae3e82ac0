/**
 * Secrets out of everything the runner sends: one `Redactor` per session replaces each secret
 * found (redact-rules.ts) with `[redacted: <rule>]` in every string of every event before it
 * leaves the runner — so the room, its log, snapshots, relays, exports and embeds never hold one.
 * The agent and the workspace keep the real values: only what goes to the room is changed.
 *
 * Streamed text (`part.delta`) is scanned as a stream: the tail that could still be the start of
 * a secret (the last run of non-blank characters, an open `-----BEGIN` block, the start of a
 * secret environment value) is held back until the next delta shows it is not, or the part ends.
 */
import type { EventBody } from "../shared/protocol.ts";
import type { DeltaTarget } from "../shared/delta.ts";
import { PresetScanner, envSecrets, mergeFindings, scanValues, type Finding } from "./redact-rules.ts";

export const marker = (rule: string): string => `[redacted: ${rule}]`;

/** Characters of already-sent text kept as context for the next delta's scan (`AWS_SECRET_ACCESS_KEY=` before a value). */
const CONTEXT_CHARS = 256;
/** Longest run of non-blank characters held whole; a longer one holds only this much of its end. */
const MAX_RUN_HOLD = 1_024;
/** A `-----BEGIN` block held longer than this cannot be a key the rules match (bodies ≤ 10,000). */
const MAX_BLOCK_HOLD = 12_000;
/** No secret the rules know is shorter: shorter strings are not scanned. */
const MIN_SECRET_CHARS = 8;
/** Keys whose values are identifiers the room and clients match on, never text to show. */
const ID_KEY = /^(id|type|role|field|.*ID|.*Id)$/;

const BLOCK_START = "-----BEGIN";
const BLOCK_END = /-----END[ A-Z0-9]*-----/g;

/**
 * How the preset's secrets begin (their fixed prefixes, and URL schemes for passwords in URLs and
 * database strings). A run of text that is, or begins with, one of these — from its start or after
 * a non-word character — is held; any other run cannot begin a secret the preset knows and goes.
 */
const STARTS = [
  "AKIA", "A3T", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ASIA",
  "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "glc_", "glsa_", "npm_",
  "xoxb-", "xoxp-", "xapp-", "xoxa-", "xoxo-", "xoxr-", "SG.", "shppa_", "shpca_", "shpat_", "shpss_",
  "sk-", "gsk_", "hf_", "lin_api_", "ntn_", "ops_", "hvs.", "hvb.", "hvr.", "vcp_", "vci_", "vca_", "vcr_", "vck_",
  "dapi", "dckr_pat_", "figd_", "-----BEGIN", "_authToken=",
  "http://", "https://", "ftp://", "ftps://", "mongodb://", "mongodb+srv://", "mysql://", "mysqlx://", "jdbc:mysql://", "postgres://", "postgresql://",
];
/** A value being assigned to a secret-looking name (`AWS_SECRET_ACCESS_KEY = "...`): the value is held. */
const ASSIGNED = /(?:key|secret|token|password|passwd|auth)[\w-]*["']?\s*(?::|=>|=)\s*["']?[^\s"']*$/i;

/** True when `run` (a run of non-blank characters ending the text so far, after `before` on its line) may begin a secret. */
export function mayBeginSecret(run: string, before: string): boolean {
  if (run.includes("://") || ASSIGNED.test(before + run)) return true;
  for (let j = 0; j < run.length; j++) {
    if (j > 0 && /[A-Za-z0-9]/.test(run[j - 1]!)) continue;
    const rest = run.slice(j);
    for (const p of STARTS) if (rest.length < p.length ? p.startsWith(rest) : rest.startsWith(p)) return true;
  }
  return false;
}

let shared: PresetScanner | null = null;
/** The preset is set up once per process: its handlers keep no state between scans. */
const presetScanner = (): PresetScanner => (shared ??= new PresetScanner());

interface Stream {
  target: DeltaTarget;
  /** The end of the text already sent (real values): what rules need to see before new text. */
  ctx: string;
  /** Text received and not sent yet. */
  held: string;
}

export interface RedactorOptions {
  /** Values to hide besides the preset's findings; default: the secret-looking values of `process.env`. */
  values?: readonly string[];
  /** Rule names the owner allowed for this session (false positives). */
  allowed?: Iterable<string>;
}

export class Redactor {
  private readonly scanner = presetScanner();
  private readonly values: readonly string[];
  private readonly allowed: Set<string>;
  private readonly streams = new Map<string, Stream>();
  /** Distinct secret values hidden so far, and how many per rule. */
  private readonly seen = new Set<string>();
  readonly perRule = new Map<string, number>();

  constructor(opts: RedactorOptions = {}) {
    this.values = opts.values ?? envSecrets();
    this.allowed = new Set(opts.allowed ?? []);
  }

  /** How many distinct secrets were hidden. */
  get count(): number {
    return this.seen.size;
  }

  /** Rule names whose findings are sent as they are from now on. */
  allow(rules: Iterable<string>): void {
    for (const r of rules) this.allowed.add(r);
  }

  get allowedRules(): string[] {
    return [...this.allowed];
  }

  /** Every finding in `text`, merged, minus allowed rules. */
  find(text: string): Finding[] {
    if (text.length < MIN_SECRET_CHARS) return [];
    const found = [...this.scanner.scan(text), ...scanValues(text, this.values)].filter((f) => !this.allowed.has(f.rule));
    return found.length ? mergeFindings(found) : found;
  }

  /** `text` with every secret replaced by its marker. */
  text(text: string): string {
    return this.apply(text, this.find(text), 0, text.length);
  }

  /** `text.slice(from, to)` with the findings inside it replaced; a finding reaching in from before `from` is cut at `from`. */
  private apply(text: string, found: Finding[], from: number, to: number): string {
    let out = "";
    let at = from;
    for (const f of found) {
      if (f.end <= from || f.start >= to) continue;
      const s = Math.max(f.start, from);
      out += text.slice(at, s) + marker(f.rule);
      this.note(text.slice(f.start, f.end), f.rule);
      at = Math.min(f.end, to);
    }
    return at === from && out === "" ? text.slice(from, to) : out + text.slice(at, to);
  }

  private note(secret: string, rule: string): void {
    if (this.seen.has(secret)) return;
    this.seen.add(secret);
    this.perRule.set(rule, (this.perRule.get(rule) ?? 0) + 1);
  }

  /** An event with every string in it redacted (identifiers left alone); the same object when nothing changed. */
  body(b: EventBody): EventBody {
    return this.walk(b) as EventBody;
  }

  private walk(v: unknown): unknown {
    if (typeof v === "string") return this.text(v);
    if (Array.isArray(v)) {
      let copy: unknown[] | null = null;
      v.forEach((x, i) => {
        const r = this.walk(x);
        if (r !== x) (copy ??= [...v])[i] = r;
      });
      return copy ?? v;
    }
    if (v && typeof v === "object") {
      let copy: Record<string, unknown> | null = null;
      for (const [k, x] of Object.entries(v)) {
        if (ID_KEY.test(k)) continue;
        const r = this.walk(x);
        if (r !== x) (copy ??= { ...(v as Record<string, unknown>) })[k] = r;
      }
      return copy ?? v;
    }
    return v;
  }

  /** A streamed delta in; the redacted text that may go now out (possibly empty: all held). */
  stream(target: DeltaTarget, delta: string): string {
    const key = `${target.messageID}\u0000${target.partID}\u0000${target.field}`;
    let s = this.streams.get(key);
    if (!s) this.streams.set(key, (s = { target, ctx: "", held: "" }));
    s.held += delta;
    const window = s.ctx + s.held;
    const base = s.ctx.length;
    const found = this.find(window);
    let cut = base + this.holdFrom(s, window);
    // A finding across the cut may still grow: hold it whole.
    for (const f of found) if (f.start < cut && f.end > cut) cut = Math.max(base, f.start);
    const out = this.apply(window, found, base, cut);
    s.ctx = window.slice(Math.max(0, cut - CONTEXT_CHARS), cut);
    s.held = window.slice(cut);
    return out;
  }

  /** Where in `s.held` the text that could still begin a secret starts (`held.length`: none). */
  private holdFrom(s: Stream, window: string): number {
    const held = s.held;
    const base = s.ctx.length;
    let cut = held.length;
    // The last run of non-blank characters, when it may begin (or be) a secret the next delta completes.
    let i = held.length;
    while (i > 0 && !/\s/.test(held[i - 1]!)) i--;
    const lineStart = window.lastIndexOf("\n", base + i - 1) + 1;
    if (i < held.length && mayBeginSecret(held.slice(i), window.slice(lineStart, base + i))) cut = Math.max(i, held.length - MAX_RUN_HOLD);
    // An open BEGIN block (a private key) is held until its END line.
    const begin = window.lastIndexOf(BLOCK_START);
    if (begin >= 0 && window.length - begin < MAX_BLOCK_HOLD) {
      BLOCK_END.lastIndex = begin;
      if (!BLOCK_END.test(window)) cut = Math.min(cut, Math.max(0, begin - base));
    }
    // The start of a secret value (values may hold blanks).
    for (const v of this.values) {
      for (let k = Math.min(v.length - 1, window.length); k > 0; k--) {
        if (window.charCodeAt(window.length - k) === v.charCodeAt(0) && window.endsWith(v.slice(0, k))) {
          cut = Math.min(cut, Math.max(0, held.length - k));
          break;
        }
      }
    }
    return cut;
  }

  /** The part (or message) ended: the held text of each matching stream goes, redacted. */
  release(match: (t: DeltaTarget) => boolean): { target: DeltaTarget; text: string }[] {
    const out: { target: DeltaTarget; text: string }[] = [];
    for (const [key, s] of this.streams) {
      if (!match(s.target)) continue;
      this.streams.delete(key);
      if (!s.held) continue;
      const window = s.ctx + s.held;
      out.push({ target: s.target, text: this.apply(window, this.find(window), s.ctx.length, window.length) });
    }
    return out;
  }

  /** Drops every stream (the session was deleted or taken over). */
  clear(): void {
    this.streams.clear();
  }
}
