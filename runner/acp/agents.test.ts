import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentEnv, agentsFromEnv, modeFor, offerList, splitCommand } from "./agents.ts";

describe("which agents a runner offers", () => {
  it("reads AGENTROOM_AGENTS: presets, the SDK, and command lines", () => {
    const o = agentsFromEnv({ PATH: "", AGENTROOM_AGENTS: "opencode, opencode-acp, mine=/usr/bin/my-agent --acp 'a b'" });
    expect(o.sdk).toBe(true);
    expect([...o.acp.keys()]).toEqual(["opencode-acp", "mine"]);
    expect(o.acp.get("mine")).toMatchObject({ command: "/usr/bin/my-agent", args: ["--acp", "a b"] });
    expect(offerList(o).map((a) => `${a.id}:${a.protocol}`)).toEqual(["opencode:opencode-sdk", "opencode-acp:acp", "mine:acp"]);
  });

  it("refuses what it cannot run, saying why", () => {
    expect(() => agentsFromEnv({ PATH: "", AGENTROOM_AGENTS: "nonsense" })).toThrow(/not a known agent/);
    expect(() => agentsFromEnv({ PATH: "", AGENTROOM_AGENTS: "Bad Id=x" })).toThrow(/not an agent id/);
    expect(() => agentsFromEnv({ PATH: "", AGENTROOM_AGENTS: "x=" })).toThrow(/needs a command line/);
  });

  it("unset: the SDK and every preset found installed", () => {
    const o = agentsFromEnv({ PATH: "" });
    expect(o.sdk).toBe(true);
    expect(o.acp.has("opencode-acp")).toBe(true);
  });

  it("splits command lines with quotes", () => {
    expect(splitCommand(`node "my file.js" --x 'y z'`)).toEqual(["node", "my file.js", "--x", "y z"]);
  });

  it("maps Build/Plan to the modes an agent offers", () => {
    expect(modeFor("plan", [{ id: "default" }, { id: "acceptEdits" }, { id: "plan" }])).toBe("plan");
    expect(modeFor("build", [{ id: "default" }, { id: "plan" }])).toBe("default");
    expect(modeFor("plan", [{ id: "read-only" }, { id: "auto" }, { id: "full-access" }])).toBe("read-only");
    expect(modeFor("build", [{ id: "read-only" }, { id: "auto" }])).toBe("auto");
    expect(modeFor("plan", [])).toBeUndefined();
  });
});

describe("the gemini preset", () => {
  it("points Gemini CLI at the scripted model, trusted, not relaunching, with its own ~/.gemini (no telemetry, no updates); a real key passes through", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "agents-gemini-"));
    const spec = { id: "gemini", label: "Gemini CLI", preset: "gemini" as const, command: "gemini", args: ["--acp"] };
    const env = agentEnv(spec, { stateDir, provider: { kind: "scripted", baseURL: "http://127.0.0.1:4010/v1" }, parentEnv: { PATH: "/bin", GEMINI_API_KEY: "real", SECRET: "x" } });
    expect(env).toMatchObject({ GOOGLE_GEMINI_BASE_URL: "http://127.0.0.1:4010", GEMINI_API_KEY: "scripted", GEMINI_CLI_TRUST_WORKSPACE: "true", GEMINI_CLI_NO_RELAUNCH: "true", PATH: "/bin" });
    expect(env.SECRET).toBeUndefined();
    expect(env.HOME!.startsWith(stateDir)).toBe(true);
    const settings = JSON.parse(readFileSync(join(env.HOME!, ".gemini", "settings.json"), "utf8")) as Record<string, Record<string, unknown>>;
    expect(settings.telemetry?.enabled).toBe(false);
    expect(settings.general).toMatchObject({ enableAutoUpdate: false, enableAutoUpdateNotification: false });
    const real = agentEnv(spec, { stateDir, provider: { kind: "env-key", model: "google/gemini-2.5-pro" }, parentEnv: { GEMINI_API_KEY: "real" } });
    expect(real.GEMINI_API_KEY).toBe("real");
    expect(real.GOOGLE_GEMINI_BASE_URL).toBeUndefined();
    rmSync(stateDir, { recursive: true, force: true });
  });
});
