/** The agent's todo list: a slice the runner replaces whole. */
import { z } from "zod";
import { TodoSchema } from "../parts.ts";
import { defineFamily, defineSlice, sliceEvent } from "./define.ts";

export const todosSlice = defineSlice("todos", z.array(TodoSchema), () => []);

export const todoUpdate = sliceEvent(
  todosSlice,
  "todo.update",
  { todos: z.array(TodoSchema) },
  (_old, ev) => ev.todos.slice(),
  (ev, todos) => ({ ...ev, todos }),
);

export const TODO = defineFamily({ events: [todoUpdate], slices: [todosSlice] });
