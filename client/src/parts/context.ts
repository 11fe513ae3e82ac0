/**
 * What part renderers may need from their surroundings, given through Solid context so a
 * renderer stays testable on its own: fetching a part the room sent truncated, and whether the
 * message is still streaming.
 */
import { createContext, useContext } from "solid-js";
import type { Part } from "../../../shared/parts.ts";

export interface PartEnv {
  /** GET /api/sessions/:id/parts/:partId with the page's token; rejects on failure. */
  fetchFullPart(partId: string): Promise<Part>;
}

const noFetch: PartEnv = {
  fetchFullPart: () => Promise.reject(new Error("full parts are not available here")),
};

export const PartEnvContext = createContext<PartEnv>(noFetch);
export const usePartEnv = (): PartEnv => useContext(PartEnvContext);
