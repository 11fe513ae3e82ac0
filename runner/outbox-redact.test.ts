import { describe, expect, it } from "vitest";
import { Outbox } from "./outbox.ts";
import { Redactor, marker } from "./redact.ts";
import { SAMPLE_GITHUB_TOKEN, SAMPLE_PRIVATE_KEY } from "./redact-samples.ts";
import type { AgentFrame, EventBody } from "../shared/protocol.ts";

type Batch = Extract<AgentFrame, { type: "agent.batch" }>;
const delta = (d: string) => ({ body: { type: "part.delta" as const, messageID: "m", partID: "p", field: "text", delta: d } });

function setup() {
  const sent: AgentFrame[] = [];
  const box = new Outbox({ send: (f) => (sent.push(f), true), idPrefix: "t", redactor: new Redactor({ values: ["my-own-runner-secret"] }) });
  const bodies = (): EventBody[] => sent.flatMap((f) => (f.type === "agent.batch" ? (f as Batch).events.map((e) => e.body) : []));
  return { box, sent, bodies };
}

describe("Outbox with a redactor", () => {
  it("sends streamed text with secrets replaced, split anywhere, flushed at the part's end, and says how many", () => {
    const { box, bodies } = setup();
    const text = `Your token is ${SAMPLE_GITHUB_TOKEN} and the key:\n${SAMPLE_PRIVATE_KEY}\nand my-own-runner-secret. Done`;
    for (let i = 0; i < text.length; i += 37) box.push([delta(text.slice(i, i + 37))]);
    box.push([{ eid: "u1", body: { type: "part.upsert", part: { id: "p", messageID: "m", type: "text", text } } }]);
    box.flush();
    const out = bodies();
    const streamed = out.flatMap((b) => (b.type === "part.delta" ? [b.delta] : [])).join("");
    const expected = `Your token is ${marker("GitHub token")} and the key:\n${marker("private key")}\nand ${marker("environment secret")}. Done`;
    expect(streamed).toBe(expected);
    const upsert = out.find((b) => b.type === "part.upsert") as Extract<EventBody, { type: "part.upsert" }>;
    expect(upsert.part.text).toBe(expected);
    const info = out.filter((b) => b.type === "session.info").at(-1) as Extract<EventBody, { type: "session.info" }>;
    expect(info.redacted).toEqual({ count: 3, rules: { "GitHub token": 1, "private key": 1, "environment secret": 1 } });
    expect(JSON.stringify(out)).not.toContain(SAMPLE_GITHUB_TOKEN);
  });

  it("releases held text when the turn goes idle without the part's snapshot", () => {
    const { box, bodies } = setup();
    box.push([delta("see https://example.com")]);
    box.flush();
    expect(bodies().flatMap((b) => (b.type === "part.delta" ? [b.delta] : [])).join("")).toBe("see ");
    box.push([{ body: { type: "status", status: "idle" } }]);
    box.flush();
    expect(bodies().flatMap((b) => (b.type === "part.delta" ? [b.delta] : [])).join("")).toBe("see https://example.com");
  });

  it("redacts a failed prompt's error", () => {
    const { box, sent } = setup();
    box.sendInOrder({ type: "agent.prompt.failed", queueId: "q", error: `bad credentials ${SAMPLE_GITHUB_TOKEN}` });
    expect(JSON.stringify(sent)).not.toContain(SAMPLE_GITHUB_TOKEN);
  });
});
