// Specialises a shaders/*.wgsl source: its `${NAME}` placeholders become the
// values of `defines`, and `#if ${NAME}` blocks are resolved by
// wgsl-preprocessor. The .wgsl files are plain text (not template literals), so
// the text is split at each placeholder and handed to the `wgsl` tag as the
// strings and values of a template.

import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { ArgumentError } from '../errors.js';

export type DefineValue = string | number | boolean;
export type Defines = Readonly<Record<string, DefineValue>>;

const PLACEHOLDER = /\$\{(\w+)\}/g;

export function specialize(source: string, defines: Defines, what: string): string {
  const strings: string[] = [];
  const values: DefineValue[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const name = match[1];
    if (!(name in defines))
      throw new ArgumentError(`${what}: no value for placeholder \${${name}}`);
    strings.push(source.slice(last, match.index));
    values.push(defines[name]);
    last = match.index! + match[0].length;
  }
  strings.push(source.slice(last));
  return wgsl(strings, ...values);
}

/** The source with line numbers, for compiler messages. */
export function numberLines(source: string): string {
  const lines = source.split('\n');
  const width = String(lines.length).length;
  return lines.map((l, i) => `${String(i + 1).padStart(width)}: ${l}`).join('\n');
}
