// The interface every compute backend implements: the float64 CPU backend
// (test oracle and fallback) and the f32 WebGPU backend. Solvers and autodiff
// are written once against it.
//
// Work is expressed as prepared operations (`Op`): built once with all their
// operands bound, then replayed any number of times with `run`. On the GPU an
// op is a pipeline, a bind group and a small uniform buffer; replaying a list
// of ops records their dispatches into one command encoder and submits once.
// Nothing is allocated while ops are replayed, so a loop of 5,000 CG
// iterations holds the same memory as one.
//
// All matrices are row-major. Offsets and lengths are in elements.

/** A device buffer of `length` numbers (f64 on the CPU, f32 on the GPU). */
export interface Buf {
  readonly length: number;
  readonly label: string;
}

/**
 * A scalar coefficient of a vector op: a constant, or `scale` times element
 * `index` of a buffer (so scalars such as CG's α stay on the device).
 */
export type Coef = number | { buf: Buf; index: number; scale?: number };

/** A prepared operation; `destroy` releases what it holds on the device. */
export interface Op {
  readonly label: string;
  destroy(): void;
}

export type Activation =
  { kind: 'leaky_relu'; slope: number } | { kind: 'tanh' } | { kind: 'identity' };

/** C[m×n] (=|+=) alpha·op(A)·op(B) (+ bias broadcast over rows). */
export interface MatmulSpec {
  m: number;
  n: number;
  k: number;
  /** op(A) is m×k; A is stored m×k, or k×m when transA. */
  a: Buf;
  aOffset?: number;
  transA?: boolean;
  /** op(B) is k×n; B is stored k×n, or n×k when transB. */
  b: Buf;
  bOffset?: number;
  transB?: boolean;
  c: Buf;
  cOffset?: number;
  /** Length-n vector added to every row of C. */
  bias?: Buf;
  biasOffset?: number;
  /** C += ... instead of C = ... (bias is still added once). */
  accumulate?: boolean;
  /** Factor on op(A)·op(B); default 1. */
  alpha?: number;
  label?: string;
}

/**
 * Element-wise activation passes over n elements (method.md, "Products of
 * second derivatives"):
 * - `value`:           out = σ(z)
 * - `derivMul`:        out = g ⊙ σ'(z)          (backward, and tangent of forward)
 * - `tangentBackward`: out = ġ ⊙ σ'(z) + g ⊙ σ''(z) ⊙ ż
 * `out` may alias `g` (derivMul) or `gdot` (tangentBackward).
 */
export type ActivationSpec =
  | { act: Activation; mode: 'value'; n: number; z: Buf; out: Buf; label?: string }
  | { act: Activation; mode: 'derivMul'; n: number; z: Buf; g: Buf; out: Buf; label?: string }
  | {
      act: Activation;
      mode: 'tangentBackward';
      n: number;
      z: Buf;
      zdot: Buf;
      g: Buf;
      gdot: Buf;
      out: Buf;
      label?: string;
    };

/**
 * z[i] = a·x[i] + b·y[i] for i < n. When `b` is the constant 0, y is not read
 * (so an uninitialised or NaN y cannot leak in); likewise x when `a` is the
 * constant 0. z may alias x or y. With no x, a·1 is used (a broadcast).
 */
export interface AxpbySpec {
  n: number;
  a: Coef;
  x?: Buf;
  xOffset?: number;
  b: Coef;
  y?: Buf;
  yOffset?: number;
  z: Buf;
  zOffset?: number;
  label?: string;
}

/**
 * out[outIndex] (=|+=) scale·Σ x[i]·y[i] (y defaults to x), then sqrt when
 * `sqrt` (which excludes `accumulate`). Deterministic: a fixed two-pass tree,
 * no atomics, so the same inputs give the same bits every time.
 */
export interface ReduceSpec {
  n: number;
  x: Buf;
  xOffset?: number;
  y?: Buf;
  yOffset?: number;
  out: Buf;
  outIndex?: number;
  scale?: number;
  sqrt?: boolean;
  accumulate?: boolean;
  label?: string;
}

