import { describe, expect, it } from "vitest";
import { agentsFromEnv, modeFor, offerList, splitCommand } from "./agents.ts";

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
