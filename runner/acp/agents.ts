/**
 * Which agents a runner offers, and how each ACP agent is started.
 *
 * AGENTROOM_AGENTS lists them, comma-separated: a known id alone (`opencode`, `opencode-acp`,
 * `claude-code`, `codex`, `gemini`) takes its preset; `id=command line` runs any ACP agent (a known
 * id keeps its preset environment with the given command). Unset: OpenCode through the SDK and
 * through ACP, plus every other preset whose binary is installed (node_modules/.bin or PATH).
 *
 * Each preset points its agent at the runner's model: the scripted model (offline) or a real
 * provider key from the runner's environment, with the agent's home, config and caches in the
 * runner's state directory (never the user's own).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOpencodeConfig, opencodeDirs, opencodeEnv, prepareOpencodeDirs, type ProviderChoice } from "../opencode-config.ts";
import { DEFAULT_AGENT, type AgentInfo } from "../../shared/protocol.ts";

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SDK_AGENT = DEFAULT_AGENT;
const PRESETS = ["opencode-acp", "claude-code", "codex", "gemini"] as const;
type Preset = (typeof PRESETS)[number];

const LABELS: Record<string, string> = {
  opencode: "OpenCode",
  "opencode-acp": "OpenCode (ACP)",
  "claude-code": "Claude Code",
  codex: "Codex",
  gemini: "Gemini CLI",
};

/** The binary each preset runs by default (`.bin` name), and its fixed arguments. */
const BINARIES: Record<Preset, { bin: string; args: string[] }> = {
  "opencode-acp": { bin: "opencode", args: ["acp"] },
  "claude-code": { bin: "claude-code-acp", args: [] },
  codex: { bin: "codex-acp", args: [] },
  gemini: { bin: "gemini", args: ["--acp"] },
};

export interface AcpAgentSpec {
  id: string;
  label: string;
  preset?: Preset;
  command: string;
  args: string[];
}

export interface AgentOffer {
  /** OpenCode through the SDK is offered (it needs no spec). */
  sdk: boolean;
  acp: Map<string, AcpAgentSpec>;
}

const isPreset = (id: string): id is Preset => (PRESETS as readonly string[]).includes(id);

/** The path of an installed binary: the project's node_modules/.bin first, then PATH. */
export function findBinary(bin: string, env: Record<string, string | undefined> = process.env): string | undefined {
  const local = join(PROJECT_ROOT, "node_modules", ".bin", bin);
  if (existsSync(local)) return local;
  for (const dir of (env.PATH ?? "").split(delimiter)) if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  return undefined;
}

/** Splits a command line on spaces, honouring "double" and 'single' quotes. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

export function agentsFromEnv(env: Record<string, string | undefined> = process.env): AgentOffer {
  const offer: AgentOffer = { sdk: false, acp: new Map() };
  const list = env.AGENTROOM_AGENTS?.trim();
  const entries = list ? list.split(",").map((s) => s.trim()).filter(Boolean) : null;
  if (!entries) {
    offer.sdk = true;
    for (const p of PRESETS) {
      const bin = findBinary(BINARIES[p].bin, env);
      if (bin) offer.acp.set(p, { id: p, label: LABELS[p]!, preset: p, command: bin, args: BINARIES[p].args });
    }
    return offer;
  }
  for (const e of entries) {
    const eq = e.indexOf("=");
    const id = (eq < 0 ? e : e.slice(0, eq)).trim();
    if (!/^[a-z0-9][a-z0-9._-]{0,39}$/.test(id)) throw new Error(`AGENTROOM_AGENTS: "${id}" is not an agent id (lowercase letters, digits, . _ -)`);
    if (id === SDK_AGENT && eq < 0) {
      offer.sdk = true;
      continue;
    }
    if (eq < 0) {
      if (!isPreset(id)) throw new Error(`AGENTROOM_AGENTS: "${id}" is not a known agent; give its command as ${id}=<command line>`);
      const bin = findBinary(BINARIES[id].bin, env);
      if (!bin) throw new Error(`AGENTROOM_AGENTS: ${id} is not installed (no ${BINARIES[id].bin} in node_modules/.bin or PATH)`);
      offer.acp.set(id, { id, label: LABELS[id]!, preset: id, command: bin, args: BINARIES[id].args });
      continue;
    }
    const [command, ...args] = splitCommand(e.slice(eq + 1));
    if (!command) throw new Error(`AGENTROOM_AGENTS: ${id}= needs a command line`);
    offer.acp.set(id, { id, label: LABELS[id] ?? id, ...(isPreset(id) ? { preset: id } : {}), command, args });
  }
  return offer;
}

/** What the runner announces to the lobby. */
export function offerList(o: AgentOffer): AgentInfo[] {
  return [...(o.sdk ? [{ id: SDK_AGENT, label: LABELS[SDK_AGENT]!, protocol: "opencode-sdk" as const }] : []), ...[...o.acp.values()].map((s) => ({ id: s.id, label: s.label, protocol: "acp" as const }))];
}

