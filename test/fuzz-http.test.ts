/**
 * HTTP API fuzz on real workerd: thousands of seeded random requests over every route, each with
 * some mix of faults — wrong method, missing / tampered / expired / other-session token, a role
 * that may not do it, an unknown or malformed session id, a body that is not JSON, of the wrong
 * shape, deeply nested or too large.
 *
 * The oracle does not fix the order in which the Worker checks things: a request with faults must
 * get one of the statuses its faults call for (405, 401, 403, 404, 400, 413), never a 5xx, and
 * always the `{error: {code, message}}` body; a request with no fault must succeed. Only reads are
 * ever sent fault-free, and at the end the sessions, their metadata and transcripts are exactly
 * what they were.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpErrorSchema } from "../shared/protocol.ts";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import fc from "fast-check";
import { badTokens, tapeArb, tapeRng, type Rng } from "./harness/fuzz.ts";
import { SyntheticAgent } from "./harness/synthetic-agent.ts";
import { recordSummary } from "./harness/faults-summary.ts";

const REQUESTS = Number(process.env.FUZZ_HTTP_REQUESTS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 424242);
/** The Worker's body cap (party/http.ts MAX_HTTP_BODY_BYTES); bodies are generated well over it. */
const BODY_CAP = 64 * 1024;

type Fault = "method" | "token" | "role" | "session" | "body" | "too_large";
const STATUS_FOR: Record<Fault, number> = { method: 405, token: 401, role: 403, session: 404, body: 400, too_large: 413 };

type TokenKind = "none" | "bad" | "viewer" | "driver" | "owner" | "agent" | "operator" | "other_owner";
type BodyKind = "none" | "valid" | "not_json" | "wrong_shape" | "deep" | "too_large" | "too_large_chunked";
/** Who may use a method: anyone, any token for the session, its owner, or the operator only. */
type Need = "public" | "any" | "owner" | "operator";

interface MethodSpec {
  need: Need;
  /** Changes state: never sent without a fault. */
  mutates?: boolean;
  /** Takes a JSON body: a valid one, and wrong shapes. */
  body?: { valid: () => unknown; wrongShape: (rng: Rng) => unknown };
}

/** One path and what each method does on it; any other method is a fault (405). */
interface Route {
  name: string;
  /** `missing` names a thing that does not exist (a part id); the route must answer 404. */
  path: (id: string, rng: Rng, missing: boolean, partId: string) => string;
  methods: Record<string, MethodSpec>;
  /** Per-session route (its id is fuzzed). */
  session: boolean;
  /** Has a sub-resource that may be missing. */
  canMiss?: boolean;
}

const createBody = {
  valid: () => ({ title: "fuzz-created" }),
  wrongShape: (rng: Rng) =>
    rng.pick<unknown>([
      { title: 5 },
      { title: "x".repeat(501) },
      { mode: "destroy" },
      { allowedOrigins: ["not a url"] },
      { allowedOrigins: "https://a.example" },
      { allowedOrigins: Array.from({ length: 51 }, (_, i) => `https://o${i}.example`) },
      { directory: ["a"] },
      { repository: "ext::sh -c id" },
      { repository: "--upload-pack=touch /tmp/x" },
      { repository: "https://user:pass@example.com/r.git" },
      { repository: "https://example.com/r.git", directory: "/srv/x" },
      { repository: "h".repeat(2_049) },
      { repository: 42 },
      { name: "n".repeat(101) },
      [],
      "title",
      7,
      null,
    ]),
};
const archiveBody = {
  valid: () => ({ archived: true }),
  wrongShape: (rng: Rng) => rng.pick<unknown>([{}, { archived: "yes" }, { archived: 1 }, { archived: null }, [true], "true", { Archived: true }]),
};
const shareBody = {
  valid: () => ({ role: "viewer" }),
  wrongShape: (rng: Rng) =>
    rng.pick<unknown>([
      {},
      { role: "owner" },
      { role: "agent" },
      { role: "viewer", ttlSeconds: -1 },
      { role: "viewer", ttlSeconds: 1e12 },
      { role: "viewer", ttlSeconds: 1.5 },
      { role: "driver", name: "n".repeat(101) },
      { role: ["viewer"] },
      "viewer",
    ]),
};

