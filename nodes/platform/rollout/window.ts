/**
 * Maintenance windows: is a moment inside a rollout's window (start time, allowed days and hours in
 * a time zone)? Local days and hours come from Intl.DateTimeFormat (no dependency); one formatter
 * per time zone is kept, as building one costs far more than formatting with it.
 */
import { DAYS, type Window } from './definition';

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    if (formatters.size > 100) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local weekday (0 = Sunday) and minute of the day of `ms` in `timeZone`. */
export function localTime(ms: number, timeZone = 'UTC'): { day: number; minute: number } {
  let weekday = 'Sun';
  let hour = 0;
  let minute = 0;
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type === 'weekday') weekday = p.value;
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day: DAYS.indexOf(weekday.toLowerCase() as (typeof DAYS)[number]), minute: hour * 60 + minute };
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The window's start time in ms, if it has one. */
export function startOf(window: Window | undefined): number | undefined {
  return window?.start !== undefined ? Date.parse(window.start) : undefined;
}

/**
 * Inside the window at `ms`: after the start time, on an allowed day, in allowed hours. A range of
 * hours that spans midnight ("22:00" to "04:00") belongs to the day it starts on.
 */
export function inWindow(window: Window | undefined, ms: number): boolean {
  if (!window) return true;
  const start = startOf(window);
  if (start !== undefined && ms < start) return false;
  if (!window.days && !window.hours) return true;
  const { day, minute } = localTime(ms, window.timeZone);
  const dayOk = (d: number) => !window.days || window.days.includes(DAYS[(d + 7) % 7]);
  if (!window.hours) return dayOk(day);
  for (const h of window.hours) {
    const from = minutesOf(h.from);
    const to = minutesOf(h.to);
    if (from < to) {
      if (minute >= from && minute < to && dayOk(day)) return true;
    } else {
      if (minute >= from && dayOk(day)) return true;
      if (minute < to && dayOk(day - 1)) return true;
    }
  }
  return false;
}
