// The backends a test suite runs against: the float64 CPU oracle and one
// WebGPU backend per test file (Dawn + SwiftShader in Node, Chromium's WebGPU
// in the browser project), plus seeded random data and NaN poisoning.

import { CpuBackend } from '../../src/backend/cpu.js';
import type { Backend, Buf } from '../../src/backend/types.js';
import { WebGpuBackend } from '../../src/backend/webgpu.js';

let backends: Promise<{ cpu: CpuBackend; gpu: WebGpuBackend }> | undefined;

/** The CPU backend and this file's WebGPU backend, created on first use. */
export function getBackends(): Promise<{ cpu: CpuBackend; gpu: WebGpuBackend }> {
  backends ??= WebGpuBackend.create().then((gpu) => ({ cpu: new CpuBackend(), gpu }));
  return backends;
}

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n seeded numbers uniform in [lo, hi). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const next = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/** Fills buf with NaN, so that any element a kernel fails to write shows up. */
export function poison(backend: Backend, buf: Buf): void {
  backend.write(buf, new Float64Array(buf.length).fill(NaN));
}

/** The values an f32 device holds for f64 data: each rounded to f32. */
export function roundF32(data: ArrayLike<number>): Float64Array {
  return Float64Array.from(data, Math.fround);
}