const ROUTES: Route[] = [
  { name: "health", path: () => "/health", methods: { GET: { need: "public" }, HEAD: { need: "public" } }, session: false },
  {
    name: "sessions",
    path: (_id, rng) => "/api/sessions?limit=" + encodeURIComponent(rng.pick(["5", "-1", "x", "1e9", ""])) + "&archived=" + rng.pick(["0", "1", "x"]),
    methods: { GET: { need: "operator" }, POST: { need: "operator", mutates: true, body: createBody } },
    session: false,
  },
  {
    name: "session",
    path: (id) => `/api/sessions/${id}`,
    methods: { GET: { need: "any" }, DELETE: { need: "owner", mutates: true } },
    session: true,
  },
  {
    name: "history",
    path: (id, rng) => `/api/sessions/${id}/history?limit=${rng.pick(["1", "0", "-5", "abc", "99999"])}&before=${encodeURIComponent(rng.pick(["zz'\"<>", "", "0"]))}`,
    methods: { GET: { need: "any" } },
    session: true,
  },
  {
    name: "part",
    path: (id, rng, missing, partId) => `/api/sessions/${id}/parts/${missing ? encodeURIComponent(rng.pick(["nope", "../x", "'; --", "x".repeat(300)])) : partId}`,
    methods: { GET: { need: "any" } },
    session: true,
    canMiss: true,
  },
  { name: "export", path: (id, rng) => `/api/sessions/${id}/export?format=${rng.pick(["md", "json"])}`, methods: { GET: { need: "any" } }, session: true },
  { name: "archive", path: (id) => `/api/sessions/${id}/archive`, methods: { POST: { need: "owner", mutates: true, body: archiveBody } }, session: true },
  { name: "share", path: (id) => `/api/sessions/${id}/share`, methods: { POST: { need: "owner", mutates: true, body: shareBody } }, session: true },
  { name: "embed", path: (id) => `/embed/${id}`, methods: { GET: { need: "public" }, HEAD: { need: "public" } }, session: true },
];

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

let w: WorkerHandle;

