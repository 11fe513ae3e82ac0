/**
 * When something appeared on a page, by the page's own clock: a MutationObserver notes `Date.now()`
 * the first time the selector matches (or the text is on the page), so a test or bench measures
 * "owner acted → the person sees it" without playwright's polling in the figure. The page and this
 * process share the machine's clock.
 *
 *   const shown = await armShown(page, { selector: "[data-revoked]" });
 *   const t0 = Date.now(); await revoke();
 *   const ms = (await shown()) - t0;
 */
import type { Page } from "playwright-core";

export type ShownWhat = { selector: string } | { text: string };

declare global {
  interface Window {
    __agentroomShown?: Record<string, number>;
  }
}

/** Starts watching; the returned function waits (up to `timeoutMs`) and gives the epoch ms it appeared. */
export async function armShown(page: Page, what: ShownWhat, timeoutMs = 10_000): Promise<() => Promise<number>> {
  const key = "selector" in what ? `s:${what.selector}` : `t:${what.text}`;
  await page.evaluate(
    ({ key, selector, text }) => {
      const shown = (window.__agentroomShown ??= {});
      delete shown[key];
      const seen = () => (selector ? document.querySelector(selector) !== null : document.body.innerText.includes(text!));
      const check = () => {
        if (shown[key] === undefined && seen()) {
          shown[key] = Date.now();
          observer.disconnect();
        }
      };
      const observer = new MutationObserver(check);
      observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    },
    { key, selector: "selector" in what ? what.selector : null, text: "text" in what ? what.text : null },
  );
  return async () => {
    await page.waitForFunction((k) => window.__agentroomShown?.[k] !== undefined, key, { timeout: timeoutMs });
    return page.evaluate((k) => window.__agentroomShown![k]!, key);
  };
}
