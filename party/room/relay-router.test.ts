import { describe, expect, it } from "vitest";
import { RelayRouter } from "./relay-router.ts";

describe("RelayRouter", () => {
  it("keeps viewers on the room up to the threshold, then fills relays to capacity in order", () => {
    const r = new RelayRouter({ relayAfterViewers: 2, relayCapacity: 2, maxRelays: 2 });
    const counts = new Map<number, number>();
    const routes = Array.from({ length: 7 }, () => r.route(0, counts, 1_000));
    expect(routes).toEqual([
      { to: "room" },
      { to: "room" },
      { to: "relay", index: 0 },
      { to: "relay", index: 0 },
      { to: "relay", index: 1 },
      { to: "relay", index: 1 },
      { to: "full" },
    ]);
  });

  it("counts joins and reports instead of pending places; pending room places expire", () => {
    const r = new RelayRouter({ relayAfterViewers: 1, relayCapacity: 1, maxRelays: 3 });
    expect(r.route(0, new Map(), 0)).toEqual({ to: "room" });
    r.joinedRoom();
    expect(r.route(1, new Map(), 0)).toEqual({ to: "relay", index: 0 });
    // Relay 0 reported its viewer joined and then left: it has room again.
    r.reported(0, 1);
    expect(r.route(1, new Map([[0, 0]]), 0)).toEqual({ to: "relay", index: 0 });
    // A room place given out but never joined counts for 2 s, then the room has room again.
    const q = new RelayRouter({ relayAfterViewers: 1, relayCapacity: 1, maxRelays: 1 });
    expect(q.route(0, new Map(), 0)).toEqual({ to: "room" });
    expect(q.route(0, new Map(), 100)).toEqual({ to: "relay", index: 0 });
    expect(q.route(0, new Map(), 3_000)).toEqual({ to: "room" });
  });
});

describe("relay reports", () => {
  it("a report sent before the latest viewers joined does not forget them (the relay never overfills)", () => {
    const r = new RelayRouter({ relayAfterViewers: 0, relayCapacity: 2, maxRelays: 2 });
    expect(r.route(0, new Map(), 0)).toEqual({ to: "relay", index: 0 });
    expect(r.route(0, new Map(), 0)).toEqual({ to: "relay", index: 0 });
    // Relay 0 reports one viewer, one join: the second is still on its way, so relay 0 is full.
    r.reported(0, 1);
    expect(r.route(0, new Map([[0, 1]]), 10)).toEqual({ to: "relay", index: 1 });
    // Its second join is reported: still full.
    r.reported(0, 2);
    expect(r.route(0, new Map([[0, 2]]), 20)).toEqual({ to: "relay", index: 1 });
    // Relay 0 died: a new instance counts from zero.
    r.forget(0);
    expect(r.route(0, new Map(), 30)).toEqual({ to: "relay", index: 0 });
  });
});

describe("relay placement", () => {
  it("maps the viewer's continent to a Durable Object location hint", async () => {
    const { locationHintFor } = await import("../relay-route.ts");
    expect(locationHintFor("EU")).toBe("weur");
    expect(locationHintFor("NA")).toBe("enam");
    expect(locationHintFor("AS")).toBe("apac");
    expect(locationHintFor(undefined)).toBeUndefined();
    expect(locationHintFor("XX")).toBeUndefined();
  });
});
