import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScriptedModel, planFor, userWords, type ScriptedModel } from "./scripted-model.ts";

let model: ScriptedModel;
beforeAll(async () => {
  model = await startScriptedModel({ chunkDelayMs: 0, slowChunkDelayMs: 1, slowChunks: 20 });
});
afterAll(async () => {
  await model.close();
});

const tools = [{ type: "function", function: { name: "write" } }, { type: "function", function: { name: "bash" } }];

async function stream(body: unknown): Promise<{ status: number; chunks: Record<string, unknown>[]; done: boolean }> {
  const r = await fetch(`${model.baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await r.text();
  const datas = text.split("\n\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
  return { status: r.status, chunks: datas.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d) as Record<string, unknown>), done: datas.includes("[DONE]") };
}

const contentOf = (chunks: Record<string, unknown>[], key = "content"): string =>
  chunks.map((c) => ((c.choices as { delta?: Record<string, string> }[] | undefined)?.[0]?.delta?.[key] ?? "")).join("");

describe("scripted model", () => {
  it("lists its model", async () => {
    const r = (await (await fetch(`${model.baseURL}/models`)).json()) as { data: { id: string }[] };
    expect(r.data[0]?.id).toBe("demo");
  });

  it("streams markdown text, a usage chunk and [DONE] by default", async () => {
    const r = await stream({ stream: true, tools, messages: [{ role: "user", content: "hello" }] });
    expect(r.status).toBe(200);
    expect(contentOf(r.chunks)).toContain("```ts");
    expect(r.chunks.some((c) => c.usage)).toBe(true);
    expect(r.done).toBe(true);
  });

  it("plays write then bash as tool calls, one step per assistant turn, then closes with the last result", async () => {
    const system = { role: "system", content: "Working directory: /tmp/ws" };
    const s0 = await stream({ stream: true, tools, messages: [system, { role: "user", content: "write a.md then bash" }] });
    const call0 = s0.chunks.flatMap((c) => (c.choices as { delta: { tool_calls?: { function?: { name?: string; arguments?: string } }[] } }[])[0]?.delta.tool_calls ?? []);
    expect(call0[0]?.function?.name).toBe("write");
    expect(JSON.parse(call0.map((c) => c.function?.arguments ?? "").join(""))).toMatchObject({ filePath: "/tmp/ws/a.md" });
    const history = [system, { role: "user", content: "write a.md then bash" }, { role: "assistant", tool_calls: [{}] }, { role: "tool", content: "ok" }];
    const s1 = await stream({ stream: true, tools, messages: history });
    const call1 = s1.chunks.flatMap((c) => (c.choices as { delta: { tool_calls?: { function?: { name?: string } }[] } }[])[0]?.delta.tool_calls ?? []);
    expect(call1[0]?.function?.name).toBe("bash");
    const s2 = await stream({ stream: true, tools, messages: [...history, { role: "assistant", tool_calls: [{}] }, { role: "tool", content: "rejected: use ls" }] });
    expect(contentOf(s2.chunks)).toContain("rejected: use ls");
  });

  it("streams reasoning as reasoning_content", async () => {
    const r = await stream({ stream: true, tools, messages: [{ role: "user", content: "think about it" }] });
    expect(contentOf(r.chunks, "reasoning_content").length).toBeGreaterThan(10);
  });

  it("answers a title request (no tools) with a short title", async () => {
    const r = await stream({ stream: true, messages: [{ role: "system", content: "You are a title generator. You output ONLY a thread title." }, { role: "user", content: "fix the login bug please" }] });
    expect(contentOf(r.chunks)).toBe("Fix the login bug please");
  });

  it("fails on 'error' with an HTTP error the provider SDK reports", async () => {
    const r = await fetch(`${model.baseURL}/chat/completions`, { method: "POST", body: JSON.stringify({ stream: true, tools, messages: [{ role: "user", content: "error please" }] }) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toContain("Scripted provider error");
  });

  it("records a send time for every chunk, with the text offset a viewer can match", async () => {
    model.reset();
    await stream({ stream: true, tools, messages: [{ role: "user", content: "a long answer chunks=10 delay=1" }] });
    const chunks = model.chunks();
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i]!.t).toBeGreaterThanOrEqual(chunks[i - 1]!.t);
      expect(chunks[i]!.endOffset).toBe(chunks[i - 1]!.endOffset + chunks[i]!.text.length);
    }
    const served = await (await fetch(`${model.url}/_scripted/chunks`)).json();
    expect(served).toHaveLength(chunks.length);
  });

  it("reads keywords only from the user's words, not from OpenCode's reminders", () => {
    expect(userWords("hello <system-reminder>you must not write or run bash</system-reminder>")).toBe("hello");
    const plan = planFor({ prompt: "hello", tools: new Set(["write", "bash"]), toolResults: [], slowChunkDelayMs: 1, slowChunks: 1 });
    expect(plan.name).toBe("default");
  });
});
