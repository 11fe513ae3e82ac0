/**
 * `node bench/redact.ts` — what the runner's secret redaction (runner/redact.ts) costs on its
 * send path: per streamed delta (the outbox's push, with and without a redactor), per KB of a
 * tool output snapshot, on ordinary text and on text dense with URLs and tokens. In-process, no
 * network; prints a Markdown table (bench/RESULTS.md keeps one run).
 */
import { performance } from "node:perf_hooks";
import { Outbox } from "../runner/outbox.ts";
import { Redactor } from "../runner/redact.ts";
import { chunkText, emojiText } from "../runner/scripted-model.ts";
import { SAMPLE_GITHUB_TOKEN, SAMPLE_AWS_ACCESS_KEY, SAMPLE_PRIVATE_KEY } from "../runner/redact-samples.ts";

const PROSE = [
  "Here is the plan. I'll read `src/index.ts`, then fix the bug in **parseArgs()** and add a test.\n\n",
  "```ts\nexport function parseArgs(argv: string[]): Options {\n  const out: Options = { verbose: false };\n  for (const a of argv) if (a === \"-v\") out.verbose = true;\n  return out;\n}\n```\n\n",
  "- one\n- two: see https://example.com/docs/cli#flags for the flags\n- three\n\n",
].join("");
const DENSE = `Deploying with token ${SAMPLE_GITHUB_TOKEN} to https://user:hunter2x@deploy.example.com/api and key ${SAMPLE_AWS_ACCESS_KEY}:\n${SAMPLE_PRIVATE_KEY}\npostgres://app:s3cretpw@db:5432/app `;

function deltasOf(text: string, total: number): string[] {
  const words = chunkText(text);
  const out: string[] = [];
  for (let i = 0; out.length < total; i++) out.push(words[i % words.length]!);
  return out;
}

/** µs per delta through Outbox.push, and its median over `runs` runs. */
function outboxCost(deltas: string[], redact: boolean, runs = 5): number {
  const perRun: number[] = [];
  for (let r = 0; r < runs; r++) {
    const box = new Outbox({ send: () => true, idPrefix: "b", maxEvents: 1e9, redactor: redact ? new Redactor({ values: ["my-runner-api-token-value"] }) : null });
    const t0 = performance.now();
    for (let i = 0; i < deltas.length; i++) {
      box.push([{ body: { type: "part.delta", messageID: "m", partID: `p${i >> 9}`, field: "text", delta: deltas[i]! } }]);
      if ((i & 511) === 511) box.flush();
    }
    box.flush();
    perRun.push(((performance.now() - t0) * 1000) / deltas.length);
    box.clear();
  }
  return perRun.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

function snapshotCost(kb: number, runs = 20): number {
  const r = new Redactor({ values: ["my-runner-api-token-value"] });
  const output = (PROSE + emojiText(200)).repeat(Math.ceil((kb * 1024) / (PROSE.length + 200))).slice(0, kb * 1024);
  const body = { type: "part.upsert" as const, part: { id: "p", messageID: "m", type: "tool", tool: "bash", state: { status: "completed", output } } };
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    r.body(body as never);
    times.push((performance.now() - t0) * 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]! / kb;
}

const N = 20_000;
const rows: string[][] = [];
for (const [name, text] of [["ordinary prose and code", PROSE], ["dense with secrets and URLs", DENSE]] as const) {
  const deltas = deltasOf(text, N);
  outboxCost(deltas.slice(0, 2_000), true, 1); // warm up
  const off = outboxCost(deltas, false);
  const on = outboxCost(deltas, true);
  rows.push([name, off.toFixed(1), on.toFixed(1), (on - off).toFixed(1)]);
}
console.log(`Redaction on the runner's send path (node ${process.version}, ${N.toLocaleString("en")} word-sized deltas, median of 5 runs)\n`);
console.log("| stream | µs per delta, no redactor | µs per delta, redactor | redaction's cost (µs) |");
console.log("|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
console.log(`\nA tool output snapshot (part.upsert), scanned whole: ${snapshotCost(100).toFixed(1)} µs per KB (100 KB output, median of 20).`);
