// The Gumbel-softmax passes of types.ts (GumbelSpec) in float64, the CPU
// twin of shaders/gumbel.wgsl, step for step in the same order, and the
// argument checks both backends share.

import { ArgumentError } from '../errors.js';
import { gumbelNoiseAt, philoxUniform } from '../util/philox.js';
import type { Buf, GumbelSpec } from './types.js';

/** Throws ArgumentError unless the scalars and the noise source of `s` are usable. */
export function checkGumbelSpec(s: GumbelSpec): void {
  const what = s.label ?? `gumbel.${s.pass}`;
  for (const [name, v] of [
    ['rows', s.rows],
    ['k', s.k],
  ] as const)
    if (!Number.isInteger(v) || v < 0)
      throw new ArgumentError(`${what}: ${name} must be a non-negative integer, got ${v}`);
  const checkSeed = (seed: number) => {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new ArgumentError(`${what}: the seed must be an integer in [0, 2^32), got ${seed}`);
  };
  if (s.pass === 'uniform' || s.pass === 'noise') return checkSeed(s.seed);

  if ((s.seed === undefined) === (s.noise === undefined))
    throw new ArgumentError(`${what}: give exactly one of seed and noise`);
  if (s.seed !== undefined) checkSeed(s.seed);
  const hard = s.pass === 'forward' && s.hard;
  if (!hard && !(s.tau > 0 && Number.isFinite(s.tau)))
    throw new ArgumentError(`${what}: the temperature must be finite and > 0, got ${s.tau}`);
  const inputs: (Buf | undefined)[] = [s.logits, s.noise];
  if (s.pass !== 'forward') inputs.push(s.direction);
  if (inputs.includes(s.out))
    throw new ArgumentError(`${what}: out (${s.out.label}) must not share a buffer with an input`);
}

/** The float64 operands of a pass, each rows×k from element 0. */
export interface GumbelArrays {
  out: Float64Array;
  logits?: Float64Array;
  noise?: Float64Array;
  direction?: Float64Array;
}

/** Runs pass `s` (already checked) over the arrays, as the WGSL does in f32. */
export function gumbelRows(s: GumbelSpec, a: GumbelArrays): void {
  const { rows, k } = s;
  const { out } = a;
  if (s.pass === 'uniform' || s.pass === 'noise') {
    const draw = s.pass === 'uniform' ? philoxUniform : gumbelNoiseAt;
    for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) out[r * k + j] = draw(s.seed, r, j);
    return;
  }
  if (k === 0) return;
  const z = a.logits!;
  const seed = s.seed;
  const perturbed = (r: number, j: number) =>
    z[r * k + j] + (seed !== undefined ? gumbelNoiseAt(seed, r, j) : a.noise![r * k + j]);

  for (let r = 0; r < rows; r++) {
    const base = r * k;
    if (s.pass === 'forward' && s.hard) {
      // Gumbel-max: the first index of the largest t.
      let best = 0;
      let top = perturbed(r, 0);
      for (let j = 1; j < k; j++) {
        const t = perturbed(r, j);
        if (t > top) {
          top = t;
          best = j;
        }
      }
      for (let j = 0; j < k; j++) out[base + j] = j === best ? 1 : 0;
      continue;
    }

    // Softmax numerators exp((t_j − max t)/τ), left in the row of out.
    let top = -Infinity;
    for (let j = 0; j < k; j++) {
      const t = perturbed(r, j);
      out[base + j] = t;
      top = Math.max(top, t);
    }
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp((out[base + j] - top) / s.tau);
      out[base + j] = e;
      sum += e;
    }
    if (s.pass === 'forward') {
      for (let j = 0; j < k; j++) out[base + j] /= sum;
      continue;
    }

    // The symmetric Jacobian (diag(y) − y·yᵀ)/τ times v: y ⊙ (v − ⟨v, y⟩)/τ.
    const v = a.direction!;
    let dot = 0;
    for (let j = 0; j < k; j++) dot += v[base + j] * (out[base + j] / sum);
    for (let j = 0; j < k; j++) {
      const y = out[base + j] / sum;
      out[base + j] = (y * (v[base + j] - dot)) / s.tau;
    }
  }
}
