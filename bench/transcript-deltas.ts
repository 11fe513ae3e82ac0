/**
 * `node bench/transcript-deltas.ts`: how fast the client's transcript folds streamed text — 20,000
 * deltas into one part of a 2,000-message transcript (the unit test checks the result; the time
 * is a figure, so it lives here). Prints deltas per second, median of 5 runs.
 */
import { Transcript } from "../shared/transcript.ts";
import { snapshotOf } from "../shared/fixtures.ts";
import type { RoomEvent } from "../shared/protocol.ts";
import { median } from "./lib/stats.ts";

const MESSAGES = 2_000;
const DELTAS = 20_000;

function run(): number {
  const msg = (id: string) => ({ id, role: "assistant" as const, time: { created: 1 } });
  const t = Transcript.fromSnapshot(snapshotOf(2, { messages: Array.from({ length: MESSAGES }, (_, i) => ({ info: msg(`m${String(i).padStart(5, "0")}`), parts: [] })) }));
  const head: RoomEvent[] = [
    { type: "message.upsert", message: msg("z"), seq: 3, ts: 1 },
    { type: "part.upsert", part: { id: "p", messageID: "z", type: "text", text: "" }, seq: 4, ts: 1 },
  ];
  t.applyBatch(3, 4, head);
  const started = performance.now();
  for (let i = 0; i < DELTAS; i++) t.applyEvent({ type: "part.delta", messageID: "z", partID: "p", field: "text", delta: "ab", seq: 5 + i, ts: 1 });
  return performance.now() - started;
}

const ms = median(Array.from({ length: 5 }, run));
console.log(`transcript: ${DELTAS} deltas into a ${MESSAGES}-message transcript in ${ms.toFixed(0)} ms (${Math.round((DELTAS / ms) * 1000).toLocaleString("en")} deltas/s, median of 5)`);
