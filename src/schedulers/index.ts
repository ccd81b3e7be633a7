// Scheduler registry: name -> factory. One line per scheduler; validation, -t and the admin API read it.
import type { SchedulerFactory } from "./scheduler.ts";
import { rr } from "./rr.ts";
import { wrr } from "./wrr.ts";
import { lc } from "./lc.ts";
import { wlc } from "./wlc.ts";
import { sed } from "./sed.ts";
import { nq } from "./nq.ts";
import { fo } from "./fo.ts";
import { ovf } from "./ovf.ts";
import { twos } from "./twos.ts";
import { lblc } from "./lblc.ts";
import { lblcr } from "./lblcr.ts";
import { dh } from "./dh.ts";
import { sh } from "./sh.ts";
import { mh } from "./mh.ts";

export const schedulers = {
  rr,
  wrr,
  lc,
  wlc,
  sed,
  nq,
  fo,
  ovf,
  twos,
  lblc,
  lblcr,
  dh,
  sh,
  mh,
} satisfies Record<string, SchedulerFactory>;

export type SchedulerName = keyof typeof schedulers;

/** Scheduler flags (`sched_flags:`) and the schedulers that read them; validation rejects any other pairing. */
export const schedulerFlags: Readonly<Record<string, readonly string[]>> = {
  sh: ["sh-fallback", "sh-port"],
  mh: ["mh-fallback", "mh-port"],
};

export function getScheduler(name: string): SchedulerFactory | null {
  return Object.hasOwn(schedulers, name) ? (schedulers as Record<string, SchedulerFactory>)[name] : null;
}