/**
 * Slots of the CG state buffer (length CG_STATE_LENGTH). Scalars of the
 * conjugate-gradient iteration live here, on the device; the host reads the
 * buffer back only every few iterations.
 */
export const CG = {
  RR: 0, // rᵀr of the current residual
  PAP: 1, // pᵀAp
  STEP: 2, // the step taken this iteration (α, the boundary τ, or 0 when stopped)
  BETA: 3, // β = rᵀr_new / rᵀr
  RR_NEW: 4, // rᵀr after the update
  THRESH: 5, // stopping threshold on ‖r‖ (scaled problem)
  ACTIVE: 6, // 1 while iterating, 0 once stopped
  ITERS: 7, // CG updates performed (= operator applications in the loop)
  STATUS: 8, // CgStatus code
  BNORM: 9, // ‖b‖ of the original right-hand side
  INVB: 10, // 1/‖b‖ (0 when b = 0)
  XX: 11, // xᵀx (trust region only)
  XP: 12, // xᵀp (trust region only)
  PP: 13, // pᵀp (trust region only)
  RADIUS: 14, // trust-region radius in the scaled problem (0: none)
  STOP: 15, // 1 when the update of this iteration is the last one
} as const;
export const CG_STATE_LENGTH = 16;

export const CgStatus = {
  RUNNING: 0,
  CONVERGED: 1,
  BOUNDARY: 2,
  NEGATIVE_CURVATURE: 3,
  MAX_ITER: 4,
  ZERO_RHS: 5,
  NOT_FINITE: 6,
} as const;
export type CgStatusCode = (typeof CgStatus)[keyof typeof CgStatus];

/**
 * The scalar steps of CG, run by one invocation on the device:
 * - `init`:  from state[RR] holding bᵀb: BNORM, INVB, RADIUS = radius·INVB,
 *            STATUS = ZERO_RHS and ACTIVE = 0 when b = 0, else ACTIVE = 1.
 * - `start`: from state[RR] = r₀ᵀr₀ of the scaled problem: THRESH = rtol +
 *            atol·INVB (‖b̂‖ = 1), ITERS = 0, STOP = 0; if ‖r₀‖ ≤ THRESH:
 *            CONVERGED, ACTIVE = 0.
 * - `alpha`: if ACTIVE: PAP ≤ 0 (or not finite) → NEGATIVE_CURVATURE,
 *            STEP = boundary τ with a radius, else 0, STOP = 1; otherwise
 *            STEP = RR/PAP, and with a radius, if ‖x + STEP·p‖ > RADIUS, STEP =
 *            τ ≥ 0 solving ‖x + τp‖ = RADIUS, BOUNDARY, STOP = 1. ITERS += 1
 *            when STEP ≠ 0. Inactive: STEP = 0.
 * - `beta`:  if ACTIVE: STOP → ACTIVE = 0; RR_NEW not finite → NOT_FINITE,
 *            ACTIVE = 0; else BETA = RR_NEW/RR, RR = RR_NEW, then
 *            √RR ≤ THRESH → CONVERGED, ACTIVE = 0; ITERS ≥ maxIter →
 *            MAX_ITER, ACTIVE = 0. Inactive (or stopping): BETA = 0.
 */
export interface CgScalarSpec {
  state: Buf;
  mode: 'init' | 'start' | 'alpha' | 'beta';
  rtol: number;
  atol: number;
  radius: number;
  maxIter: number;
  label?: string;
}

/**
 * The fused CG update over n elements, with s = state[STEP]:
 * if s ≠ 0: x += s·p; r −= s·ap. Then state[RR_NEW] = rᵀr (deterministic
 * two-pass reduction as in ReduceSpec). When s = 0 nothing is written to x or
 * r, so a stopped iteration cannot turn them into NaN.
 */
export interface CgUpdateSpec {
  n: number;
  x: Buf;
  p: Buf;
  r: Buf;
  ap: Buf;
  state: Buf;
  label?: string;
}

