/**
 * /embed.js — defines `<agent-room>`, which shows an agentroom session in an iframe sized to its
 * content. Include it from the agentroom origin and place the element:
 *
 *   <script src="https://ROOMS.example/embed.js" async></script>
 *   <agent-room session="SESSION_ID" token="VIEWER_OR_DRIVER_TOKEN" theme="auto"
 *               src-origin="https://ROOMS.example"></agent-room>
 *
 * Attributes: `session` (required), `token` (required; a viewer token gives a read-only view, a
 * driver token adds the composer), `theme` ("light" | "dark" | "auto"), `src-origin` (where the
 * rooms are served; defaults to the origin this script was loaded from), `max-height` (px the
 * transcript may grow to before it scrolls inside; default 640), `replay` (present: play the run
 * again from its start, with the replay's controls, instead of showing it live).
 *
 * The token goes in the iframe URL's fragment, which browsers never send to a server. The embed
 * page reports its height with postMessage; only messages from our iframe and origin are used.
 * The host page must be listed in the session's allowed origins (frame-ancestors).
 * Self-contained on purpose: no imports, so it is one small file with no hashed chunks.
 */

// One IIFE: a classic <script> must not leave names in the host page's global scope.
(function defineAgentRoom(): void {
  const scriptOrigin = (() => {
    const src = (document.currentScript as HTMLScriptElement | null)?.src;
    try {
      return src ? new URL(src).origin : location.origin;
    } catch {
      return location.origin;
    }
  })();

  interface HeightMessage {
    type: "agentroom:height";
    height: number;
    session: string;
  }

  function isHeightMessage(d: unknown): d is HeightMessage {
    return (
      typeof d === "object" &&
      d !== null &&
      (d as HeightMessage).type === "agentroom:height" &&
      typeof (d as HeightMessage).height === "number" &&
      Number.isFinite((d as HeightMessage).height)
    );
  }

  class AgentRoomElement extends HTMLElement {
    static observedAttributes = ["session", "token", "theme", "src-origin", "max-height", "replay"];
    private frame: HTMLIFrameElement | null = null;
    private readonly onMessage = (e: MessageEvent) => {
      if (!this.frame || e.source !== this.frame.contentWindow || e.origin !== this.origin()) return;
      if (!isHeightMessage(e.data)) return;
      const h = Math.max(80, Math.min(Math.ceil(e.data.height), 20_000));
      this.frame.style.height = `${h}px`;
      this.dispatchEvent(new CustomEvent("agentroom-resize", { detail: { height: h } }));
    };

    connectedCallback(): void {
      window.addEventListener("message", this.onMessage);
      this.render();
    }

    disconnectedCallback(): void {
      window.removeEventListener("message", this.onMessage);
    }

    attributeChangedCallback(): void {
      if (this.isConnected) this.render();
    }

    private origin(): string {
      const o = this.getAttribute("src-origin");
      try {
        return o ? new URL(o).origin : scriptOrigin;
      } catch {
        return scriptOrigin;
      }
    }

    private render(): void {
      const session = this.getAttribute("session");
      const token = this.getAttribute("token");
      if (!session || !token) {
        this.textContent = "agent-room: set the session and token attributes";
        this.frame = null;
        return;
      }
      const frag = new URLSearchParams({ token, theme: this.getAttribute("theme") ?? "auto" });
      const max = Number(this.getAttribute("max-height"));
      if (Number.isFinite(max) && max > 0) frag.set("max", String(Math.round(max)));
      frag.set("parent", location.origin);
      if (this.hasAttribute("replay")) frag.set("replay", "1");
      const src = `${this.origin()}/embed/${encodeURIComponent(session)}#${frag}`;
      if (!this.frame) {
        this.textContent = "";
        const f = document.createElement("iframe");
        f.title = this.getAttribute("aria-label") ?? "Agent session";
        f.setAttribute("loading", "lazy");
        f.setAttribute("referrerpolicy", "no-referrer");
        f.setAttribute("allow", "clipboard-write");
        f.style.cssText = "display:block;width:100%;height:320px;border:0;color-scheme:normal;";
        this.style.display = this.style.display || "block";
        this.appendChild(f);
        this.frame = f;
      }
      if (this.frame.src !== src) this.frame.src = src;
    }
  }

  if (!customElements.get("agent-room")) customElements.define("agent-room", AgentRoomElement);
})();
