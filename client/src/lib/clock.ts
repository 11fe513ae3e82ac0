/**
 * One shared ticking clock for elapsed-time labels. It runs only while something subscribes
 * (a running tool is on screen), so an idle transcript costs no timers.
 */
import { createSignal, onCleanup } from "solid-js";

const [now, setNow] = createSignal(Date.now());
let subscribers = 0;
let timer: ReturnType<typeof setInterval> | undefined;

/** Call inside a component: returns an accessor of the current time, ticking every second. */
export function useNow(): () => number {
  subscribers++;
  if (!timer) {
    setNow(Date.now());
    timer = setInterval(() => setNow(Date.now()), 1000);
  }
  onCleanup(() => {
    subscribers--;
    if (subscribers === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  });
  return now;
}
