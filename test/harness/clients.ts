/**
 * The room and lobby clients as tests use them: the product's clients plus `waitFor`, which only
 * tests need (the app reacts to changes instead of waiting for a state).
 */
import { RoomClient } from "../../shared/room-client.ts";
import { LobbyClient } from "../../shared/lobby-client.ts";
import type { ConnectionState } from "../../shared/connection.ts";

/**
 * Resolves once `holds()` is true, checked now and whenever `subscribe` reports a change; rejects
 * after `timeoutMs`, when `holds` throws, or when the connection closes for good.
 */
function settle(
  holds: () => boolean,
  subscribe: (check: () => void) => (() => void)[],
  state: () => ConnectionState,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const unsubs: (() => void)[] = [];
    const done = (err?: Error): void => {
      clearTimeout(timer);
      for (const u of unsubs) u();
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      let ok = false;
      try {
        ok = holds();
      } catch (e) {
        return done(e as Error);
      }
      if (ok) return done();
      const s = state();
      if (s.status === "closed") done(new Error(`connection closed (${s.reason}: ${s.message}) while waiting`));
    };
    const timer = setTimeout(() => done(new Error(`waitFor timed out after ${timeoutMs} ms`)), timeoutMs);
    unsubs.push(...subscribe(check));
    check();
  });
}

export class TestRoomClient extends RoomClient {
  /** Resolves once `predicate` holds (checked now and after every change, state or presence update). */
  waitFor(predicate: (client: this) => boolean, timeoutMs = 10_000): Promise<void> {
    return settle(() => predicate(this), (check) => [this.onChange(check), this.onStateChange(check), this.onPresence(check)], () => this.state, timeoutMs);
  }
}

export class TestLobbyClient extends LobbyClient {
  /** Resolves once `predicate` holds, checked now and after every change. */
  waitFor(predicate: (client: this) => boolean, timeoutMs = 10_000): Promise<void> {
    return settle(() => predicate(this), (check) => [this.onChange(check), this.onStateChange(check)], () => this.state, timeoutMs);
  }
}
