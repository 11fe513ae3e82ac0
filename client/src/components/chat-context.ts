/**
 * What the transcript needs from the chat to show comments on parts: how many comments a part has
 * and how to open its thread. Absent (undefined) where there is no chat (unit tests, an embed whose
 * link does not allow chat): parts then render as before, with no comment control.
 */
import { createContext, useContext } from "solid-js";

export interface PartComments {
  count(partID: string): number;
  /** Opens the chat on this part's comments. */
  open(partID: string): void;
  /** Whether this person may start a comment (else only existing ones are shown). */
  canComment(): boolean;
}

export const PartCommentsContext = createContext<PartComments | undefined>(undefined);
export const usePartComments = (): PartComments | undefined => useContext(PartCommentsContext);