export interface LaunchContext {
  stateDir: string;
  provider: ProviderChoice;
  permission?: Record<string, unknown>;
  parentEnv?: Record<string, string | undefined>;
}

/** Passed through to every agent: what a shell needs, never the runner's own secrets. */
const PASS = ["PATH", "LANG", "LC_ALL", "TZ", "TERM", "SHELL", "USER", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"];

/** The scripted model's origin (…/v1 removed), for agents that add their own API path. */
function scriptedOrigin(p: ProviderChoice): string | undefined {
  return p.kind === "scripted" ? p.baseURL.replace(/\/v1\/?$/, "") : undefined;
}

/** The environment an ACP agent starts with; creates its state directories. */
export function agentEnv(spec: AcpAgentSpec, ctx: LaunchContext): Record<string, string> {
  const parent = ctx.parentEnv ?? process.env;
  const root = join(ctx.stateDir, "agents", spec.id);
  if (spec.preset === "opencode-acp") {
    const dirs = opencodeDirs(root);
    prepareOpencodeDirs(dirs);
    return opencodeEnv(dirs, buildOpencodeConfig({ provider: ctx.provider, permission: ctx.permission }), ctx.provider, parent);
  }
  const env: Record<string, string> = {};
  for (const k of PASS) if (parent[k] !== undefined) env[k] = parent[k]!;
  const home = join(root, "home");
  mkdirSync(home, { recursive: true });
  env.HOME = home;
  env.XDG_CONFIG_HOME = join(root, "config");
  env.XDG_CACHE_HOME = join(root, "cache");
  env.XDG_DATA_HOME = join(root, "data");
  const origin = scriptedOrigin(ctx.provider);
  switch (spec.preset) {
    case "claude-code":
      env.CLAUDE_CONFIG_DIR = join(root, "claude");
      env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1";
      env.DISABLE_AUTOUPDATER = "1";
      // It refuses to skip its own permission checks as root unless told it runs in a sandbox.
      if (process.getuid?.() === 0) env.IS_SANDBOX = "1";
      if (origin) {
        env.ANTHROPIC_BASE_URL = origin;
        env.ANTHROPIC_API_KEY = "scripted";
      } else if (parent.ANTHROPIC_API_KEY) env.ANTHROPIC_API_KEY = parent.ANTHROPIC_API_KEY;
      break;
    case "codex": {
      const codexHome = join(root, "codex");
      mkdirSync(codexHome, { recursive: true });
      env.CODEX_HOME = codexHome;
      // Codex has no base-URL variable: the scripted model is a provider in its config. The model
      // is a slug Codex knows (an unknown one makes its first answer chunk a warning and drops the
      // apply_patch tool); retries are off so a scripted failure is shown once.
      writeFileSync(
        join(codexHome, "config.toml"),
        origin
          ? `model = "gpt-5.4-mini"\nmodel_provider = "scripted"\n\n[model_providers.scripted]\nname = "Scripted"\nbase_url = "${origin}/v1"\nenv_key = "SCRIPTED_API_KEY"\nwire_api = "responses"\nrequest_max_retries = 0\nstream_max_retries = 0\n`
          : "",
      );
      if (origin) env.SCRIPTED_API_KEY = "scripted";
      else for (const k of ["OPENAI_API_KEY", "CODEX_API_KEY"]) if (parent[k]) env[k] = parent[k]!;
      break;
    }
    case "gemini": {
      env.GEMINI_CLI_TRUST_WORKSPACE = "true";
      env.GEMINI_CLI_NO_RELAUNCH = "true";
      const dir = join(home, ".gemini");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "settings.json"), JSON.stringify({ telemetry: { enabled: false }, general: { enableAutoUpdate: false, enableAutoUpdateNotification: false }, privacy: { usageStatisticsEnabled: false } }));
      if (origin) {
        env.GOOGLE_GEMINI_BASE_URL = origin;
        env.GEMINI_API_KEY = "scripted";
      } else if (parent.GEMINI_API_KEY) env.GEMINI_API_KEY = parent.GEMINI_API_KEY;
      break;
    }
    default:
      // A custom agent: its own keys come from the runner's environment by name.
      for (const k of ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"]) if (parent[k]) env[k] = parent[k]!;
  }
  return env;
}

/** The room's Build/Plan → the agent's mode id, among the modes it offers. */
export function modeFor(roomMode: "build" | "plan", offered: { id: string }[]): string | undefined {
  const ids = offered.map((m) => m.id);
  const prefs = roomMode === "plan" ? ["plan", "read-only", "readonly"] : ["build", "default", "code", "auto", "agent"];
  return prefs.find((p) => ids.includes(p)) ?? ids.find((id) => (roomMode === "plan" ? /plan|read/i : /build|default|auto|edit/i).test(id));
}
