import { describe, expect, it } from "vitest";
import { lintSource } from "@secretlint/core";
import { creator as preset } from "@secretlint/secretlint-rule-preset-recommend";
import { Redactor, marker } from "./redact.ts";
import { PresetScanner, envSecrets, ENV_RULE } from "./redact-rules.ts";
import { RULE_SAMPLES, SAMPLE_AWS_ACCESS_KEY, SAMPLE_AWS_SECRET, SAMPLE_GITHUB_TOKEN, SAMPLE_PRIVATE_KEY, chars } from "./redact-samples.ts";
import type { DeltaTarget } from "../shared/delta.ts";

const T: DeltaTarget = { messageID: "m1", partID: "p1", field: "text" };
const ENV_VALUE = "correct horse battery staple";

/** `text` streamed as the given deltas, then the part's end: what the room would get. */
function streamed(r: Redactor, deltas: string[]): string {
  let out = "";
  for (const d of deltas) out += r.stream(T, d);
  for (const { text } of r.release(() => true)) out += text;
  return out;
}

const CLEAN = [
  "Here is the plan:\n\n1. Read `src/index.ts`\n2. Fix the bug in parseArgs()\n",
  "export function add(a: number, b: number): number {\n  return a + b; // 8 + 13 = 21\n}\n",
  "The key insight — and it's subtle — is that tokens arrive out of order. 🙂👍🏽 naïve café",
  "-----BEGIN CERTIFICATE-----\nnot a key, just text\n-----END CERTIFICATE-----\nTOKEN_NAME=short\n",
  "AKIA is a prefix; ghp_ too; sk-ant- as well; https://user@host.example.com/path?q=1",
  "x".repeat(3_000) + "\n" + "y ".repeat(500),
];

describe("the preset's rules", () => {
  it("has a sample for every scanner, and each sample's secret is hidden", () => {
    const scanner = new PresetScanner();
    const short = scanner.ruleIds.map((id) => id.replace("@secretlint/secretlint-rule-", ""));
    expect(short.sort()).toEqual(Object.keys(RULE_SAMPLES).sort());
    const r = new Redactor({ values: [] });
    for (const [rule, { text, secret }] of Object.entries(RULE_SAMPLES)) {
      const out = r.text(text);
      expect(out, rule).toMatch(/\[redacted: [^\]]+\]/);
      expect(out.includes(secret), rule).toBe(false);
    }
    expect(r.text(`AWS_ACCESS_KEY_ID=${SAMPLE_AWS_ACCESS_KEY}`)).toBe(`AWS_ACCESS_KEY_ID=${marker("AWS access key")}`);
    expect(r.text(`AWS_SECRET_ACCESS_KEY=${SAMPLE_AWS_SECRET}`)).toBe(`AWS_SECRET_ACCESS_KEY=${marker("AWS secret access key")}`);
    expect(r.text(`token: ${SAMPLE_GITHUB_TOKEN}.`)).toBe(`token: ${marker("GitHub token")}.`);
    expect(r.text(`a\n${SAMPLE_PRIVATE_KEY}\nb`)).toBe(`a\n${marker("private key")}\nb`);
  });

  it("finds what @secretlint/core finds, sample by sample", async () => {
    const scanner = new PresetScanner();
    const config = {
      rules: [{ id: preset.meta.id, rule: preset, options: {}, rules: [{ id: "@secretlint/secretlint-rule-aws", options: { enableIDScanRule: true } }] }],
    };
    for (const [rule, { text }] of Object.entries(RULE_SAMPLES)) {
      const ext = text.startsWith("{") ? ".json" : ".txt";
      const res = await lintSource({ source: { content: text, filePath: `/x/sample${ext}`, ext, contentType: "text" }, options: { config: config as never } });
      const theirs = res.messages.filter((m) => m.messageId !== "AWSAccountID").length;
      expect(scanner.scan(text).length, rule).toBe(theirs);
      expect(theirs, rule).toBeGreaterThan(0);
    }
  });
});