describe("HTTP API fuzz", () => {
  let sid: string;
  let otherSid: string;
  let tokens: Record<Exclude<TokenKind, "none" | "bad">, string>;
  let bad: { kind: string; token: string }[];
  let agent: SyntheticAgent;
  let partId: string;

  beforeAll(async () => {
    w = await startWorker();
    sid = (await w.createSession({ title: "target", allowedOrigins: ["https://embed.example"] })).id;
    otherSid = (await w.createSession({ title: "other" })).id;
    agent = await SyntheticAgent.join(w.roomUrl(sid), await w.agentToken(), "http");
    const { messageID } = await agent.streamMessage(1, { deltas: 20 });
    partId = `${messageID}_p1`;
    tokens = {
      viewer: await w.mintToken({ sid, role: "viewer" }),
      driver: await w.mintToken({ sid, role: "driver" }),
      owner: await w.mintToken({ sid, role: "owner" }),
      agent: await w.agentToken(),
      operator: await w.operatorToken(),
      other_owner: await w.mintToken({ sid: otherSid, role: "owner" }),
    };
    bad = await badTokens({ seed: SEED, secret: w.secret, sessionId: sid, otherSessionId: otherSid });
  });

  afterAll(async () => {
    await agent?.close();
    await w?.stop();
  });

  /** Everything a reader can see: the list, each session's metadata and transcript. */
  async function observable(): Promise<unknown> {
    const h = { authorization: `Bearer ${tokens.operator}` };
    const list = (await (await fetch(`${w.url}/api/sessions?limit=100`, { headers: h })).json()) as { sessions: { id: string; title: string; archived: boolean; status: string }[] };
    const out: Record<string, unknown> = { list: list.sessions.map((s) => [s.id, s.title, s.archived, s.status]).sort() };
    for (const id of [sid, otherSid]) {
      out[id] = {
        meta: await (await fetch(`${w.url}/api/sessions/${id}`, { headers: h })).json(),
        history: await (await fetch(`${w.url}/api/sessions/${id}/history?limit=200`, { headers: h })).json(),
      };
    }
    return out;
  }

  it(`${REQUESTS} random bad requests: the right 4xx with an error body, never a 5xx, nothing changed`, async () => {
    const before = await observable();
    const statuses: Record<number | string, number> = {};
    const failures: string[] = [];
    let sent = 0;
    let skipped = 0;
    let faulty = 0;
    let slowest = { ms: 0, what: "" };
    const started = performance.now();

    /** One random request (its choices from `rng`); what it got wrong goes to `failures`. */
    const one = async (rng: Rng): Promise<void> => {
      const route = rng.pick(ROUTES);
      const own = Object.keys(route.methods);
      const method = rng.chance(0.6) ? rng.pick(own) : rng.pick(METHODS);
      const spec: MethodSpec | undefined = route.methods[method];
      const tokenKind = rng.pick<TokenKind>(["none", "bad", "bad", "viewer", "driver", "owner", "agent", "operator", "other_owner"]);
      const idKind = route.session ? rng.pick(["real", "real", "real", "unknown", "malformed"] as const) : "real";
      const missing = route.canMiss === true && rng.chance(0.3);
      const bodySpec = spec?.body ?? Object.values(route.methods).find((m) => m.body)?.body;
      const bodyKind: BodyKind = bodySpec ? rng.pick<BodyKind>(["valid", "valid", "none", "not_json", "wrong_shape", "deep", "too_large", "too_large_chunked"]) : "none";

      const id = idKind === "real" ? sid : idKind === "unknown" ? "nosuchsession" + rng.int(1000) : rng.pick(["x".repeat(200), "a%20b", "%3Cscript%3E", "%C3%A9t%C3%A9", "..%2F..%2Fetc", "a.b", "%00"]);
      const faults = new Set<Fault>();
      if (!spec) faults.add("method");
      // Without a method spec, judge the token against the strictest thing the path does.
      const need: Need = spec?.need ?? (Object.values(route.methods).some((m) => m.need === "public") ? "public" : "any");
      const badToken = rng.pick(bad);
      const token = tokenKind === "none" ? undefined : tokenKind === "bad" ? badToken.token : tokens[tokenKind];
      // A valid token for another session is bad only where a session is named.
      const validElsewhere = tokenKind === "bad" && badToken.kind.startsWith("other_session") && !route.session;
      if (need !== "public") {
        if (validElsewhere) faults.add("role");
        else if (tokenKind === "none" || tokenKind === "bad") faults.add("token");
        else if (route.session && tokenKind === "other_owner") faults.add("token");
        else if (need === "operator" && tokenKind !== "operator") faults.add("role");
        else if (need === "owner" && tokenKind !== "owner" && tokenKind !== "operator") faults.add("role");
      }
      if (route.session && idKind !== "real") {
        faults.add("session");
        // A token for one session used on another id: refused as a token for another session.
        if (["viewer", "driver", "owner", "other_owner"].includes(tokenKind) && need !== "public") faults.add("token");
      }
      if (missing) faults.add("session");
      let body: BodyInit | undefined;
      const headers: Record<string, string> = {};
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (method !== "GET" && method !== "HEAD" && bodySpec) {
        headers["content-type"] = "application/json";
        switch (bodyKind) {
          case "valid":
            body = JSON.stringify(bodySpec.valid());
            break;
          case "none":
            // An empty body reads as {}: wrong for archive and share, fine for create.
            if (route.name !== "sessions") faults.add("body");
            break;
          case "not_json":
            body = rng.pick(["{", "nope", "{'a':1}", "\u0000", '{"title":}', "[1,]"]);
            faults.add("body");
            break;
          case "wrong_shape":
            body = JSON.stringify(bodySpec.wrongShape(rng));
            faults.add("body");
            break;
          case "deep":
            body = "[".repeat(10_000) + "]".repeat(10_000);
            faults.add("body");
            break;
          case "too_large":
            body = JSON.stringify({ ...(bodySpec.valid() as object), pad: "x".repeat(BODY_CAP + 1 + rng.int(BODY_CAP)) });
            faults.add("too_large");
            break;
          case "too_large_chunked": {
            // No content-length: the Worker must count as it reads.
            const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
            let n = 0;
            body = new ReadableStream<Uint8Array>({
              pull(ctrl) {
                if (n++ < 6) ctrl.enqueue(chunk);
                else ctrl.close();
              },
            });
            faults.add("too_large");
            break;
          }
        }
      }
      // A mutation without a fault would change the state under test: never sent.
      if (faults.size === 0 && (spec?.mutates || (method !== "GET" && method !== "HEAD"))) {
        skipped++;
        return;
      }
      const t0 = performance.now();
      let res: Response;
      try {
        res = await fetch(`${w.url}${route.path(id, rng, missing, partId)}`, {
          method,
          headers,
          body,
          ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
          redirect: "manual",
        } as RequestInit);
      } catch (e) {
        // An oversized body may be refused before it is all sent: the server answers 413 and
        // closes (RFC 9112 §9.6 allows it), and the client can see the close first. Still a
        // refusal; the state checks after the loop prove nothing changed.
        const code = (e as { cause?: { code?: string } }).cause?.code;
        if (faults.has("too_large") && (code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE")) {
          sent++;
          statuses["closed early"] = (statuses["closed early"] ?? 0) + 1;
          return;
        }
        throw e;
      }
      sent++;
      const took = performance.now() - t0;
      slowest = took > slowest.ms ? { ms: took, what: `${method} ${route.name} body=${bodyKind}` } : slowest;
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      const text = await res.text();
      const describe = `${method} ${route.name} token=${tokenKind} id=${idKind} body=${bodyKind} faults=[${[...faults]}] → ${res.status} ${text.slice(0, 160)}`;
      if (faults.size === 0) {
        if (res.status < 200 || res.status >= 300) failures.push(describe);
        return;
      }
      faulty++;
      const allowed = [...faults].map((f) => STATUS_FOR[f]);
      if (!allowed.includes(res.status)) failures.push(describe);
      if (method !== "HEAD") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (!HttpErrorSchema.safeParse(parsed).success) failures.push("error body: " + describe);
        else if (!(res.headers.get("content-type") ?? "").includes("application/json")) failures.push("content-type: " + describe);
      }
    };

    // A few requests in flight at a time: enough to overlap, bounded so the loop stays polite.
    // Each lane is a seeded fast-check property over the requests' choices: a request answered
    // wrongly fails it, and fast-check shrinks its choices to a simpler request that still fails
    // (a bad request changes nothing, so trying it again is harmless).
    const CONCURRENCY = 8;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, lane) =>
        fc.assert(
          fc.asyncProperty(tapeArb, async (tape) => {
            const before = failures.length;
            await one(tapeRng(tape));
            if (failures.length > before) throw new Error(failures.slice(before).join("\n"));
          }),
          { seed: SEED + lane, numRuns: Math.ceil(REQUESTS / CONCURRENCY) },
        ),
      ),
    );
    const ms = performance.now() - started;

    expect(failures.slice(0, 20)).toEqual([]);
    expect(Object.keys(statuses).filter((s) => Number(s) >= 500)).toEqual([]);
    expect(sent).toBeGreaterThan(REQUESTS * 0.7);
    expect(await observable()).toEqual(before);
    expect(w.logs()).not.toMatch(/worker error|Uncaught/);

    const dist = Object.entries(statuses).map(([s, n]) => `${s}×${n}`).join(", ");
    console.log(`http fuzz: ${sent} requests (${skipped} fault-free mutations not sent) in ${(ms / 1000).toFixed(1)} s: ${dist}; slowest ${slowest.ms.toFixed(0)} ms (${slowest.what})`);
    recordSummary({
      id: "fuzz-http",
      scenario: "HTTP API fuzz: every route × wrong methods, bad tokens, roles, ids, bodies",
      faults: 0,
      badInputs: faulty,
      load: `${sent} requests (${sent - faulty} fault-free reads), 8 in flight`,
      eventsLost: 0,
      crashes: Object.entries(statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0),
      notes: `statuses: ${dist}; seed ${SEED}`,
    });
  }, 300_000);

  it("routes outside the API answer 404/405/426 with an error body", async () => {
    const cases: [string, string, number][] = [
      ["GET", "/api/nothing", 404],
      ["GET", "/api/sessions/" + sid + "/y/z", 404],
      ["POST", "/health", 405],
      ["GET", "/parties/session-room/" + sid, 426],
      ["GET", "/parties/nope/main", 404],
      ["GET", "/embed/nosuchsession", 404],
      ["PUT", "/embed/" + sid, 405],
    ];
    for (const [method, path, status] of cases) {
      const res = await fetch(w.url + path, { method, headers: { authorization: `Bearer ${tokens.operator}` } });
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(HttpErrorSchema.safeParse(await res.json()).success).toBe(true);
    }
  });
});
