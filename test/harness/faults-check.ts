/**
 * What the fault tests check after every fault: the room's transcript against OpenCode's own
 * (read from its server), as counts a summary can quote — messages or parts missing (lost),
 * text that differs, parts shown twice, tools left pending/running.
 */
import type { MessageEntry } from "../../shared/transcript.ts";
import type { MessageWithParts } from "../../shared/parts.ts";

type OcMessage = { info: Record<string, unknown>; parts: Record<string, unknown>[] };

export interface Divergence {
  /** OpenCode messages or parts the room does not have. */
  missing: string[];
  /** Room messages or parts OpenCode does not have. */
  extra: string[];
  /** Parts whose text (text/reasoning) or tool status differs. */
  differing: string[];
  /** Part ids that appear more than once in the room. */
  duplicated: string[];
  /** Tool parts the room shows pending or running. */
  running: string[];
}

export function divergence(room: readonly (MessageEntry | MessageWithParts)[], oc: readonly OcMessage[]): Divergence {
  const out: Divergence = { missing: [], extra: [], differing: [], duplicated: [], running: [] };
  const roomParts = new Map<string, Record<string, unknown>>();
  const seen = new Set<string>();
  for (const m of room) {
    for (const p of m.parts) {
      if (seen.has(p.id)) out.duplicated.push(p.id);
      seen.add(p.id);
      roomParts.set(p.id, p as Record<string, unknown>);
      const st = (p as { state?: { status?: string } }).state?.status;
      if (p.type === "tool" && (st === "pending" || st === "running")) out.running.push(p.id);
    }
  }
  const roomIds = new Set(room.map((m) => m.info.id));
  const ocIds = new Set(oc.map((m) => String(m.info.id)));
  for (const id of ocIds) if (!roomIds.has(id)) out.missing.push(`message ${id}`);
  for (const id of roomIds) if (!ocIds.has(id)) out.extra.push(`message ${id}`);
  const ocPartIds = new Set<string>();
  for (const m of oc) {
    for (const p of m.parts) {
      const id = String(p.id);
      ocPartIds.add(id);
      const mine = roomParts.get(id);
      if (!mine) {
        out.missing.push(`part ${id} (${String(p.type)})`);
        continue;
      }
      if ((p.type === "text" || p.type === "reasoning") && mine.text !== p.text) {
        out.differing.push(`${String(p.type)} part ${id}: room ${JSON.stringify(String(mine.text).slice(0, 60))} (${String(mine.text).length} chars), OpenCode ${JSON.stringify(String(p.text).slice(0, 60))} (${String(p.text).length})`);
      }
      if (p.type === "tool") {
        const a = (mine.state as { status?: string } | undefined)?.status;
        const b = (p.state as { status?: string } | undefined)?.status;
        if (a !== b) out.differing.push(`tool ${id}: room ${a}, OpenCode ${b}`);
      }
    }
  }
  for (const id of roomParts.keys()) if (!ocPartIds.has(id)) out.extra.push(`part ${id}`);
  return out;
}

/** Missing parts plus text that lost characters: what a viewer would never see. */
export function lostCount(d: Divergence): number {
  return d.missing.length + d.differing.length;
}
