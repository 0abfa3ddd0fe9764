// Times are UTC on the wire and shown in the site's timezone (default Asia/Shanghai).

let zone = "Asia/Shanghai";
let full = make(zone);

function make(tz: string): { clock: Intl.DateTimeFormat; stamp: Intl.DateTimeFormat; day: Intl.DateTimeFormat } {
  const base = { timeZone: tz, hourCycle: "h23" } as const;
  return {
    clock: new Intl.DateTimeFormat("zh-CN", {
      ...base,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }),
    stamp: new Intl.DateTimeFormat("zh-CN", {
      ...base,
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }),
    // en-CA formats as YYYY-MM-DD: a cheap key for "same local day".
    day: new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }),
  };
}

export function setTimezone(tz: string): void {
  try {
    full = make(tz);
    zone = tz;
  } catch {
    // An unknown zone name keeps the default rather than breaking every time on the page.
  }
}

export function timezone(): string {
  return zone;
}

export function clockText(d: Date = new Date()): string {
  const parts: Record<string, string> = {};
  for (const p of full.clock.formatToParts(d)) parts[p.type] = p.value;
  return `${parts["year"]}-${parts["month"]}-${parts["day"]} ${parts["weekday"]} ${parts["hour"]}:${parts["minute"]}:${parts["second"]}`;
}

export function stampText(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : full.stamp.format(d);
}

export function localDay(d: Date): string {
  return full.day.format(d);
}

export function isToday(iso: string): boolean {
  return localDay(new Date(iso)) === localDay(new Date());
}

/** Length of [start, end] for people: "12 s", "3 min 5 s", "1 h 2 min". */
export function durationText(startIso: string, endIso: string): string {
  const ms = Date.parse(endIso) - Date.parse(startIso);
  if (Number.isNaN(ms)) return "";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "14:05" (or "14:05:30" with seconds) in the site's timezone, for chart axes. */
export function hourMinute(d: Date, seconds = false): string {
  return d.toLocaleTimeString("zh-CN", {
    timeZone: zone,
    hourCycle: "h23",
    hour: "2-digit",
    minute: "2-digit",
    ...(seconds ? { second: "2-digit" } : {}),
  });
}

/** An epoch-seconds instant (the device API's unit) as a local stamp. */
export function epochText(t: number): string {
  return stampText(new Date(t * 1000).toISOString());
}

/** A wall-clock time typed in the site's timezone ("2026-11-30T08:00", a datetime-local
 * value) as a UTC ISO string, whatever the browser's own zone; "" when it is not a time. */
export function zonedToIso(local: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
  if (!m) return "";
  const [y, mo, d, hh, mm, ss] = m.slice(1).map((x) => Number(x ?? 0));
  const wall = Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, hh ?? 0, mm ?? 0, ss ?? 0);
  // The zone's offset at that instant; asked twice so a DST change in between is honoured.
  let t = wall - offsetMs(wall);
  t = wall - offsetMs(t);
  return new Date(t).toISOString();
}

function offsetMs(t: number): number {
  const parts: Record<string, number> = {};
  const f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  for (const p of f.formatToParts(new Date(t))) if (p.type !== "literal") parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts["year"] ?? 0, (parts["month"] ?? 1) - 1, parts["day"] ?? 1, parts["hour"] ?? 0, parts["minute"] ?? 0, parts["second"] ?? 0);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** An instant as a datetime-local value in the site's timezone. */
export function isoToZoned(d: Date): string {
  return new Date(d.getTime() + offsetMs(d.getTime())).toISOString().slice(0, 16);
}
