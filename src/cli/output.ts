// What the CLI writes: number formatting for the console, and the JSON
// report, written atomically so that a failed or interrupted run leaves no
// half-written file behind.

import { accessSync, constants, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ArgumentError } from '../errors.js';

/** A number with `digits` significant digits, in plain or exponent form as fits. */
export function num(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e6 ? String(Number(x.toPrecision(digits))) : x.toExponential(digits - 1);
}

export function nums(xs: readonly number[], digits = 6): string {
  return xs.length === 1 ? num(xs[0], digits) : `[${xs.map((x) => num(x, digits)).join(', ')}]`;
}

/**
 * Fails early, before any work, when the report could not be written: the
 * directory must exist and be writable.
 */
export function checkWritable(file: string): void {
  const dir = dirname(resolve(file));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ArgumentError(
      `--json ${file}: the directory ${dir} does not exist or is not writable`,
    );
  }
}

/**
 * Writes `value` as JSON to a temporary file next to `file`, then renames it
 * over `file` (rename is atomic within one file system). Non-finite numbers
 * become null, as JSON.stringify does.
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  const target = resolve(file);
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
