/** Component tests of the driving area and status widgets (jsdom). */
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@solidjs/testing-library";
import { Composer } from "./Composer.tsx";
import { PermissionDock, QuestionDock } from "./Docks.tsx";
import { QueueList } from "./QueueList.tsx";
import { AgentBadge, ConnectionBadge, PresenceList, tabTitle, UsageBadge } from "./StatusBar.tsx";
import type { PermissionRequest, QuestionRequest, QueueItem, SessionMeta } from "../../../shared/protocol.ts";

afterEach(cleanup);

function composer(over: Partial<Parameters<typeof Composer>[0]> = {}) {
  const props = {
    mode: "build" as const,
    busy: false,
    stopping: false,
    onSend: vi.fn(),
    onStop: vi.fn(),
    onMode: vi.fn(),
    onTyping: vi.fn(),
    ...over,
  };
  render(() => <Composer {...props} />);
  return { props, input: screen.getByLabelText("Prompt") as HTMLTextAreaElement };
}

describe("composer", () => {
  it("sends on Enter and clears; Shift+Enter does not send", () => {
    const { props, input } = composer();
    fireEvent.input(input, { target: { value: "line one" } });
    fireEvent.keyDown(input, { key: "Enter", shiftKey: true });
    expect(props.onSend).not.toHaveBeenCalled();
    fireEvent.keyDown(input, { key: "Enter" });
    expect(props.onSend).toHaveBeenCalledWith("line one");
    expect(input.value).toBe("");
  });

  it("does not send blank text", () => {
    const { props, input } = composer();
    fireEvent.input(input, { target: { value: "   " } });
    fireEvent.keyDown(input, { key: "Enter" });
    expect(props.onSend).not.toHaveBeenCalled();
  });

  it("queues while busy, stops on Esc and with the Stop button", () => {
    const { props, input } = composer({ busy: true });
    expect(screen.getByRole("button", { name: "Queue" })).toBeTruthy();
    fireEvent.keyDown(input, { key: "Escape" });
    expect(props.onStop).toHaveBeenCalledTimes(1);
    fireEvent.click(screen.getByRole("button", { name: "Stop" }));
    expect(props.onStop).toHaveBeenCalledTimes(2);
  });

  it("shows Stopping… at once and disables Stop", () => {
    composer({ busy: true, stopping: true });
    const b = screen.getByRole("button", { name: "Stopping…" }) as HTMLButtonElement;
    expect(b.disabled).toBe(true);
  });

  it("toggles Build/Plan and reports typing", () => {
    const { props, input } = composer();
    fireEvent.click(screen.getByRole("radio", { name: "Plan" }));
    expect(props.onMode).toHaveBeenCalledWith("plan");
    fireEvent.input(input, { target: { value: "h" } });
    expect(props.onTyping).toHaveBeenCalledWith(true);
  });
});

const perm: PermissionRequest = { id: "per_1", permission: "bash", title: "Run: ls -la", patterns: ["ls -la"], createdAt: 1 };

