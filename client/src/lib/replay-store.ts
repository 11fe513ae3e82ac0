/**
 * One replay as Solid stores: a room connection on the replay page (`replay=1`, never a relay)
 * that reads the event log (`replay.log`) into a shared/replay.ts `Replay`, a playback clock, and
 * watching together (lead, follow). The transcript shown is a `RoomView` kept in step with the
 * replay's state by transcript-sync.ts, exactly as the live view is kept with the live transcript,
 * so the same components draw it.
 */
import { batch, onCleanup } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import { RoomClient, randomId } from "../../../shared/room-client.ts";
import { Replay, originSnapshot, type IdleGap, type ReplayMark, type ReplaySpeed } from "../../../shared/replay.ts";
import type { ReplayState, ServerFrame } from "../../../shared/protocol.ts";
import type { Transcript } from "../../../shared/transcript.ts";
import { emptyRoomView, type RoomView } from "./room-view.ts";
import { syncAll, syncChanges } from "./transcript-sync.ts";
import { connectionView } from "./room-store.ts";

/** Messages the transcript holds at a time (more as the reader scrolls up). */
const WINDOW_MESSAGES = 60;
/** Playing at `jump` speed: how long each mark stays on screen. */
export const JUMP_MS = 900;
const TICK_MS = 50;
/** A leader repeats its position this often while playing, so followers never drift far. */
const LEAD_REPEAT_MS = 2_000;
/** A leader dragging the scrubber sends at most one position per this many ms. */
const LEAD_THROTTLE_MS = 120;
/** A log page that gets no answer is asked for again (a dropped connection swallowed it). */
const LOG_RETRY_MS = 5_000;

export interface ReplayView {
  /** The log is still loading (`loaded` of `total` events). */
  loading: boolean;
  loaded: number;
  total: number;
  /** Set when the run cannot be replayed from its start: the room kept only seqs from `start`. */
  unavailable: { start: number; seq: number } | null;
  end: number;
  /** The seq shown and the position on the timeline (ms of the compressed clock). */
  position: number;
  pos: number;
  duration: number;
  playing: boolean;
  speed: ReplaySpeed;
  marks: ReplayMark[];
  gaps: (IdleGap & { at: number })[];
  leader: { id: string; name: string } | null;
  following: boolean;
  /** The last thing worth telling (a refused lead, the leader leaving). */
  notice: string | null;
}

export interface ReplayControls {
  play(): void;
  pause(): void;
  setSpeed(speed: ReplaySpeed): void;
  /** To a seq (step, marks, a link to a moment) or to a time on the timeline (the scrubber). */
  seekSeq(seq: number): void;
  seekTime(t: number): void;
  step(by: 1 | -1): void;
  lead(): void;
  unlead(): void;
  follow(on: boolean): void;
  timeOf(seq: number): number;
  /** Older messages of the state shown (the transcript scrolled to its top). */
  loadOlder(): void;
}

export interface ReplayStore {
  room: RoomView;
  replay: ReplayView;
  controls: ReplayControls;
  client: RoomClient;
  /** The engine, for tests and the bench (never used by the views). */
  engine: () => Replay | undefined;
}

