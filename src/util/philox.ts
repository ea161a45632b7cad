// The counter-based generator behind the Gumbel noise (shaders/gumbel.wgsl
// holds its WGSL twin). Element (row, column) of a sample with seed s takes
// the first output word w of Philox2x32-10 (Salmon, Moraes, Dror and Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC'11) with counter
// (column, row) and key s, and turns it into the uniform
//
//   u = (2·(w >> 9) + 1) · 2^-24,
//
// an odd multiple of 2^-24: 2^-24 ≤ u ≤ 1 − 2^-24, never 0 or 1, and exactly
// representable in f32, so the CPU and the GPU draw bit-identical uniforms
// (the ops are u32 multiplies, xors and shifts; Math.imul and >>> 0 here).
// The Gumbel variate is g = −ln(−ln u), which the bounds on u confine to
// [−ln(24 ln 2), −ln(−ln(1 − 2^-24))] ≈ [−2.812, 16.636].

/** Philox2x32's round multiplier and key increment (Random123). */
const PHILOX_M = 0xd256d193;
const PHILOX_W = 0x9e3779b9;

/** The high word of the 64-bit product a·b of two u32, from 16-bit halves (as the WGSL). */
function mulHi(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  // Each partial product is below 2^32, exact in a double.
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 % 0x10000) + (p10 % 0x10000);
  return (a1 * b1 + Math.floor(p01 / 0x10000) + Math.floor(p10 / 0x10000) + (mid >>> 16)) >>> 0;
}

/**
 * Philox2x32-10: both output words for counter (c0, c1) and key; ten rounds
 * of (x0, x1) ← (hi(M·x0) ⊕ key ⊕ x1, lo(M·x0)), the key bumped by W after
 * each. Matches Random123's known answers (test/gumbel.test.ts).
 */
export function philox2x32(c0: number, c1: number, key: number): [number, number] {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let k = key >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi = mulHi(PHILOX_M, x0);
    const lo = Math.imul(PHILOX_M, x0) >>> 0;
    x0 = (hi ^ k ^ x1) >>> 0;
    x1 = lo;
    k = (k + PHILOX_W) >>> 0;
  }
  return [x0, x1];
}

/** The uniform in (0, 1) of element (row, column) for `seed`, exactly as the GPU draws it. */
export function philoxUniform(seed: number, row: number, column: number): number {
  const w = philox2x32(column, row, seed)[0];
  return ((w >>> 9) * 2 + 1) / 16777216;
}

/** The Gumbel noise g = −ln(−ln u) of element (row, column) for `seed`, in float64. */
export function gumbelNoiseAt(seed: number, row: number, column: number): number {
  return -Math.log(-Math.log(philoxUniform(seed, row, column)));
}
