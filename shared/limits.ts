/**
 * Every limit the room enforces, with the reason for its number. The room reads overrides from
 * its environment (see `limitsFromEnv`), so a deployment can tune them without a code change.
 * docs/limits.md lists them for people; keep the two in step.
 */
export const DEFAULT_LIMITS = {
  /** Largest client → room frame. A prompt is the biggest legitimate thing a person sends. */
  maxClientFrameBytes: 256 * 1024,
  /** Largest agent → room frame. Runner batches carry tool outputs; the rest goes in chunks. */
  maxAgentFrameBytes: 4 * 1024 * 1024,
  /** Longest prompt text, in characters. */
  maxPromptChars: 100_000,
  /** Longest chat message, in characters: chat is conversation, long text belongs in a prompt. */
  maxChatChars: 4_000,
  /**
   * Chat messages (and edits) per connection, on top of the frame bucket: a person types at most
   * a few a second; a burst covers pasting several short lines.
   */
  chatRatePerSecond: 2,
  chatBurst: 10,
  /** Latest chat messages in a snapshot (older ones by `chat.history`), also capped at 256 KB of JSON. */
  chatSnapshotMessages: 100,
  /** Token bucket per connection: sustained frames per second and burst size. */
  rateFramesPerSecond: 20,
  rateBurst: 60,
  /** Connections a single room accepts at once (viewers + drivers + agent). */
  maxConnectionsPerRoom: 2_000,
  /** Prompts waiting in one session's queue. */
  maxQueuedPrompts: 100,
  /**
   * Events kept in the replay log. Catch-up of 10k events costs 8–25 ms in the room (measured);
   * older history is served from messages/parts as a snapshot instead.
   */
  logRetainEvents: 20_000,
  /** Compact when the log exceeds retain + slack, so compaction runs in batches, not per event. */
  logCompactSlack: 5_000,
  /**
   * Socket sends per second the live fan-out aims to stay under. Each send costs the room's
   * thread ~30–40 µs in workerd (measured on a 2-core machine: its pump, its promise, a syscall),
   * so a turn to 1,000 viewers takes ~35 ms and 20,000 sends/s about 0.7 of the thread, the rest
   * left to the agent's frames and joiners. A thread slower than that builds no hidden queue: the
   * pacer's window of sends in flight holds turns back (room/fanout.ts). At 12,500 a 100-viewer
   * room streaming 100 deltas/s emptied the bucket in bursts and gathered (p50 13–28 ms against
   * 4–5 ms at 20,000, bench/RESULTS.md). Raise it on faster machines.
   */
  liveSendsPerSecond: 20_000,
  /** Flush early once this many events are buffered. */
  flushMaxEvents: 100,
  /** A part field longer than this is stored in chunks and sent truncated, with a marker. */
  inlineFieldChars: 64 * 1024,
  /** Chunk size for large payloads: under SQLite's 2 MB value cap with room to spare. */
  chunkChars: 512 * 1024,
  /** Messages in a snapshot and in one history page. */
  snapshotMessages: 50,
  historyPageMessages: 50,
  /** Frames to clients stay under 1 MiB (a platform limit); catch-up is split to this size. */
  maxOutgoingFrameBytes: 900 * 1024,
  /** Bytes of events one HTTP stream read returns, about (GET /api/sessions/:id/stream). */
  streamReadBytes: 900 * 1024,
  /** Days of inactivity before a session is archived (read-only). */
  archiveAfterDays: 14,
  /** Applied agent batch ids remembered for deduplication. */
  rememberBatches: 10_000,
  /** Agent lease: a runner holds a session this long without renewing. */
  agentLeaseMs: 30_000,
  /**
   * Viewers a room holds itself before the Worker sends further viewers (viewer role, embeds) to
   * relays (party/relay.ts). Owners, drivers and the agent always stay on the room. Below this a
   * relay's extra hop buys nothing; above it every viewer costs the room's one thread a send per
   * live frame (bench: ~50 µs each).
   */
  relayAfterViewers: 200,
  /** Viewers one relay holds before the next relay of the session is used. */
  relayCapacity: 500,
  /** Relays one session may use: the session's cap is the room's connections + relays × capacity. */
  maxRelays: 200,
  /** Events a relay keeps in memory to replay to its rejoining viewers without asking the room. */
  relayTailEvents: 5_000,
  /** A relay with no viewers this long closes its link to the room and is retired. */
  relayIdleMs: 10_000,
} as const;

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

/** Reads `LIMIT_<SNAKE_CASE>` variables, e.g. `LIMIT_MAX_PROMPT_CHARS=5000`. */
export function limitsFromEnv(env: Record<string, unknown>): Limits {
  const out: Limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(out) as (keyof Limits)[]) {
    const envKey = "LIMIT_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();
    const raw = env[envKey];
    if (raw === undefined || raw === null || raw === "") continue;
    const n = Number(raw);
    if (Number.isFinite(n) && n > 0) out[key] = n;
  }
  return out;
}
