/**
 * `/s/:id/replay[?at=<seq>]#token=…`: a run played again (client/src/lib/replay-store.ts), and the
 * embed's `replay` variant. The transcript is drawn by the live view's own components from the
 * replay's state; below it the replay bar: play/pause, step, previous/next mark, speed, the
 * scrubber, "Share this moment", and watching together (lead, follow, who follows).
 */
import { For, Show, createSignal, onCleanup, onMount, type JSX } from "solid-js";
import { UNTITLED_SESSION, canDrive } from "../../../shared/protocol.ts";
import { REPLAY_SPEEDS, type ReplaySpeed } from "../../../shared/replay.ts";
import { createReplayStore } from "../lib/replay-store.ts";
import { api } from "../lib/api.ts";
import { Transcript } from "../components/Transcript.tsx";
import { PermissionDock, QuestionDock } from "../components/Docks.tsx";
import { ConnectionBadge } from "../components/StatusBar.tsx";
import { Scrubber } from "../components/Scrubber.tsx";
import { PartEnvContext } from "../parts/context.ts";
import "../replay.css";

const speedLabel = (s: ReplaySpeed) => (s === "jump" ? "Jump" : `${s}×`);
const clockLabel = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

/** The link to this moment: a fresh viewer link when an owner shares, a viewer's own, else none. */
async function momentLink(sessionId: string, token: string, role: string | undefined, seq: number): Promise<{ url: string; tokenless: boolean }> {
  const url = new URL(`/s/${encodeURIComponent(sessionId)}/replay`, location.origin);
  url.searchParams.set("at", String(seq));
  let tok = "";
  if (role === "owner") tok = (await api.share(token, sessionId, "viewer", `replay moment ${seq}`)).token;
  else if (role === "viewer") tok = token;
  if (tok) url.hash = `token=${tok}`;
  return { url: url.toString(), tokenless: tok === "" };
}

