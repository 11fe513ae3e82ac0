import { describe, expect, it } from "vitest";
import { PRESENCE_LISTED, PresenceRoster } from "./presence.ts";

describe("presence roster", () => {
  it("loads once from the attachments, then follows joins, typing and leaves", () => {
    const r = new PresenceRoster();
    let loads = 0;
    const load = () => (loads++, [{ id: "a", name: "Ann", role: "viewer" as const }]);
    r.set({ id: "early", name: "ignored until loaded", role: "viewer" }); // loading reads everyone anyway
    r.ensure(load);
    r.ensure(load);
    expect(loads).toBe(1);
    r.set({ id: "b", name: "Bob", role: "driver" });
    r.set({ id: "a", name: "Ann", role: "viewer", typing: true });
    expect(r.frame()).toEqual({
      users: [
        { id: "a", name: "Ann", role: "viewer", typing: true },
        { id: "b", name: "Bob", role: "driver" },
      ],
      total: 2,
    });
    r.remove("a");
    expect(r.frame()).toEqual({ users: [{ id: "b", name: "Bob", role: "driver" }], total: 1 });
  });

  it("a big room lists typists and those who can act first, and counts everyone", () => {
    const r = new PresenceRoster();
    r.ensure(() => []);
    for (let i = 0; i < 300; i++) r.set({ id: `v${i}`, name: `viewer ${i}`, role: "viewer" });
    r.set({ id: "o", name: "Owner", role: "owner" });
    r.set({ id: "t", name: "Typist", role: "viewer", typing: true });
    r.set({ id: "g", name: "runner", role: "agent" });
    const f = r.frame();
    expect(f.total).toBe(303);
    expect(f.users).toHaveLength(PRESENCE_LISTED);
    expect(f.users.slice(0, 3).map((u) => u.id)).toEqual(["t", "o", "g"]);
  });
});
