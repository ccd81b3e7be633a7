// Scheduler registry: name -> factory. One line per scheduler; validation, -t and the admin API read it.
import type { SchedulerFactory } from "./scheduler.ts";
import { rr } from "./rr.ts";

export const schedulers = {
  rr,
} satisfies Record<string, SchedulerFactory>;

export type SchedulerName = keyof typeof schedulers;

export function getScheduler(name: string): SchedulerFactory | null {
  return Object.hasOwn(schedulers, name) ? (schedulers as Record<string, SchedulerFactory>)[name] : null;
}
