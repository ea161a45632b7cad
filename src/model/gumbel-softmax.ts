// The Gumbel-softmax trick (Jang, Gu and Poole 2017; Maddison, Mnih and Teh
// 2017) as prepared ops on any backend: a relaxed sample of a categorical
// choice per row of logits, through which gradients flow. With Gumbel noise
// g = −ln(−ln u) and temperature τ, a row of logits z gives
//
//   y = softmax((z + g)/τ),
//
// and τ → 0 gives the one-hot argmax of z + g, an exact sample of the
// categorical distribution softmax(z) (the Gumbel-max trick). The noise is
// fixed by a seed (the counter-based generator of src/util/philox.ts, the
// same bits on every backend) or passed in, so that the derivative ops below
// differentiate at fixed noise. Kernels: shaders/gumbel.wgsl and its float64
// twin src/backend/gumbel.ts.

import type { Backend, Buf, Op } from '../backend/types.js';
import { ArgumentError, ShapeError } from '../errors.js';

/**
 * - `soft`: y = softmax((z + g)/τ), the relaxed sample (τ = 0: as `hard`).
 * - `hard`: the one-hot argmax of z + g (Gumbel-max); no gradient.
 * - `straight-through`: the hard one-hot forward; the derivative ops use the
 *   soft Jacobian at τ, as if the forward had been soft.
 */
export type GumbelMode = 'soft' | 'hard' | 'straight-through';

/** A Gumbel-softmax sample of each row of a rows×k matrix of logits. */
export interface GumbelSoftmaxSpec {
  /** The logits z, rows×k, row-major. */
  logits: Buf;
  rows: number;
  k: number;
  /** Temperature τ ≥ 0; the derivative ops need τ > 0. */
  tau: number;
  /** A u32 seed of the generator; exactly one of `seed` and `noise`. */
  seed?: number;
  /** Given Gumbel noise g, rows×k (from `gumbelNoise`, or any other). */
  noise?: Buf;
  /** Default 'soft'. */
  mode?: GumbelMode;
  label?: string;
}

/** out (rows×k) = the sample of each row; see GumbelMode. */
export function gumbelSoftmax(backend: Backend, spec: GumbelSoftmaxSpec & { out: Buf }): Op {
  const mode = spec.mode ?? 'soft';
  return backend.gumbel({
    ...spec,
    pass: 'forward',
    hard: mode !== 'soft' || spec.tau === 0,
    label: spec.label ?? `gumbelSoftmax.${mode}`,
  });
}

/**
 * The backward pass at fixed noise: out = dz = J(z)ᵀ·dy, the vector-Jacobian
 * product of the soft sample y with respect to the logits, per row
 * dz = y ⊙ (dy − ⟨dy, y⟩)/τ. `straight-through` uses this soft Jacobian; a
 * `hard` sample has none (its derivative is zero almost everywhere).
 */
export function gumbelSoftmaxBackward(
  backend: Backend,
  spec: GumbelSoftmaxSpec & { dy: Buf; out: Buf },
): Op {
  return backend.gumbel({
    ...derivativeInputs(spec, 'gumbelSoftmaxBackward'),
    pass: 'backward',
    direction: spec.dy,
  });
}

/**
 * The tangent at fixed noise: out = ẏ = J(z)·ż, per row
 * ẏ = y ⊙ (ż − ⟨ż, y⟩)/τ (the Jacobian is symmetric, so this is the kernel
 * of the backward pass with ż for dy). Modes as in the backward pass.
 */
export function gumbelSoftmaxTangent(
  backend: Backend,
  spec: GumbelSoftmaxSpec & { zdot: Buf; out: Buf },
): Op {
  return backend.gumbel({
    ...derivativeInputs(spec, 'gumbelSoftmaxTangent'),
    pass: 'tangent',
    direction: spec.zdot,
  });
}

function derivativeInputs(spec: GumbelSoftmaxSpec & { out: Buf }, what: string) {
  if (spec.mode === 'hard')
    throw new ArgumentError(
      `${what}: a hard sample has no gradient; use mode 'straight-through' for the soft one`,
    );
  const { logits, rows, k, tau, seed, noise, out } = spec;
  return { logits, rows, k, tau, seed, noise, out, label: spec.label ?? what };
}

/**
 * out (rows×k) = the generator's Gumbel noise g for `seed`, the noise a
 * seeded gumbelSoftmax adds; with `uniform`, the uniforms u it comes from
 * (exact in f32, so the backends agree bit for bit).
 */
export function gumbelNoise(
  backend: Backend,
  spec: { rows: number; k: number; seed: number; out: Buf; uniform?: boolean; label?: string },
): Op {
  const pass = spec.uniform ? 'uniform' : 'noise';
  return backend.gumbel({ ...spec, pass, label: spec.label ?? `gumbelNoise.${pass}` });
}

/**
 * Samples each row of host logits (rows×k, row-major) in one call: uploads,
 * runs gumbelSoftmax, reads back, and frees what it made.
 */
export async function sampleGumbelSoftmax(
  backend: Backend,
  logits: ArrayLike<number>,
  rows: number,
  k: number,
  opts: { tau: number; seed: number; mode?: GumbelMode },
): Promise<Float64Array> {
  if (logits.length !== rows * k)
    throw new ShapeError(
      `sampleGumbelSoftmax: ${rows}×${k} logits need ${rows * k} numbers, got ${logits.length}`,
    );
  const z = backend.createBuffer(rows * k, 'gumbel logits');
  const out = backend.createBuffer(rows * k, 'gumbel sample');
  let op: Op | undefined;
  try {
    backend.write(z, logits);
    op = gumbelSoftmax(backend, { ...opts, logits: z, rows, k, out });
    backend.run([op]);
    return await backend.read(out);
  } finally {
    op?.destroy();
    backend.destroyBuffer(z);
    backend.destroyBuffer(out);
  }
}
