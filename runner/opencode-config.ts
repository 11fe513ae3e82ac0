/**
 * What OpenCode runs with: the model provider (the scripted demo model, or a real provider when a
 * key or an OpenCode config file is configured), the permission rules, and the environment that
 * keeps `opencode serve` offline and away from the user's own OpenCode files.
 */
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { SCRIPTED_MODEL_ID, SCRIPTED_PROVIDER_ID } from "./scripted-model.ts";

export type ProviderChoice =
  /** The built-in scripted model at `baseURL` (…/v1). Sessions are labelled demo. */
  | { kind: "scripted"; baseURL: string }
  /** A real provider picked by its API key in the environment; `model` is "provider/model". */
  | { kind: "env-key"; model: string; smallModel?: string }
  /** The user's own OpenCode config file (OPENCODE_CONFIG); it names the model. */
  | { kind: "config-file"; path: string; model?: string };

/** "provider/model" as OpenCode names it, for session metadata. */
export function modelLabel(p: ProviderChoice): string {
  if (p.kind === "scripted") return `${SCRIPTED_PROVIDER_ID}/${SCRIPTED_MODEL_ID}`;
  if (p.kind === "env-key") return p.model;
  return p.model ?? "from OpenCode config";
}

/**
 * Picks the provider from the environment: an OpenCode config file (OPENCODE_CONFIG) first, then
 * ANTHROPIC_API_KEY / OPENAI_API_KEY, else the scripted model (when its URL is known).
 * AGENTROOM_MODEL overrides the model for the key-based providers.
 */
export function providerFromEnv(env: Record<string, string | undefined>, scriptedBaseURL?: string): ProviderChoice | null {
  if (env.OPENCODE_CONFIG) return { kind: "config-file", path: env.OPENCODE_CONFIG, model: env.AGENTROOM_MODEL };
  if (env.ANTHROPIC_API_KEY) return { kind: "env-key", model: env.AGENTROOM_MODEL ?? "anthropic/claude-sonnet-4-5" };
  if (env.OPENAI_API_KEY) return { kind: "env-key", model: env.AGENTROOM_MODEL ?? "openai/gpt-5" };
  const url = scriptedBaseURL ?? env.SCRIPTED_MODEL_URL;
  if (url) return { kind: "scripted", baseURL: url.replace(/\/+$/, "").replace(/(?<!\/v1)$/, "/v1") };
  return null;
}

/** True when a real provider is configured, so `npm start` need not run the scripted model. */
export function realProviderConfigured(env: Record<string, string | undefined>): boolean {
  return Boolean(env.OPENCODE_CONFIG || env.ANTHROPIC_API_KEY || env.OPENAI_API_KEY);
}

export interface OpencodeConfigInput {
  provider: ProviderChoice;
  /** OpenCode permission rules; default asks before bash. */
  permission?: Record<string, unknown>;
}

/** The JSON passed in OPENCODE_CONFIG_CONTENT. */
export function buildOpencodeConfig(input: OpencodeConfigInput): Record<string, unknown> {
  const base: Record<string, unknown> = {
    $schema: "https://opencode.ai/config.json",
    share: "disabled",
    autoupdate: false,
    permission: input.permission ?? { bash: "ask" },
  };
  const p = input.provider;
  if (p.kind === "scripted") {
    const model = `${SCRIPTED_PROVIDER_ID}/${SCRIPTED_MODEL_ID}`;
    return {
      ...base,
      model,
      small_model: model,
      enabled_providers: [SCRIPTED_PROVIDER_ID],
      provider: {
        [SCRIPTED_PROVIDER_ID]: {
          npm: "@ai-sdk/openai-compatible",
          name: "Scripted demo model",
          options: { baseURL: p.baseURL, apiKey: "scripted" },
          models: {
            [SCRIPTED_MODEL_ID]: {
              name: "Scripted demo",
              tool_call: true,
              reasoning: true,
              limit: { context: 200_000, output: 32_000 },
            },
          },
        },
      },
    };
  }
  if (p.kind === "env-key") return { ...base, model: p.model, ...(p.smallModel ? { small_model: p.smallModel } : {}) };
  return p.model ? { ...base, model: p.model } : base;
}

export interface OpencodeDirs {
  root: string;
  home: string;
  config: string;
  data: string;
  cache: string;
  state: string;
}

export function opencodeDirs(root: string): OpencodeDirs {
  return {
    root,
    home: join(root, "home"),
    config: join(root, "config"),
    data: join(root, "data"),
    cache: join(root, "cache"),
    state: join(root, "state"),
  };
}

/**
 * Creates the directories, and the empty plugin install OpenCode checks for: without
 * `$XDG_CONFIG_HOME/opencode/node_modules` and a lockfile it starts a background `npm install`.
 */
export function prepareOpencodeDirs(d: OpencodeDirs): void {
  for (const dir of [d.home, d.config, d.data, d.cache, d.state]) mkdirSync(dir, { recursive: true });
  const ocConfig = join(d.config, "opencode");
  mkdirSync(join(ocConfig, "node_modules"), { recursive: true });
  const lock = join(ocConfig, "package-lock.json");
  if (!existsSync(lock)) writeFileSync(lock, JSON.stringify({ name: "opencode-config", lockfileVersion: 3, requires: true, packages: {} }) + "\n");
  const pkg = join(ocConfig, "package.json");
  if (!existsSync(pkg)) writeFileSync(pkg, JSON.stringify({ private: true, dependencies: {} }) + "\n");
}

/** The environment `opencode serve` runs in: its own HOME/XDG dirs and the offline switches. */
export function opencodeEnv(
  d: OpencodeDirs,
  config: Record<string, unknown>,
  provider: ProviderChoice,
  parent: Record<string, string | undefined> = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  // Pass through only what a shell and a provider need; never the runner's own secrets.
  for (const key of ["PATH", "LANG", "LC_ALL", "TZ", "TERM", "SHELL", "USER", "TMPDIR", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENCODE_CONFIG", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"]) {
    const v = parent[key];
    if (v !== undefined) env[key] = v;
  }
  Object.assign(env, {
    HOME: d.home,
    XDG_CONFIG_HOME: d.config,
    XDG_DATA_HOME: d.data,
    XDG_CACHE_HOME: d.cache,
    XDG_STATE_HOME: d.state,
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_DISABLE_SHARE: "1",
    OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
  });
  // The scripted model needs no catalogue; a real provider may want models.dev's.
  if (provider.kind === "scripted") env.OPENCODE_DISABLE_MODELS_FETCH = "1";
  return env;
}

/** Identifies a configuration, so a server left by a previous runner is only reused if it matches. */
export function configFingerprint(binary: string, env: Record<string, string>): string {
  return createHash("sha256").update(binary).update("\0").update(JSON.stringify(env)).digest("hex").slice(0, 16);
}
