/**
 * /api/sessions/:id/export?format=md|json — the session as a file (shared/export-record.ts):
 * a Markdown transcript, or the JSON `opencode import` reads. The caller was admitted by
 * `sessionCaller` (Bearer token or Access; viewer is enough, its link checked).
 *
 * Gathered the way a reader of the app would: the snapshot and the events come through the room's
 * own HTTP stream read (party/room/stream-read.ts, registered under the caller's link, so a revoke
 * ends it), history pages and full parts through the room's RPCs, and folded with the app's
 * transcript code. Nothing is cached: an export is rare, and a live session changes under it.
 */
import { Hono } from "hono";
import { toMarkdown } from "../../shared/export-markdown.ts";
import { toOpencodeExport } from "../../shared/export-opencode.ts";
import { CREDIT_EVENTS, CreditLog, EXPORT_TYPES, ExportFormatSchema, exportFileName, exportRecord } from "../../shared/export-record.ts";
import { offsetOf, seqOf } from "../../shared/http-stream.ts";
import type { Message, MessageWithParts, Part } from "../../shared/parts.ts";
import { RoomEventSchema, SnapshotSchema, type Snapshot } from "../../shared/protocol.ts";
import { Transcript } from "../../shared/transcript.ts";
import { httpError } from "../http.ts";
import { allow, type AppEnv, type Ctx } from "../middleware.ts";
import { STREAM_READER_HEADER } from "../room/stream-read.ts";

export const exporting = new Hono<AppEnv>();

/** Messages per history page (the room's largest). */
const HISTORY_PAGE = 200;
/** Full parts asked of the room at once. */
const FULL_READS = 16;

exporting.all("/", allow("GET"), async (c) => {
  const format = ExportFormatSchema.safeParse(c.req.query("format") ?? "md");
  if (!format.success || c.req.queries("format")?.length === 2) return httpError(400, "bad_format", "format must be md (a Markdown transcript) or json (for `opencode import`)");
  const first = await roomRead(c, "-1");
  if (!first.ok) return first;
  const snapshot = SnapshotSchema.parse(((await first.json()) as { snapshot?: unknown }[])[0]?.snapshot) as Snapshot;

  const t = Transcript.fromSnapshot(snapshot);
  while (t.hasMore) {
    // The RPC's inferred type loses the passthrough shapes; it is the room's own page type.
    const page = (await room(c).getHistory(t.oldestMessageId, HISTORY_PAGE)) as unknown as { messages: MessageWithParts[]; hasMore: boolean } | null;
    if (!page || t.prependHistory(page.messages, page.hasMore) === 0) break;
  }
  const messages = await fullMessages(c, t);
  const { credits, logFrom } = await readCredits(c, snapshot.seq);
  const record = exportRecord(t, messages, credits, logFrom, Date.now());
  const body = format.data === "md" ? toMarkdown(record) : JSON.stringify(toOpencodeExport(record), null, 2) + "\n";
  return new Response(body, {
    headers: {
      "content-type": EXPORT_TYPES[format.data].contentType,
      "content-disposition": `attachment; filename="${exportFileName(record.session, format.data)}"`,
      "cache-control": "private, no-store",
    },
  });
});

const room = (c: Ctx) => c.env.SessionRoom.getByName(c.req.param("id") ?? "");

/** A stream read asked of the room for the caller's link (as party/routes/stream.ts asks it). */
function roomRead(c: Ctx, offset: string): Promise<Response> {
  const url = new URL(c.req.url);
  url.pathname = url.pathname.replace(/\/export\/?$/, "/stream");
  url.search = `?offset=${encodeURIComponent(offset)}`;
  return room(c).fetch(new Request(url.toString(), { headers: { [STREAM_READER_HEADER]: c.var.caller.linkId } }));
}

/** The transcript's messages with every shortened part and message info read back in full. */
async function fullMessages(c: Ctx, t: Transcript): Promise<MessageWithParts[]> {
  const messages = t.messages.map((m) => ({ info: m.info, parts: m.parts.slice() }));
  const jobs: (() => Promise<void>)[] = [];
  for (const m of messages) {
    if (m.info.truncated?.length) jobs.push(async () => void (m.info = ((await room(c).getFullMessage(m.info.id)) as unknown as Message | null) ?? m.info));
    m.parts.forEach((p, i) => {
      if (p.truncated?.length) jobs.push(async () => void (m.parts[i] = ((await room(c).getFullPart(p.id)) as unknown as Part | null) ?? p));
    });
  }
  for (let i = 0; i < jobs.length; i += FULL_READS) await Promise.all(jobs.slice(i, i + FULL_READS).map((j) => j()));
  return messages;
}

/**
 * Who prompted and who answered, read from the room's log up to `head`. A log compacted past its
 * start is read from where it starts now (`logFrom`), and the export says so.
 */
async function readCredits(c: Ctx, head: number): Promise<{ credits: CreditLog; logFrom: number }> {
  const credits = new CreditLog();
  let logFrom = 1;
  let offset = offsetOf(0);
  while ((seqOf(offset) ?? head) < head) {
    const res = await roomRead(c, offset);
    if (res.status === 410) {
      // The room names where its log starts now (party/room/stream-read.ts, `offset_expired`).
      const start = Number(/log starts at seq (\d+)/.exec(await res.text())?.[1] ?? NaN);
      if (!(start > logFrom)) break;
      logFrom = start;
      offset = offsetOf(start - 1);
      continue;
    }
    if (!res.ok) break;
    for (const raw of (await res.json()) as { type?: unknown }[]) {
      if (typeof raw.type !== "string" || !CREDIT_EVENTS.has(raw.type)) continue;
      const ev = RoomEventSchema.safeParse(raw);
      if (ev.success) credits.add(ev.data);
    }
    const next = res.headers.get("stream-next-offset");
    if (!next || next === offset || res.headers.get("stream-up-to-date") === "true") break;
    offset = next;
  }
  return { credits, logFrom };
}
