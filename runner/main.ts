/**
 * `node runner/main.ts` — the runner process. Configuration comes from the environment:
 *
 *   AGENTROOM_URL            the Worker, e.g. http://127.0.0.1:8787 (required)
 *   AGENTROOM_AGENT_TOKEN    an agent token for all sessions, or
 *   TOKEN_SECRET             the signing secret, to mint one (read from .dev.vars when unset)
 *   AGENTROOM_STATE_DIR      runner state: OpenCode's HOME/XDG dirs (default .agentroom/runner)
 *   AGENTROOM_WORKSPACES     where fresh per-session git repositories go (default .agentroom/workspaces)
 *   WORKSPACE_ROOT           directories sessions may name at creation (":"-separated)
 *   SCRIPTED_MODEL_URL       the scripted model (used when no provider below is configured)
 *   OPENCODE_CONFIG          an OpenCode config file naming a real provider and model, or
 *   ANTHROPIC_API_KEY / OPENAI_API_KEY (+ AGENTROOM_MODEL, e.g. anthropic/claude-sonnet-4-5)
 *   AGENTROOM_PERMISSION     OpenCode permission rules as JSON (default {"bash":"ask"})
 *   AGENTROOM_MAX_SESSIONS   sessions this runner serves at most (default 50); beyond that they
 *                            wait, "pending" while every runner is full, longest-waiting first
 *   RUNNER_ID                a name for this runner (default random)
 *   AGENTROOM_AGENTS         the agents it offers, comma-separated: opencode (the SDK), opencode-acp,
 *                            claude-code, codex, gemini, or id=<ACP agent command line>; default
 *                            OpenCode (SDK and ACP) plus every other preset found installed
 *
 * SIGINT/SIGTERM stop it cleanly (OpenCode included). It prints `runner ready` once it listens.
 */
import { readFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { Runner } from "./runner.ts";
import { providerFromEnv } from "./opencode-config.ts";
import { agentsFromEnv } from "./acp/agents.ts";
import { killAllAgentsNow } from "./acp/process.ts";

function devVar(name: string): string | undefined {
  const file = resolve(".dev.vars");
  if (!existsSync(file)) return undefined;
  const m = readFileSync(file, "utf8").match(new RegExp(`^${name}\\s*=\\s*"?([^"\\n]*)"?`, "m"));
  return m?.[1];
}

export function configFromEnv(env: Record<string, string | undefined> = process.env) {
  const url = env.AGENTROOM_URL;
  if (!url) throw new Error("AGENTROOM_URL is not set (e.g. http://127.0.0.1:8787)");
  const provider = providerFromEnv(env);
  if (!provider) throw new Error("no model: set SCRIPTED_MODEL_URL, ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENCODE_CONFIG");
  let permission: Record<string, unknown> | undefined;
  if (env.AGENTROOM_PERMISSION) permission = JSON.parse(env.AGENTROOM_PERMISSION) as Record<string, unknown>;
  return {
    url,
    token: env.AGENTROOM_AGENT_TOKEN,
    tokenSecret: env.TOKEN_SECRET ?? devVar("TOKEN_SECRET"),
    stateDir: resolve(env.AGENTROOM_STATE_DIR ?? ".agentroom/runner"),
    workspace: {
      roots: (env.WORKSPACE_ROOT ?? "").split(":").filter(Boolean).map((p) => resolve(p)),
      workspacesDir: resolve(env.AGENTROOM_WORKSPACES ?? ".agentroom/workspaces"),
    },
    provider,
    permission,
    runnerId: env.RUNNER_ID,
    maxSessions: env.AGENTROOM_MAX_SESSIONS ? Number(env.AGENTROOM_MAX_SESSIONS) : undefined,
    agents: agentsFromEnv(env),
    flushMs: env.AGENTROOM_FLUSH_MS ? Number(env.AGENTROOM_FLUSH_MS) : undefined,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runner = new Runner(configFromEnv());
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`[runner ${runner.runnerId}] ${sig}: stopping`);
    const hard = setTimeout(() => {
      runner.opencode.killNow();
      killAllAgentsNow();
      process.exit(1);
    }, 8_000);
    void runner.stop().then(() => {
      clearTimeout(hard);
      process.exit(0);
    });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("uncaughtException", (e) => {
    console.error(`[runner ${runner.runnerId}] uncaught`, e);
    runner.opencode.killNow();
    process.exit(1);
  });
  // A failed background call (a room or OpenCode request) is logged, never fatal: the runner
  // serves many sessions and one broken call must not take them all down.
  process.on("unhandledRejection", (e) => console.error(`[runner ${runner.runnerId}] unhandled rejection`, e));
  // Tests and tools ask a running runner for its figures (memory, sessions) with SIGUSR2.
  process.on("SIGUSR2", () => console.log(`runner stats ${JSON.stringify(runner.stats())}`));
  await runner.start();
  const startup = runner.opencode.startupTimes.at(-1);
  console.log(
    `runner ready ${JSON.stringify({ runnerId: runner.runnerId, opencode: runner.opencode.url, opencodePid: runner.opencode.pid, opencodeStartupMs: startup === undefined ? null : Math.round(startup) })}`,
  );
}