describe("permission dock", () => {
  it("lets a driver answer once / always / reject with a message", () => {
    const onReply = vi.fn();
    render(() => <PermissionDock request={perm} canAnswer onReply={onReply} />);
    fireEvent.input(screen.getByLabelText(/message to the agent/i), { target: { value: "not now" } });
    fireEvent.click(screen.getByRole("button", { name: "Reject" }));
    expect(onReply).toHaveBeenCalledWith("reject", "not now");
    // One answer only: the buttons lock until the room closes the request.
    expect((screen.getByRole("button", { name: "Allow once" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows a viewer that the agent waits, with no buttons", () => {
    const { container } = render(() => <PermissionDock request={perm} canAnswer={false} onReply={vi.fn()} />);
    expect(container.textContent).toContain("Waiting for approval");
    expect(container.textContent).toContain("ls -la");
    expect(container.querySelectorAll("button")).toHaveLength(0);
  });
});

describe("question dock", () => {
  const q: QuestionRequest = {
    id: "que_1",
    createdAt: 1,
    questions: [{ question: "Which colour?", header: "Colour", options: [{ label: "Blue" }, { label: "Red" }] }],
  };
  it("answers with the chosen option", () => {
    const onReply = vi.fn();
    render(() => <QuestionDock request={q} canAnswer onReply={onReply} />);
    const answer = screen.getByRole("button", { name: "Answer" }) as HTMLButtonElement;
    expect(answer.disabled).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Red" }));
    fireEvent.click(answer);
    expect(onReply).toHaveBeenCalledWith([["Red"]]);
  });
  it("is read-only for viewers", () => {
    const { container } = render(() => <QuestionDock request={q} canAnswer={false} onReply={vi.fn()} />);
    expect(container.textContent).toContain("Waiting for a driver");
    expect(screen.queryByRole("button", { name: "Answer" })).toBeNull();
  });
});

describe("queue", () => {
  const items: QueueItem[] = [
    { id: "q1", text: "first follow-up", mode: "build", by: "Dana", createdAt: 1, state: "dispatched" },
    { id: "q2", text: "second follow-up", mode: "plan", by: "Dana", createdAt: 2, state: "queued" },
  ];
  it("is visible to everyone; only drivers cancel, and only items still queued", () => {
    const onCancel = vi.fn();
    const { container, unmount } = render(() => <QueueList queue={items} canCancel onCancel={onCancel} />);
    expect(container.querySelectorAll(".queue-item")).toHaveLength(2);
    const cancels = screen.getAllByRole("button", { name: /cancel queued prompt/i });
    expect(cancels).toHaveLength(1);
    fireEvent.click(cancels[0]!);
    expect(onCancel).toHaveBeenCalledWith("q2");
    unmount();
    const viewer = render(() => <QueueList queue={items} canCancel={false} onCancel={onCancel} />);
    expect(viewer.container.querySelectorAll(".queue-item")).toHaveLength(2);
    expect(viewer.container.querySelectorAll("button")).toHaveLength(0);
  });
});

describe("status", () => {
  it("says how the connection is", () => {
    const cases = [
      [{ kind: "open" }, "Connected"],
      [{ kind: "open", slow: true }, "Connected — the room is busy"],
      [{ kind: "catching-up" }, "Catching up"],
      [{ kind: "offline" }, "Offline"],
      [{ kind: "reconnecting", attempt: 3, nextTryAt: Date.now() + 4_000 }, "Reconnecting (attempt 3, next try in 4 s)"],
      [{ kind: "closed", reason: "token expired" }, "Disconnected: token expired"],
    ] as const;
    for (const [c, text] of cases) {
      const { container, unmount } = render(() => <ConnectionBadge connection={c} />);
      expect(container.textContent).toContain(text);
      unmount();
    }
  });

  it("shows the latest turn's tokens and cost and the session's, nothing before the first report", () => {
    const tokens = (input: number, output: number) => ({ input, output, reasoning: 0, cache: { read: 0, write: 0 } });
    const empty = render(() => <UsageBadge usage={{ turn: null, total: { tokens: tokens(0, 0), cost: 0 }, last: null }} />);
    expect(empty.container.textContent).toBe("");
    empty.unmount();
    const usage = { turn: { id: "u2", tokens: tokens(12_345, 678), cost: 0.0421 }, total: { tokens: tokens(40_000, 2_000), cost: 1.5 }, last: null };
    const { container } = render(() => <UsageBadge usage={usage} />);
    expect(container.textContent).toBe("Turn 12k in · 678 out · $0.0421 — session 42k tokens · $1.50");
  });

  it("says what the agent is doing", () => {
    const base = { id: "s", title: "t", mode: "build", agentStatus: "idle", agentOnline: true, archived: false, createdAt: 0, updatedAt: 0, allowedOrigins: [] } as SessionMeta;
    const text = (s: Partial<SessionMeta>) => {
      const { container, unmount } = render(() => <AgentBadge session={{ ...base, ...s }} />);
      const t = container.textContent;
      unmount();
      return t;
    };
    expect(text({})).toContain("Agent idle");
    expect(text({ agentStatus: "busy" })).toContain("Agent working");
    expect(text({ agentStatus: "waiting" })).toContain("Waiting for approval");
    expect(text({ agentOnline: false })).toContain("Agent offline");
    // No runner can take it: the room says so, and why.
    const waiting = text({ agentOnline: false, runnerWait: { since: 0, reason: "runners_full" } });
    expect(waiting).toContain("Waiting for a runner — all runners are full");
    expect(waiting).not.toContain("Agent offline");
    expect(text({ archived: true })).toContain("Archived");
    const git = "https://github.com/o/r.git";
    expect(text({ repository: git })).toContain("Cloning the repository");
    expect(text({ repository: git, workspace: "/w/s" })).toContain("Agent idle");
    expect(text({ repository: git, lastError: "git clone failed" })).toContain("Agent idle");
    // The tab says what needs someone, first.
    expect(tabTitle({ ...base, title: "Fix CI" })).toBe("Fix CI — agentroom");
    expect(tabTitle({ ...base, title: "Fix CI", agentStatus: "waiting" })).toBe("Needs approval · Fix CI — agentroom");
    expect(tabTitle({ ...base, title: "Fix CI", agentStatus: "waiting" }, 3)).toBe("Needs approval · 3 new in chat · Fix CI — agentroom");
    expect(tabTitle({ ...base, title: "Fix CI", agentStatus: "busy" })).toBe("● Fix CI — agentroom");
    expect(tabTitle({ ...base, title: "Fix CI", agentStatus: "busy", agentOnline: false })).toBe("Fix CI — agentroom");
    expect(tabTitle(null)).toBe("agentroom");
  });

  it("lists people with roles and who is typing, never the agent", () => {
    const { container } = render(() => (
      <PresenceList
        youId="c1"
        users={[
          { id: "c1", name: "Dana Driver", role: "driver" },
          { id: "c2", name: "Vic", role: "viewer", typing: true },
          { id: "c3", name: "runner", role: "agent" },
        ]}
      />
    ));
    expect(container.querySelectorAll(".avatar")).toHaveLength(2);
    expect(container.textContent).toContain("Dana Driver, driver, you");
    expect(container.textContent).toContain("Vic is typing");
    expect(container.textContent).not.toContain("runner");
  });

  it("presence counts the people a big room does not list", () => {
    const users = Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, name: `Person ${i}`, role: "viewer" as const }));
    const { container } = render(() => <PresenceList users={users} total={1_000} />);
    expect(container.querySelectorAll(".avatar:not(.more)")).toHaveLength(8);
    expect(container.querySelector(".avatar.more")!.textContent).toBe("+992");
  });
});
