/**
 * The transcript: a virtualized list of messages (only what is near the viewport is in the DOM,
 * so 5,000 messages stay fluid), anchored to the end like a chat. It follows new content while
 * the reader is at the bottom; once they scroll up it stays put and offers "jump to latest (N
 * new)". Scrolling near the top asks for the next older page. New content is announced by the
 * session view's own live region, not here: rows that virtualization mounts while scrolling
 * must not be read out as news.
 */
import { For, Show, batch, createEffect, createSignal, on, onCleanup, onMount, type JSX } from "solid-js";
import { createVirtualizer } from "@tanstack/solid-virtual";
import type { RoomView } from "../lib/room-view.ts";
import { MessageItem } from "./MessageItem.tsx";

const LOAD_OLDER_PX = 400;
// Near a real row (a prompt ~90 px, an answer with code ~250 px), so the first frame builds few rows beyond the screen.
const ESTIMATED_ROW_PX = 170;

export function Transcript(props: {
  room: RoomView;
  onLoadOlder: () => void;
  empty?: JSX.Element;
  /** Size to the content up to this many pixels (embeds), instead of filling the parent. */
  autoHeight?: number;
}): JSX.Element {
  let scroller!: HTMLDivElement;
  const [atEnd, setAtEnd] = createSignal(true);
  const [unseen, setUnseen] = createSignal(0);
  const count = () => props.room.order.length;

  const [firstFrameDone, setFirstFrameDone] = createSignal(false);
  const virtualizer = createVirtualizer<HTMLDivElement, HTMLElement>({
    get count() {
      return count();
    },
    getScrollElement: () => scroller,
    estimateSize: () => ESTIMATED_ROW_PX,
    // Start at the end, where the reader starts: the first range is the latest rows, not the
    // oldest ones built for one frame and thrown away when the list scrolls to the bottom.
    initialOffset: () => Math.max(0, count() * ESTIMATED_ROW_PX - window.innerHeight),
    // The first frame builds only what is on screen (and one row); the rows kept ready for
    // scrolling follow once it is painted.
    get overscan() {
      return firstFrameDone() ? 6 : 1;
    },
    getItemKey: (i) => props.room.order[i] ?? i,
    anchorTo: "end",
    followOnAppend: true,
    scrollEndThreshold: 48,
  });

  // Rows are measured together once they are in the DOM: one layout for all of them, and the
  // offsets they move take effect in one update (a microtask per row forced a layout per row).
  const unmeasured: HTMLElement[] = [];
  const measureSoon = (el: HTMLElement) => {
    if (unmeasured.push(el) > 1) return;
    queueMicrotask(() => batch(() => unmeasured.splice(0).forEach((row) => virtualizer.measureElement(row))));
  };

  const checkPosition = () => {
    const end = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
    setAtEnd(end);
    if (end) setUnseen(0);
    if (scroller.scrollTop < LOAD_OLDER_PX && props.room.hasMore && !props.room.loadingHistory && count() > 0) {
      props.onLoadOlder();
    }
  };

  // Count messages that arrived below while the reader was looking at older ones.
  createEffect(
    on(
      () => props.room.order[props.room.order.length - 1],
      (last, prevLast) => {
        if (last === undefined || prevLast === undefined || last === prevLast || atEnd()) return;
        // Several may arrive in one frame: count those after the previous last one.
        const order = props.room.order;
        const at = order.lastIndexOf(prevLast);
        setUnseen((n) => n + (at >= 0 ? order.length - 1 - at : 1));
      },
    ),
  );

  // Keep the bottom pinned while text streams into the last message and the reader is there.
  // The virtualizer re-measures on resize; this handles growth inside an already-measured item.
  onMount(() => {
    const ro = new ResizeObserver(() => {
      if (atEnd()) scroller.scrollTop = scroller.scrollHeight;
    });
    const inner = scroller.firstElementChild;
    if (inner) ro.observe(inner);
    onCleanup(() => ro.disconnect());
    queueMicrotask(() => virtualizer.scrollToEnd());
  });

  // After the first batch of messages arrives (snapshot), start at the bottom — once: later
  // count changes (history pages, new messages) are the virtualizer's anchoring to handle.
  let startedAtBottom = false;
  createEffect(() => {
    if (startedAtBottom || count() === 0) return;
    startedAtBottom = true;
    requestAnimationFrame(() => {
      virtualizer.scrollToEnd();
      // After the next frame's callbacks (the bench's "painted" mark is one of them), not in them.
      requestAnimationFrame(() => setTimeout(() => setFirstFrameDone(true)));
    });
  });

  const jumpToLatest = () => {
    virtualizer.scrollToEnd();
    setUnseen(0);
    setAtEnd(true);
  };

  return (
    <div
      class="transcript-wrap"
      style={props.autoHeight ? { flex: "none", height: `${Math.max(120, Math.min(virtualizer.getTotalSize() + 16, props.autoHeight))}px` } : undefined}
    >
      <div
        class="transcript"
        ref={scroller}
        onScroll={checkPosition}
        tabIndex={0}
        role="region"
        aria-label="Transcript"
      >
        <div class="transcript-inner" style={{ height: `${virtualizer.getTotalSize()}px` }}>
          <Show when={props.room.hasMore || props.room.loadingHistory}>
            <div class="history-marker muted">{props.room.loadingHistory ? "Loading older messages…" : "Scroll up for older messages"}</div>
          </Show>
          <For each={virtualizer.getVirtualItems()}>
            {(item) => {
              const id = () => props.room.order[item.index];
              return (
                <Show when={props.room.messages[id() ?? ""]}>
                  {(m) => (
                    <div
                      class="vrow"
                      data-index={item.index}
                      ref={measureSoon}
                      style={{ transform: `translateY(${item.start}px)` }}
                    >
                      <MessageItem message={m()} continued={props.room.messages[props.room.order[item.index - 1] ?? ""]?.info.role === "assistant" && m().info.role === "assistant"} />
                    </div>
                  )}
                </Show>
              );
            }}
          </For>
        </div>
        <Show when={count() === 0 && props.room.ready}>{props.empty}</Show>
      </div>
      <Show when={!atEnd()}>
        <button type="button" class="jump-latest" onClick={jumpToLatest}>
          ↓ Jump to latest{unseen() > 0 ? ` (${unseen()} new)` : ""}
        </button>
      </Show>
    </div>
  );
}