describe("Redactor", () => {
  it("passes text without secrets unchanged, byte for byte, whole and streamed in every cut", () => {
    const r = new Redactor({ values: [ENV_VALUE] });
    for (const text of CLEAN) {
      expect(r.text(text)).toBe(text);
      for (const size of [1, 2, 3, 7, 64]) {
        const deltas = text.match(new RegExp(`[\\s\\S]{1,${size}}`, "g"))!;
        expect(streamed(r, deltas)).toBe(text);
      }
    }
    const body = { type: "todo.update" as const, todos: [{ id: "t1", content: CLEAN[0]!, status: "pending", priority: "high" }] };
    expect(r.body(body)).toBe(body);
    expect(r.count).toBe(0);
  });

  it("catches a secret split across two deltas at every offset", () => {
    const cases = [
      `export AWS_SECRET_ACCESS_KEY=${SAMPLE_AWS_SECRET}\n`,
      `id ${SAMPLE_AWS_ACCESS_KEY} ok`,
      `GITHUB_TOKEN=${SAMPLE_GITHUB_TOKEN}`,
      `cat key.pem\n${SAMPLE_PRIVATE_KEY}\ndone`,
      `the phrase is ${ENV_VALUE}, keep it`,
      ...Object.values(RULE_SAMPLES).map((s) => `> ${s.text} <`),
    ];
    for (const text of cases) {
      const whole = new Redactor({ values: [ENV_VALUE] }).text(text);
      expect(whole).not.toBe(text);
      for (let i = 0; i <= text.length; i++) {
        const out = streamed(new Redactor({ values: [ENV_VALUE] }), [text.slice(0, i), text.slice(i)]);
        if (out !== whole) expect.fail(`cut at ${i} of ${JSON.stringify(text.slice(0, 40))}: ${JSON.stringify(out)}`);
      }
    }
  }, 60_000);

  it("holds back only what may begin a secret", () => {
    const r = new Redactor({ values: [] });
    expect(r.stream(T, "Hello wor")).toBe("Hello wor");
    expect(r.stream(T, "ld, see https://exa")).toBe("ld, see ");
    expect(r.stream(T, "mple.com now. key: gh")).toBe("https://example.com now. key: ");
    expect(r.stream(T, "ost ")).toBe("ghost ");
  });

  it("catches secrets streamed a character at a time", () => {
    const text = `env:\nAWS_ACCESS_KEY_ID=${SAMPLE_AWS_ACCESS_KEY}\nTOKEN=${SAMPLE_GITHUB_TOKEN}\n${SAMPLE_PRIVATE_KEY}\nbye`;
    const out = streamed(new Redactor({ values: [] }), [...text]);
    expect(out).toBe(new Redactor({ values: [] }).text(text));
    for (const s of [SAMPLE_AWS_ACCESS_KEY, SAMPLE_GITHUB_TOKEN, "MII"]) expect(out).not.toContain(s);
  });

  it("redacts every string of an event but identifiers, and counts distinct secrets", () => {
    const r = new Redactor({ values: [] });
    const part = {
      id: "prt_1",
      messageID: "msg_1",
      sessionID: "ses_1",
      type: "tool",
      callID: "call_1",
      tool: "bash",
      state: { status: "completed", input: { command: "cat .env" }, output: `GITHUB_TOKEN=${SAMPLE_GITHUB_TOKEN}\n`, title: SAMPLE_GITHUB_TOKEN, metadata: { lines: [SAMPLE_AWS_ACCESS_KEY] } },
    };
    const out = r.body({ type: "part.upsert", part } as never) as unknown as { part: typeof part };
    expect(JSON.stringify(out)).not.toContain(SAMPLE_GITHUB_TOKEN);
    expect(JSON.stringify(out)).not.toContain(SAMPLE_AWS_ACCESS_KEY);
    expect(out.part.id).toBe("prt_1");
    expect(out.part.state.output).toBe(`GITHUB_TOKEN=${marker("GitHub token")}\n`);
    expect(part.state.output).toContain(SAMPLE_GITHUB_TOKEN);
    expect(r.count).toBe(2);
    r.text(`again ${SAMPLE_GITHUB_TOKEN}`);
    expect(r.count).toBe(2);
    expect(Object.fromEntries(r.perRule)).toEqual({ "GitHub token": 1, "AWS access key": 1 });
  });

  it("hides the runner's secret-looking environment values", () => {
    const env = { OPENAI_API_KEY: "abcd1234efgh", DB_PASSWORD: "hunter2hunter2", HOME: "/home/someone", SHORT_TOKEN: "1234567", PATH: "/usr/bin" };
    expect(envSecrets(env).sort()).toEqual(["abcd1234efgh", "hunter2hunter2"]);
    const r = new Redactor({ values: envSecrets(env) });
    expect(r.text("key=abcd1234efgh; home=/home/someone")).toBe(`key=${marker(ENV_RULE)}; home=/home/someone`);
  });

  it("lets an allowed rule through, for this redactor only", () => {
    const r = new Redactor({ values: [] });
    r.allow(["GitHub token"]);
    expect(r.text(SAMPLE_GITHUB_TOKEN)).toBe(SAMPLE_GITHUB_TOKEN);
    expect(r.text(SAMPLE_AWS_ACCESS_KEY)).toBe(marker("AWS access key"));
    expect(new Redactor({ values: [] }).text(SAMPLE_GITHUB_TOKEN)).toBe(marker("GitHub token"));
  });

  it("never holds more than a bounded tail of an endless token", () => {
    const r = new Redactor({ values: [] });
    let out = "";
    const run = chars(20_000);
    for (let i = 0; i < run.length; i += 100) out += r.stream(T, run.slice(i, i + 100));
    expect(run.length - out.length).toBeLessThanOrEqual(1_100);
  });
});
