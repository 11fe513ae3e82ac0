/** The session's file changes: a slice the runner replaces whole. */
import { z } from "zod";
import { FileDiffSchema } from "../parts.ts";
import { defineFamily, defineSlice, sliceEvent } from "./define.ts";

export const diffSlice = defineSlice("diff", z.array(FileDiffSchema), () => []);

export const diffUpdate = sliceEvent(
  diffSlice,
  "diff.update",
  { diff: z.array(FileDiffSchema) },
  (_old, ev) => ev.diff.slice(),
  (ev, diff) => ({ ...ev, diff }),
);

export const DIFF = defineFamily({ events: [diffUpdate], slices: [diffSlice] });