export function ReplayScreen(props: { sessionId: string; token: string; at?: number; embed?: boolean }): JSX.Element {
  const store = createReplayStore(props.sessionId, props.token, { at: props.at, autoplay: props.embed });
  (window as unknown as { __agentroom?: unknown }).__agentroom = store;
  const { room, replay, controls } = store;
  const role = () => room.you?.role;
  const mayLead = () => {
    const r = role();
    return r !== undefined && canDrive(r);
  };
  const leading = () => replay.leader !== null && replay.leader.id === room.you?.id;
  const watchers = () => room.presence.filter((u) => u.replay);
  const [shared, setShared] = createSignal<{ url: string; tokenless: boolean } | null>(null);
  const [shareError, setShareError] = createSignal<string | null>(null);

  const share = async () => {
    setShareError(null);
    try {
      const link = await momentLink(props.sessionId, props.token, role(), replay.position);
      setShared(link);
      await navigator.clipboard?.writeText(link.url).catch(() => {});
    } catch (e) {
      setShareError(e instanceof Error ? e.message : String(e));
    }
  };

  onMount(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
      if (e.key === " " || e.key === "k") {
        e.preventDefault();
        if (replay.playing) controls.pause();
        else controls.play();
      } else if (e.key === "," || e.key === "ArrowLeft") controls.step(-1);
      else if (e.key === "." || e.key === "ArrowRight") controls.step(1);
    };
    window.addEventListener("keydown", onKey);
    onCleanup(() => window.removeEventListener("keydown", onKey));
  });

  return (
    <PartEnvContext.Provider value={{ fetchFullPart: (partId) => api.part(props.token, props.sessionId, partId) }}>
      <div class={`room replay ${props.embed ? "chromeless" : ""}`} data-replay data-role={role() ?? "viewer"}>
        <header class="room-head">
          <Show when={!props.embed}>
            <a href={`/s/${encodeURIComponent(props.sessionId)}`} class="back" aria-label="Back to the session">
              ‹
            </a>
          </Show>
          <div class="room-title">
            <h1 title={room.session?.title}>{room.session?.title || UNTITLED_SESSION}</h1>
            <div class="room-sub muted">
              <span class="badge replay-badge">replay</span>
              <Show when={role()}>{(r) => <span class="badge">{r()}</span>}</Show>
            </div>
          </div>
          <div class="room-status">
            <ConnectionBadge connection={room.connection} />
            <Show when={!props.embed}>
              <ul class="watchers" aria-label="Watching this replay" data-watchers>
                <For each={watchers()}>
                  {(u) => (
                    <li class={`watcher ${u.replay}`} data-watcher={u.name} data-state={u.replay}>
                      {u.name}
                      <span class="muted"> · {u.replay}</span>
                      {u.id === room.you?.id ? <span class="muted"> (you)</span> : null}
                    </li>
                  )}
                </For>
              </ul>
            </Show>
          </div>
        </header>
        <Show when={replay.notice}>
          <div class="banner warn" role="alert" data-replay-notice>
            <span>{replay.notice}</span>
          </div>
        </Show>
        <Show when={replay.unavailable}>
          {(u) => (
            <div class="banner warn" role="alert" data-replay-unavailable>
              This run cannot be replayed from its start: the room keeps the last events only (from event {u().start} of {u().seq}), and the state
              before them is not kept. The session itself still shows everything.
            </div>
          )}
        </Show>
        <div class="room-body">
          <main class="room-main">
            <Show when={!replay.loading} fallback={<div class="loading muted">Loading the run… {replay.total ? `${replay.loaded} of ${replay.total} events` : ""}</div>}>
              <Transcript room={room} onLoadOlder={controls.loadOlder} empty={<div class="empty muted">Nothing had happened yet at this point of the run.</div>} />
            </Show>
            <div class="drive" hidden={room.permissions.length + room.questions.length === 0}>
              <For each={room.permissions}>{(req) => <PermissionDock request={req} canAnswer={false} onReply={() => {}} />}</For>
              <For each={room.questions}>{(q) => <QuestionDock request={q} canAnswer={false} onReply={() => {}} />}</For>
            </div>
          </main>
        </div>
        <footer class="replay-bar" aria-label="Replay controls">
          <Scrubber replay={replay} timeOf={controls.timeOf} onSeekTime={controls.seekTime} />
          <div class="replay-controls">
            <button type="button" class="btn small" aria-label="Previous mark" title="Previous mark" onClick={() => {
              const m = store.engine()?.prevMark(replay.position);
              controls.seekSeq(m ? m.seq : 0);
            }}>
              « Mark
            </button>
            <button type="button" class="btn small" data-step="-1" aria-label="One event back" title="One event back (,)" onClick={() => controls.step(-1)}>
              ◀︎|
            </button>
            <button type="button" class="btn small primary" data-play aria-label={replay.playing ? "Pause" : "Play"} onClick={() => (replay.playing ? controls.pause() : controls.play())}>
              {replay.playing ? "❚❚ Pause" : "▶ Play"}
            </button>
            <button type="button" class="btn small" data-step="1" aria-label="One event forward" title="One event forward (.)" onClick={() => controls.step(1)}>
              |▶︎
            </button>
            <button type="button" class="btn small" aria-label="Next mark" title="Next mark" onClick={() => {
              const m = store.engine()?.nextMark(replay.position);
              controls.seekSeq(m ? m.seq : replay.end);
            }}>
              Mark »
            </button>
            <div class="speeds" role="group" aria-label="Speed">
              <For each={REPLAY_SPEEDS}>
                {(s) => (
                  <button type="button" class="btn small" data-speed={String(s)} aria-pressed={replay.speed === s} onClick={() => controls.setSpeed(s)}>
                    {speedLabel(s)}
                  </button>
                )}
              </For>
            </div>
            <span class="replay-where mono" data-position={replay.position} aria-live="off">
              event {replay.position} / {replay.end} · {clockLabel(replay.pos)} / {clockLabel(replay.duration)}
            </span>
            <Show when={!props.embed}>
              <span class="replay-together">
                <button type="button" class="btn small" data-share-moment onClick={() => void share()}>
                  Share this moment
                </button>
                <Show when={mayLead()}>
                  <Show
                    when={leading()}
                    fallback={
                      <button type="button" class="btn small" data-lead onClick={() => controls.lead()}>
                        Lead
                      </button>
                    }
                  >
                    <button type="button" class="btn small" data-unlead onClick={() => controls.unlead()}>
                      Stop leading
                    </button>
                  </Show>
                </Show>
                <Show when={replay.leader && !leading()}>
                  <Show
                    when={replay.following}
                    fallback={
                      <button type="button" class="btn small" data-follow onClick={() => controls.follow(true)}>
                        Follow {replay.leader?.name}
                      </button>
                    }
                  >
                    <button type="button" class="btn small" data-unfollow onClick={() => controls.follow(false)}>
                      Leave follow mode
                    </button>
                  </Show>
                </Show>
                <Show when={replay.leader}>
                  <span class="muted" data-leader={replay.leader?.name}>
                    {leading() ? "You lead" : `${replay.leader?.name} leads`}
                    {replay.following ? " · following" : ""}
                  </span>
                </Show>
              </span>
            </Show>
          </div>
          <Show when={shared()}>
            {(s) => (
              <div class="moment-link">
                <label class="muted" for="moment-link">
                  Link to event {new URL(s().url).searchParams.get("at")} (copied){s().tokenless ? " — it carries no token: whoever opens it needs access of their own" : ""}:
                </label>
                <input id="moment-link" class="mono" data-moment-link readonly value={s().url} onFocus={(e) => e.currentTarget.select()} />
              </div>
            )}
          </Show>
          <Show when={shareError()}>
            <div class="error-text">{shareError()}</div>
          </Show>
        </footer>
      </div>
    </PartEnvContext.Provider>
  );
}
