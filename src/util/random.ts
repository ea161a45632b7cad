// A small seeded generator, the one the reference cases use (shared
// reference README, "Data generation"): xorshift32 (Marsaglia 13/17/5) with
// uniforms on the 2^-24 grid and Irwin–Hall normals. Every step is exactly
// rounded, so the same seed gives the same numbers in any JavaScript engine,
// and the reference data can be regenerated bit for bit.

import { ArgumentError } from '../errors.js';

export class Xorshift32 {
  #s: number;

  constructor(seed: number) {
    const s = seed >>> 0;
    if (s === 0) throw new ArgumentError('Xorshift32: the seed must be a non-zero 32-bit integer');
    this.#s = s;
  }

  /** Next raw 32-bit state. */
  nextUint32(): number {
    let s = this.#s;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    this.#s = s;
    return s;
  }

  /** Uniform on [0, 1), an exact multiple of 2^-24. */
  uniform(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Approximately standard normal: the sum of 12 uniforms minus 6. */
  normal(): number {
    let t = 0;
    for (let i = 0; i < 12; i++) t += this.uniform();
    return t - 6;
  }

  uniforms(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform();
    return out;
  }

  normals(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }
}