/**
 * The Gumbel-softmax trick over the rows of a rows×k matrix of logits z
 * (shaders/gumbel.wgsl; the generator is documented in src/util/philox.ts).
 * With noise g and t = z + g per row:
 * - `uniform`:  out = u, the generator's uniforms in (0, 1) for `seed`
 * - `noise`:    out = g = −ln(−ln u)
 * - `forward`:  out = y = softmax(t/τ), or one-hot(argmax t) when `hard`
 * - `backward`: out = dz = y ⊙ (dy − ⟨dy, y⟩)/τ, with y the soft sample and
 *               `direction` = dy (the vector-Jacobian product w.r.t. z at
 *               fixed noise)
 * - `tangent`:  out = ẏ = y ⊙ (ż − ⟨ż, y⟩)/τ, `direction` = ż (the JVP)
 * The noise comes from `seed` (a u32) or from a given rows×k buffer `noise`:
 * exactly one of them. Every operand is rows×k from element 0; `out` shares a
 * buffer with no input. τ > 0, except that a hard forward ignores τ.
 */
export type GumbelSpec =
  | ({ pass: 'uniform' } & GumbelDraw)
  | ({ pass: 'noise' } & GumbelDraw)
  | ({ pass: 'forward'; hard: boolean } & GumbelInputs)
  | ({ pass: 'backward'; direction: Buf } & GumbelInputs)
  | ({ pass: 'tangent'; direction: Buf } & GumbelInputs);

/** The operands of the passes of GumbelSpec that only draw noise. */
export interface GumbelDraw {
  rows: number;
  k: number;
  seed: number;
  out: Buf;
  label?: string;
}

/** The operands of the passes of GumbelSpec that read logits. */
export interface GumbelInputs {
  rows: number;
  k: number;
  logits: Buf;
  tau: number;
  seed?: number;
  noise?: Buf;
  out: Buf;
  label?: string;
}

/** Counters for benchmarks and the tests that hold the solver to its budget. */
export interface BackendStats {
  /** Queue submissions: each run, read and runRead is one. */
  submits: number;
  dispatches: number;
  readbacks: number;
  /** Bytes in live device buffers (data, uniforms, scratch, staging). */
  bytesLive: number;
  buffersLive: number;
}

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  /** Human-readable description (adapter vendor/architecture on the GPU). */
  readonly info: string;
  /** Unit roundoff of the arithmetic: 2^-53 (CPU), 2^-24 (GPU f32). */
  readonly eps: number;
  readonly stats: BackendStats;

  /** A zero-filled buffer. Throws DeviceLimitError past the device's limits. */
  createBuffer(length: number, label?: string): Buf;
  /** Copies host data into buf at offset (converted to f32 on the GPU). */
  write(buf: Buf, data: ArrayLike<number>, offset?: number): void;
  /** Reads back `length` elements from offset, after all queued work. */
  read(buf: Buf, offset?: number, length?: number): Promise<Float64Array>;
  destroyBuffer(buf: Buf): void;

  matmul(spec: MatmulSpec): Op;
  activation(spec: ActivationSpec): Op;
  axpby(spec: AxpbySpec): Op;
  reduce(spec: ReduceSpec): Op;
  cgScalar(spec: CgScalarSpec): Op;
  cgUpdate(spec: CgUpdateSpec): Op;
  gumbel(spec: GumbelSpec): Op;

  /** Queues ops in order (one command encoder and one submit on the GPU). */
  run(ops: readonly Op[]): void;
  /**
   * Runs ops, then reads `length` elements of buf back, all in one submit:
   * the pattern of a solver loop that checks a small state buffer after a
   * batch of iterations. `read` alone is runRead([], ...).
   */
  runRead(ops: readonly Op[], buf: Buf, offset?: number, length?: number): Promise<Float64Array>;
  /** Resolves when all queued work has finished. */
  sync(): Promise<void>;
  /** Releases every buffer and op; the backend is unusable afterwards. */
  destroy(): void;
}
