import { describe, expect, it } from "vitest";
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildOpencodeConfig, opencodeDirs, opencodeEnv, prepareOpencodeDirs, providerFromEnv, realProviderConfigured } from "./opencode-config.ts";
import { toEnvelope } from "./opencode.ts";

describe("OpenCode configuration", () => {
  it("uses the scripted model unless a provider is configured", () => {
    expect(providerFromEnv({ SCRIPTED_MODEL_URL: "http://127.0.0.1:1" })).toEqual({ kind: "scripted", baseURL: "http://127.0.0.1:1/v1" });
    expect(providerFromEnv({ SCRIPTED_MODEL_URL: "http://127.0.0.1:1/v1", ANTHROPIC_API_KEY: "k" })).toMatchObject({ kind: "env-key", model: "anthropic/claude-sonnet-4-5" });
    expect(providerFromEnv({ OPENCODE_CONFIG: "/x.json", OPENAI_API_KEY: "k" })).toMatchObject({ kind: "config-file", path: "/x.json" });
    expect(providerFromEnv({})).toBeNull();
    expect(realProviderConfigured({ OPENAI_API_KEY: "k" })).toBe(true);
    expect(realProviderConfigured({})).toBe(false);
  });

  it("configures the scripted provider through @ai-sdk/openai-compatible, asking before bash", () => {
    const c = buildOpencodeConfig({ provider: { kind: "scripted", baseURL: "http://127.0.0.1:9/v1" } }) as Record<string, any>;
    expect(c.model).toBe("scripted/demo");
    expect(c.provider.scripted.npm).toBe("@ai-sdk/openai-compatible");
    expect(c.provider.scripted.options.baseURL).toBe("http://127.0.0.1:9/v1");
    expect(c.permission).toEqual({ bash: "ask" });
    expect(c.share).toBe("disabled");
  });

  it("isolates OpenCode's dirs, pre-creates its plugin install, and keeps it offline", () => {
    const d = opencodeDirs(mkdtempSync(join(tmpdir(), "oc-test-")));
    prepareOpencodeDirs(d);
    expect(existsSync(join(d.config, "opencode", "node_modules"))).toBe(true);
    expect(existsSync(join(d.config, "opencode", "package-lock.json"))).toBe(true);
    const env = opencodeEnv(d, {}, { kind: "scripted", baseURL: "x" }, { PATH: "/bin", TOKEN_SECRET: "s", HOME: "/root" });
    expect(env.HOME).toBe(d.home);
    expect(env.XDG_DATA_HOME).toBe(d.data);
    expect(env.OPENCODE_DISABLE_MODELS_FETCH).toBe("1");
    expect(env.OPENCODE_DISABLE_AUTOUPDATE).toBe("1");
    expect(env.TOKEN_SECRET).toBeUndefined();
  });

  it("reads both event stream envelopes", () => {
    expect(toEnvelope({ directory: "/d", payload: { type: "x", properties: {} } })).toEqual({ directory: "/d", payload: { type: "x", properties: {} } });
    expect(toEnvelope({ type: "y", properties: {} })).toEqual({ payload: { type: "y", properties: {} } });
    expect(toEnvelope("nope")).toBeNull();
  });
});
