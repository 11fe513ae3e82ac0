import { describe, expect, it } from "vitest";
import { Recorded, type Stat } from "./reaper.ts";

const p = (ppid: number, pgrp: number, start: number, zombie = false): Stat => ({ ppid, pgrp, start, zombie });

describe("the reaper's record", () => {
  it("keeps what left npm start's tree (an adopted OpenCode and what it starts later), by group too, and never a reused pid", () => {
    const r = new Recorded();
    const ROOT = 100;
    const REAPER = 101;
    // start.ts (100) → reaper (101), runner (200) → OpenCode (300, its own group) → a tool's shell (301)
    r.scan(ROOT, REAPER, new Map([[ROOT, p(1, 50, 1)], [REAPER, p(ROOT, REAPER, 2)], [200, p(ROOT, 200, 3)], [300, p(200, 300, 4)], [301, p(300, 300, 5)], [999, p(1, 999, 6)]]));
    expect([...r.known.keys()].sort()).toEqual([200, 300, 301]);
    // The runner is SIGKILLed: OpenCode is reparented to init, then starts another process (302);
    // a member of its group (303) shows up with init as parent; pid 200 is reused by another process.
    const later = new Map([[ROOT, p(1, 50, 1)], [REAPER, p(ROOT, REAPER, 2)], [200, p(1, 200, 77)], [300, p(1, 300, 4)], [301, p(300, 300, 5)], [302, p(300, 302, 8)], [303, p(1, 300, 9)], [999, p(1, 999, 6)]]);
    r.scan(ROOT, REAPER, later);
    expect(r.living((pid) => later.get(pid)).sort()).toEqual([300, 301, 302, 303]);
  });
});
