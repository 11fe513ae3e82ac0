/**
 * The turn an ACP agent is running, on disk in the runner's state directory, so a runner that
 * restarts (or crashed) can show that turn interrupted: an ACP agent keeps no record the runner
 * could reread, unlike OpenCode's `session.messages`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TurnRecord {
  messageID: string;
  created: number;
}

const file = (stateDir: string, roomId: string) => join(stateDir, "acp-turns", `${roomId.replace(/[^A-Za-z0-9_-]/g, "_")}.json`);

export function readTurnRecord(stateDir: string, roomId: string): TurnRecord | null {
  try {
    const r = JSON.parse(readFileSync(file(stateDir, roomId), "utf8")) as Partial<TurnRecord>;
    return typeof r.messageID === "string" && typeof r.created === "number" ? { messageID: r.messageID, created: r.created } : null;
  } catch {
    return null;
  }
}

export function writeTurnRecord(stateDir: string, roomId: string, rec: TurnRecord | null): void {
  const f = file(stateDir, roomId);
  if (!rec) {
    rmSync(f, { force: true });
    return;
  }
  mkdirSync(join(stateDir, "acp-turns"), { recursive: true });
  writeFileSync(f, JSON.stringify(rec));
}
