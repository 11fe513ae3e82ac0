/**
 * The scripted model's "secrets" run (prompt keyword `secrets`): the agent meets secrets the way a
 * real one does — it reads `.env`, prints its environment, writes a script holding a token it
 * read, thinks about the AWS key and quotes the file back. What viewers get of it is the test of
 * the runner's redaction (test/redaction.test.ts); the scripted model itself knows no secret:
 * every one comes from the workspace, through the tool results.
 */
import type { Plan, PlanContext } from "./scripted-model.ts";

export function secretsPlan(ctx: PlanContext): Plan {
  const dotenv = ctx.toolResults[0] ?? "";
  const token = dotenv.match(/GITHUB_TOKEN=(\S+)/)?.[1] ?? "none";
  const aws = dotenv.match(/AWS_ACCESS_KEY_ID=(\S+)/)?.[1] ?? "none";
  const file = ctx.directory ? `${ctx.directory.replace(/\/$/, "")}/deploy.sh` : "deploy.sh";
  return {
    name: "secrets",
    steps: [
      { actions: [{ kind: "text", text: "Let me read the environment file." }, { kind: "tool", name: "bash", args: { command: "cat .env", description: "Read .env" } }] },
      { actions: [{ kind: "text", text: "And the process environment." }, { kind: "tool", name: "bash", args: { command: "env", description: "Print the environment" } }] },
      {
        actions: [
          { kind: "reasoning", text: `The AWS key ${aws} and the token ${token} are what the deploy needs.` },
          { kind: "text", text: "I'll write a deploy script with the token." },
          { kind: "tool", name: "write", args: { filePath: file, content: `#!/bin/sh\nexport GITHUB_TOKEN=${token}\ngit push\n` } },
        ],
      },
      { actions: [{ kind: "text", text: `Done. Here is what .env held:\n\n\`\`\`\n${dotenv.trim()}\n\`\`\`\n` }] },
    ],
  };
}
