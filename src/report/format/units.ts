// How times, sizes and readiness checks are written for people, in reports and in every command's
// output. JSON output keeps raw numbers.

import type { ReadyCheck } from '../../core/types.js';

/** 45 → "45s", 90 → "1m30s", 3600 → "1h". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const negative = seconds < 0;
  let s = Math.round(Math.abs(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''];
  return (negative ? '-' : '') + parts.join('');
}

/** Milliseconds with one decimal below a minute (timings in reports), else as formatSeconds. */
export function formatMillis(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (Math.abs(ms) < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return formatSeconds(ms / 1000);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The value as it is written in xen-guests:ready. */
export function formatReady(check: ReadyCheck | null): string {
  if (!check) return '-';
  return check.kind === 'vm-data' ? `vm-data/${check.key}` : check.kind;
}

/** Milliseconds between two ISO times; null when either is missing or unparsable. */
export function spanMillis(from: string | null, to: string | null): number | null {
  if (!from || !to) return null;
  const a = Date.parse(from);
  const b = Date.parse(to);
  return Number.isFinite(a) && Number.isFinite(b) ? b - a : null;
}

export function shortUuid(uuid: string): string {
  return uuid.slice(0, 8);
}