export function createReplayStore(sessionId: string, token: string, opts: { at?: number; autoplay?: boolean; host?: string } = {}): ReplayStore {
  const [room, setRoom] = createStore<RoomView>(emptyRoomView());
  const [replay, setReplay] = createStore<ReplayView>({
    loading: true,
    loaded: 0,
    total: 0,
    unavailable: null,
    end: 0,
    position: 0,
    pos: 0,
    duration: 0,
    playing: false,
    speed: 1,
    marks: [],
    gaps: [],
    leader: null,
    following: false,
    notice: null,
  });
  const client = new RoomClient({ host: opts.host ?? location.origin, sessionId, token, query: { replay: "1" } });
  let engine: Replay | undefined;
  let logRef: string | undefined;
  let logTimer: ReturnType<typeof setTimeout> | undefined;
  let clock: ReturnType<typeof setInterval> | undefined;
  let lastTick = 0;
  let jumpWait = 0;
  let leadTimer: ReturnType<typeof setTimeout> | undefined;
  let leadSentAt = 0;
  let started = false;
  /** This person leads (kept across a reconnect, which gives the socket a new id). */
  let iLead = false;

  // ─── the log ───
  const askLog = (after: number) => {
    logRef = randomId("log-");
    client.send({ type: "replay.log", ref: logRef, after });
    clearTimeout(logTimer);
    logTimer = setTimeout(() => askLog(after), LOG_RETRY_MS);
  };
  const onLog = (f: Extract<ServerFrame, { type: "replay.log" }>) => {
    if (f.ref !== logRef) return;
    clearTimeout(logTimer);
    logRef = undefined;
    if (!engine) {
      if (f.start > 1) {
        setReplay({ loading: false, unavailable: { start: f.start, seq: f.seq } });
        return;
      }
      engine = new Replay(originSnapshot(f.origin ?? client.transcript.session!));
      show(engine.seek(0));
    }
    if (!engine.append(f.events)) {
      // Not continuous (the room's log moved under us): read on from what we hold.
      askLog(engine.end);
      return;
    }
    const e = engine;
    batch(() => {
      setReplay({ end: e.end, duration: e.duration, loaded: e.end, total: f.seq });
      setReplay("marks", reconcile(e.marks.slice()));
      setReplay("gaps", reconcile(e.gaps.map((g) => ({ ...g, at: e.timeOf(g.afterSeq) }))));
    });
    if (f.to < f.seq) return askLog(f.to);
    if (!started) {
      started = true;
      setReplay("loading", false);
      performance.mark("agentroom:replay-loaded");
      if (opts.at !== undefined) goToSeq(opts.at);
      if (opts.autoplay && opts.at === undefined) controls.play();
    }
  };
  /** A session still running: read what it added since (debounced by the one request in flight). */
  const more = () => {
    if (engine && started && !logRef && client.transcript.lastSeq > engine.end) askLog(engine.end);
  };

  // ─── showing a position ───
  // The store holds the last `shown` messages of the state (more as the reader scrolls up), so a
  // seek across a long run redraws a page, not the run: its cost does not grow with the run.
  let shown = WINDOW_MESSAGES;
  const show = (r: ReturnType<Replay["seek"]>) => {
    const t = r.transcript;
    const first = Math.max(0, t.messages.length - shown);
    const c = r.changes;
    if (room.ready && c && !c.messageList && !c.reset) {
      // In place (a delta, a part, a status): only what changed inside the window.
      const inWindow = new Set(t.messages.slice(first).map((m) => m.info.id));
      const keep = <T,>(ids: Iterable<[string, T]>) => new Map([...ids].filter(([id]) => inWindow.has(id)));
      syncChanges(t, { ...c, messages: new Set([...c.messages].filter((id) => inWindow.has(id))), parts: keep(c.parts) }, setRoom);
    } else if (!room.ready || c) {
      // The window's messages over the whole state (the rest read through the prototype).
      syncAll(Object.create(t, { messages: { value: t.messages.slice(first) }, hasMore: { value: first > 0 } }) as Transcript, setRoom);
    }
    setRoom("ready", true);
  };
  /** The reader scrolled to the top of the window: show older messages of the same state. */
  const showOlder = () => {
    if (!engine || !room.hasMore) return;
    shown += WINDOW_MESSAGES;
    show({ transcript: engine.transcript, changes: null });
  };
  const goToSeq = (seq: number, pos?: number) => {
    if (!engine) return;
    const r = engine.seek(seq);
    show(r);
    setReplay({ position: engine.position, pos: pos ?? engine.timeOf(engine.position) });
  };

  // ─── the clock ───
  const tick = () => {
    const now = performance.now();
    const dt = now - lastTick;
    lastTick = now;
    if (!engine || !replay.playing) return;
    if (replay.speed === "jump") {
      jumpWait += dt;
      if (jumpWait < JUMP_MS) return;
      jumpWait = 0;
      const m = engine.nextMark(engine.position);
      goToSeq(m ? m.seq : engine.end);
      if (!m) stopAtEnd();
      return;
    }
    const pos = Math.min(engine.duration, replay.pos + dt * replay.speed);
    goToSeq(engine.seqAt(pos), pos);
    if (pos >= engine.duration) stopAtEnd();
  };
  const stopAtEnd = () => {
    // A running session keeps growing: wait at the end for more rather than stop.
    if (engine && client.transcript.lastSeq > engine.end) return more();
    if (client.transcript.session?.agentStatus === "busy") return;
    setPlaying(false);
  };
  const setPlaying = (on: boolean) => {
    setReplay("playing", on);
    clearInterval(clock);
    clock = undefined;
    if (on) {
      lastTick = performance.now();
      jumpWait = 0;
      clock = setInterval(tick, TICK_MS);
    }
  };

  // ─── watching together ───
  const you = () => client.you;
  const leading = () => replay.leader !== null && replay.leader.id === you()?.id;
  const leadState = (): ReplayState => ({ seq: replay.position, pos: replay.pos, playing: replay.playing, speed: replay.speed });
  const sendLead = () => {
    clearTimeout(leadTimer);
    const wait = leadSentAt + LEAD_THROTTLE_MS - Date.now();
    if (wait > 0) {
      leadTimer = setTimeout(sendLead, wait);
      return;
    }
    leadSentAt = Date.now();
    client.send({ type: "replay.lead", ref: randomId("lead-"), state: leadState() });
    if (replay.playing) leadTimer = setTimeout(sendLead, LEAD_REPEAT_MS);
  };
  /** Something this person did to the replay: a leader tells the followers; a follower stops following. */
  const moved = () => {
    if (leading()) sendLead();
    else if (replay.following) controls.follow(false);
  };
  const onLead = (f: Extract<ServerFrame, { type: "replay.lead" }>) => {
    const was = replay.leader;
    setReplay("leader", f.leader);
    if (!f.leader) {
      clearTimeout(leadTimer);
      if (was && was.id !== you()?.id) setReplay("notice", `${was.name} stopped leading`);
      return;
    }
    if (f.leader.id !== you()?.id) iLead = false;
    if (f.leader.id === you()?.id || !replay.following || !f.state) return;
    applyLead(f.state);
  };
  const applyLead = (s: ReplayState) => {
    setReplay("speed", s.speed);
    goToSeq(s.seq, s.pos);
    if (s.playing !== replay.playing) setPlaying(s.playing);
    else if (s.playing) lastTick = performance.now();
  };

  const controls: ReplayControls = {
    play: () => {
      if (engine && replay.position >= engine.end) goToSeq(0);
      setPlaying(true);
      moved();
    },
    pause: () => {
      setPlaying(false);
      moved();
    },
    setSpeed: (speed) => {
      setReplay("speed", speed);
      moved();
    },
    seekSeq: (seq) => {
      goToSeq(seq);
      performance.mark("agentroom:replay-seeked");
      moved();
    },
    seekTime: (t) => {
      if (!engine) return;
      goToSeq(engine.seqAt(t), Math.max(0, Math.min(t, engine.duration)));
      performance.mark("agentroom:replay-seeked");
      moved();
    },
    step: (by) => {
      setPlaying(false);
      goToSeq(replay.position + by);
      moved();
    },
    lead: () => {
      // A viewer is refused by the room (its error becomes the notice).
      setReplay("following", false);
      iLead = true;
      if (!client.send({ type: "replay.lead", ref: randomId("lead-"), state: leadState() })) setReplay("notice", "Not connected to the room: the lead starts once it is back.");
    },
    unlead: () => {
      iLead = false;
      clearTimeout(leadTimer);
      client.send({ type: "replay.unlead", ref: randomId("unlead-") });
    },
    follow: (on) => {
      setReplay("following", on);
      client.send({ type: "replay.follow", ref: randomId("follow-"), following: on });
    },
    timeOf: (seq) => engine?.timeOf(seq) ?? 0,
    loadOlder: () => showOlder(),
  };

  const offFrame = client.onFrame((f) => {
    if (f.type === "replay.log") onLog(f as unknown as Extract<ServerFrame, { type: "replay.log" }>);
    else if (f.type === "replay.lead") onLead(f as unknown as Extract<ServerFrame, { type: "replay.lead" }>);
    else if (f.type === "caught-up") {
      if (!engine && !logRef && !replay.unavailable) askLog(0);
      else more();
      // After a reconnect the room forgot that we lead or follow: say it again.
      if (iLead) client.send({ type: "replay.lead", ref: randomId("lead-"), state: leadState() });
      else if (replay.following) client.send({ type: "replay.follow", ref: randomId("follow-"), following: true });
    }
  });
  const offChange = client.onChange(() => more());
  const offState = client.onStateChange((s) => setRoom("connection", connectionView(s)));
  const offPresence = client.onPresence((users, me, total) =>
    batch(() => {
      setRoom("presence", reconcile(users.slice(), { key: "id" }));
      setRoom("presenceTotal", total);
      setRoom("you", me ? reconcile(me) : null);
    }),
  );
  const offError = client.onError((e) => {
    if (e.code !== "gap") setReplay("notice", e.message);
  });
  onCleanup(() => {
    for (const off of [offFrame, offChange, offState, offPresence, offError]) off();
    clearInterval(clock);
    clearTimeout(logTimer);
    clearTimeout(leadTimer);
    client.close();
  });
  return { room, replay, controls, client, engine: () => engine };
}

/** "2 min 5 s" for the idle gaps the scrubber shows compressed. */
export function idleLabel(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min${s % 60 ? ` ${s % 60} s` : ""}` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
