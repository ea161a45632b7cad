// A loss L(ω, λ) on one dataset, assembled from composable terms, with the
// prepared ops that compute its value, its gradients ∇_ω L and ∇_λ L, and
// forward-over-reverse products: for a direction v, one tangent pass gives
// both ∇²_ωω L·v and ∇²_λω L·v (method.md, "Products of second derivatives").
//
// Terms: the data term ½·mean((f(X; ω) − y)²) through the network, and the
// L2 penalty ½·Σ_l α_l‖W_l‖² on weight matrices (never biases). Weights ω and
// hyperparameters λ = (α_k) are separate device buffers, shared by every
// objective built on them (train and validation objectives see the same ω).

import { ShapeError, DataError } from '../errors.js';
import type { Backend, Buf, Op } from '../backend/types.js';
import { type Mlp, type PenaltyKind, hyperCount, hyperIndexOf } from './mlp.js';

/** Where a term accumulates its contributions. */
interface Sinks {
  value: Buf; // 1 element
  grad: Buf; // nParams
  hyperGrad: Buf; // nHyper
}

/**
 * One additive part of a loss. Every method returns ops that ADD into the
 * sinks (the objective zeroes them first), so terms compose by concatenation.
 */
export interface Term {
  /** Value only (forward pass). */
  valueOps(s: Sinks): Op[];
  /** Value, ∇_ω and ∇_λ; leaves what tangentOps needs in place. */
  gradientOps(s: Sinks): Op[];
  /**
   * Tangent of the gradient along v at the point of the last gradientOps:
   * adds ∇²_ωω L·v to `hv` and ∇²_λω L·v to `mixed`.
   */
  tangentOps(v: Buf, hv: Buf, mixed: Buf): Op[];
  /**
   * Tangent of ∇_ω L along the hyperparameter direction e_k: adds the
   * column ∇²_ωλ_k L to `out` (forward mode in λ over reverse mode in ω).
   */
  hyperTangentOps(k: number, out: Buf): Op[];
  destroy(): void;
}

export interface DataSet {
  /** Row-major n×p inputs. */
  X: ArrayLike<number>;
  /** n×outputs targets (row-major). */
  y: ArrayLike<number>;
  n: number;
}

/** Checks shapes and finiteness of a dataset against a model. */
export function checkDataSet(mlp: Mlp, d: DataSet, what = 'data'): void {
  if (!Number.isInteger(d.n) || d.n < 1) throw new DataError(`${what}: no rows (n = ${d.n})`);
  if (d.X.length !== d.n * mlp.inputs)
    throw new ShapeError(
      `${what}: X has ${d.X.length} values, expected n·p = ${d.n}·${mlp.inputs} = ${d.n * mlp.inputs}`,
    );
  if (d.y.length !== d.n * mlp.outputs)
    throw new ShapeError(
      `${what}: y has ${d.y.length} values, expected ${d.n * mlp.outputs} (${d.n} rows × ${mlp.outputs} outputs); X and y row counts differ`,
    );
  for (const [name, arr, width] of [
    ['X', d.X, mlp.inputs],
    ['y', d.y, mlp.outputs],
  ] as const)
    for (let i = 0; i < arr.length; i++)
      if (!Number.isFinite(arr[i]))
        throw new DataError(
          `${what}: ${name} row ${Math.floor(i / width) + 1}, column ${(i % width) + 1} is ${arr[i]}`,
        );
}

/** ½·mean((f(X; ω) − y)²) over all n·outputs elements, through the MLP. */
export class MseTerm implements Term {
  readonly n: number;
  readonly #b: Backend;
  readonly #mlp: Mlp;
  readonly #w: Buf;
  readonly #bufs: Buf[] = [];
  readonly #ops: Op[] = [];
  readonly X: Buf;
  readonly Y: Buf;
  readonly #ones: Buf;
  /** Per layer l = 1..L (index l): pre-activations, activations, and their adjoints and tangents. */
  readonly #Z: Buf[] = [];
  readonly #H: Buf[] = [];
  readonly #dZ: Buf[] = [];
  readonly #dH: Buf[] = [];
  readonly #Zd: Buf[] = [];
  readonly #Hd: Buf[] = [];
  readonly #dZd: Buf[] = [];
  readonly #dHd: Buf[] = [];
  readonly #R: Buf;
  readonly #forward: Op[];
  readonly #mseValue: (s: Sinks) => Op[];

  constructor(backend: Backend, mlp: Mlp, params: Buf, data: DataSet, label = 'data') {
    checkDataSet(mlp, data, label);
    this.#b = backend;
    this.#mlp = mlp;
    this.#w = params;
    this.n = data.n;
    const n = data.n;
    const L = mlp.depth;
    const buf = (len: number, name: string) => {
      const b = backend.createBuffer(len, `${label}.${name}`);
      this.#bufs.push(b);
      return b;
    };
    // A failure part-way (a buffer over the device's limit, say) releases
    // what was already allocated, so nothing leaks.
    try {
      this.X = buf(n * mlp.inputs, 'X');
      backend.write(this.X, data.X);
      this.Y = buf(n * mlp.outputs, 'y');
      backend.write(this.Y, data.y);
      this.#ones = buf(n, 'ones');
      this.#H[0] = this.X;
      for (let l = 1; l <= L; l++) {
        const width = n * mlp.sizes[l];
        this.#Z[l] = buf(width, `Z${l}`);
        this.#dZ[l] = buf(width, `dZ${l}`);
        this.#Zd[l] = buf(width, `Zdot${l}`);
        this.#dZd[l] = buf(width, `dZdot${l}`);
        if (l < L) {
          this.#H[l] = buf(width, `H${l}`);
          this.#dH[l] = buf(width, `dH${l}`);
          this.#Hd[l] = buf(width, `Hdot${l}`);
          this.#dHd[l] = buf(width, `dHdot${l}`);
        }
      }
      this.#R = buf(n * mlp.outputs, 'residual');
      backend.run([
        this.#op(backend.axpby({ n, a: 1, b: 0, z: this.#ones, label: `${label}.ones` })),
      ]);

      // Forward pass: Z_l = H_{l-1}·W_lᵀ + b_l, H_l = σ(Z_l); residual R = f − y.
      const fwd: Op[] = [];
      for (let l = 1; l <= L; l++) {
        fwd.push(
          this.#linear(this.#H[l - 1], params, this.#Z[l], l, false, `${label}.forward${l}`),
        );
        if (l < L)
          fwd.push(
            this.#op(
              backend.activation({
                act: mlp.activation,
                mode: 'value',
                n: n * mlp.sizes[l],
                z: this.#Z[l],
                out: this.#H[l],
              }),
            ),
          );
      }
      const no = n * mlp.outputs;
      fwd.push(
        this.#op(
          backend.axpby({
            n: no,
            a: 1,
            x: this.#Z[L],
            b: -1,
            y: this.Y,
            z: this.#R,
            label: `${label}.residual`,
          }),
        ),
      );
      this.#forward = fwd;
      this.#mseValue = (s) => [
        this.#op(
          backend.reduce({
            n: no,
            x: this.#R,
            out: s.value,
            scale: 0.5 / no,
            accumulate: true,
            label: `${label}.mse`,
          }),
        ),
      ];
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  #op<T extends Op>(op: T): T {
    this.#ops.push(op);
    return op;
  }

  /** out (=|+=) inp·W_lᵀ (+ b_l) for the block of layer l in `w` (n rows). */
  #linear(
    inp: Buf,
    w: Buf,
    out: Buf,
    l: number,
    accumulate: boolean,
    label: string,
    withBias = true,
  ): Op {
    const W = this.#mlp.weightBlock(l - 1);
    const bias = this.#mlp.biasBlock(l - 1);
    return this.#op(
      this.#b.matmul({
        m: this.n,
        n: W.shape[0],
        k: W.shape[1],
        a: inp,
        b: w,
        bOffset: W.offset,
        transB: true,
        c: out,
        bias: withBias && bias ? w : undefined,
        biasOffset: bias?.offset,
        accumulate,
        label,
      }),
    );
  }

  /**
   * Adjoint of layer l's parameters: G_W += dZ_lᵀ·H_{l-1}, G_b += 1ᵀ·dZ_l.
   */
  #paramAdjoint(dZ: Buf, Hprev: Buf, g: Buf, l: number, withBias: boolean, label: string): Op[] {
    const W = this.#mlp.weightBlock(l - 1);
    const bias = this.#mlp.biasBlock(l - 1);
    const [out, inp] = W.shape;
    const ops = [
      this.#op(
        this.#b.matmul({
          m: out,
          n: inp,
          k: this.n,
          a: dZ,
          transA: true,
          b: Hprev,
          c: g,
          cOffset: W.offset,
          accumulate: true,
          label: `${label}.dW${l}`,
        }),
      ),
    ];
    if (withBias && bias)
      ops.push(
        this.#op(
          this.#b.matmul({
            m: 1,
            n: out,
            k: this.n,
            a: this.#ones,
            b: dZ,
            c: g,
            cOffset: bias.offset,
            accumulate: true,
            label: `${label}.db${l}`,
          }),
        ),
      );
    return ops;
  }

  /** out (=|+=) dZ_l·W_l: the adjoint of layer l's input (n rows). */
  #inputAdjoint(dZ: Buf, w: Buf, out: Buf, l: number, accumulate: boolean, label: string): Op {
    const W = this.#mlp.weightBlock(l - 1);
    const [o, i] = W.shape;
    return this.#op(
      this.#b.matmul({
        m: this.n,
        n: i,
        k: o,
        a: dZ,
        b: w,
        bOffset: W.offset,
        c: out,
        accumulate,
        label,
      }),
    );
  }

  valueOps(s: Sinks): Op[] {
    return [...this.#forward, ...this.#mseValue(s)];
  }

  gradientOps(s: Sinks): Op[] {
    const { n } = this;
    const mlp = this.#mlp;
    const L = mlp.depth;
    const no = n * mlp.outputs;
    const ops = this.valueOps(s);
    // Backward pass: dZ_L = R/(n·outputs); dH_{l-1} = dZ_l·W_l; dZ_{l-1} = dH_{l-1} ⊙ σ'(Z_{l-1}).
    ops.push(
      this.#op(
        this.#b.axpby({ n: no, a: 1 / no, x: this.#R, b: 0, z: this.#dZ[L], label: 'mse.seed' }),
      ),
    );
    for (let l = L; l >= 1; l--) {
      ops.push(...this.#paramAdjoint(this.#dZ[l], this.#H[l - 1], s.grad, l, true, 'backward'));
      if (l > 1) {
        ops.push(
          this.#inputAdjoint(
            this.#dZ[l],
            this.#w,
            this.#dH[l - 1],
            l,
            false,
            `backward.dH${l - 1}`,
          ),
        );
        ops.push(
          this.#op(
            this.#b.activation({
              act: mlp.activation,
              mode: 'derivMul',
              n: n * mlp.sizes[l - 1],
              z: this.#Z[l - 1],
              g: this.#dH[l - 1],
              out: this.#dZ[l - 1],
            }),
          ),
        );
      }
    }
    return ops;
  }

  tangentOps(v: Buf, hv: Buf): Op[] {
    const { n } = this;
    const mlp = this.#mlp;
    const L = mlp.depth;
    const no = n * mlp.outputs;
    const ops: Op[] = [];
    // Tangent of the forward pass: Ż_l = Ḣ_{l-1}·W_lᵀ + H_{l-1}·V_lᵀ + v_b, Ḣ_l = σ'(Z_l) ⊙ Ż_l.
    for (let l = 1; l <= L; l++) {
      if (l === 1) ops.push(this.#linear(this.X, v, this.#Zd[1], 1, false, 'tangent.Zdot1'));
      else {
        ops.push(
          this.#linear(this.#Hd[l - 1], this.#w, this.#Zd[l], l, false, `tangent.Zdot${l}`, false),
        );
        ops.push(this.#linear(this.#H[l - 1], v, this.#Zd[l], l, true, `tangent.Zdot${l}.v`));
      }
      if (l < L)
        ops.push(
          this.#op(
            this.#b.activation({
              act: mlp.activation,
              mode: 'derivMul',
              n: n * mlp.sizes[l],
              z: this.#Z[l],
              g: this.#Zd[l],
              out: this.#Hd[l],
            }),
          ),
        );
    }
    // Tangent of the backward pass (the R-operator): the MSE seed's tangent is
    // Ż_L/(n·outputs); each product rule term gets its own accumulate.
    ops.push(
      this.#op(
        this.#b.axpby({
          n: no,
          a: 1 / no,
          x: this.#Zd[L],
          b: 0,
          z: this.#dZd[L],
          label: 'tangent.seed',
        }),
      ),
    );
    for (let l = L; l >= 1; l--) {
      ops.push(...this.#paramAdjoint(this.#dZd[l], this.#H[l - 1], hv, l, true, 'tangent'));
      if (l > 1) {
        ops.push(...this.#paramAdjoint(this.#dZ[l], this.#Hd[l - 1], hv, l, false, 'tangent.Hdot'));
        ops.push(
          this.#inputAdjoint(
            this.#dZd[l],
            this.#w,
            this.#dHd[l - 1],
            l,
            false,
            `tangent.dHdot${l - 1}`,
          ),
        );
        ops.push(
          this.#inputAdjoint(this.#dZ[l], v, this.#dHd[l - 1], l, true, `tangent.dHdot${l - 1}.v`),
        );
        ops.push(
          this.#op(
            this.#b.activation({
              act: mlp.activation,
              mode: 'tangentBackward',
              n: n * mlp.sizes[l - 1],
              z: this.#Z[l - 1],
              zdot: this.#Zd[l - 1],
              g: this.#dH[l - 1],
              gdot: this.#dHd[l - 1],
              out: this.#dZd[l - 1],
            }),
          ),
        );
      }
    }
    return ops;
  }

  /** The data term does not depend on λ. */
  hyperTangentOps(): Op[] {
    return [];
  }

  /** The network output f(X; ω) (n×outputs) after valueOps or gradientOps ran. */
  get output(): Buf {
    return this.#Z[this.#mlp.depth];
  }

  destroy(): void {
    for (const op of this.#ops) op.destroy();
    for (const b of this.#bufs) this.#b.destroyBuffer(b);
    this.#ops.length = 0;
    this.#bufs.length = 0;
  }
}

/** ½·Σ_l α_{k(l)}·‖W_l‖² over weight blocks; α lives in the `hyper` buffer. */
export class L2PenaltyTerm implements Term {
  readonly #b: Backend;
  readonly #mlp: Mlp;
  readonly #w: Buf;
  readonly #hyper: Buf;
  readonly #penalty: PenaltyKind;
  readonly #sq: Buf;
  readonly #ops: Op[] = [];

  constructor(backend: Backend, mlp: Mlp, params: Buf, hyper: Buf, penalty: PenaltyKind) {
    this.#b = backend;
    this.#mlp = mlp;
    this.#w = params;
    this.#hyper = hyper;
    this.#penalty = penalty;
    this.#sq = backend.createBuffer(hyperCount(mlp, penalty), 'penalty.halfSquares');
  }

  #op<T extends Op>(op: T): T {
    this.#ops.push(op);
    return op;
  }

  #weights() {
    return this.#mlp.blocks.filter((b) => b.penalised);
  }

  /** sq_k = ½·Σ_{l in k} ‖W_l‖², then value += Σ_k α_k·sq_k. */
  valueOps(s: Sinks): Op[] {
    const nh = this.#sq.length;
    const ops: Op[] = [
      this.#op(this.#b.axpby({ n: nh, a: 0, b: 0, z: this.#sq, label: 'penalty.zero' })),
    ];
    for (const blk of this.#weights())
      ops.push(
        this.#op(
          this.#b.reduce({
            n: blk.size,
            x: this.#w,
            xOffset: blk.offset,
            out: this.#sq,
            outIndex: hyperIndexOf(blk, this.#penalty),
            scale: 0.5,
            accumulate: true,
            label: `penalty.sq.${blk.name}`,
          }),
        ),
      );
    ops.push(
      this.#op(
        this.#b.reduce({
          n: nh,
          x: this.#hyper,
          y: this.#sq,
          out: s.value,
          accumulate: true,
          label: 'penalty.value',
        }),
      ),
    );
    return ops;
  }

  /** ∇_W = α·W on each weight block; ∇_α_k = ½·Σ_{l in k}‖W_l‖². */
  gradientOps(s: Sinks): Op[] {
    const ops = this.valueOps(s);
    ops.push(
      this.#op(
        this.#b.axpby({
          n: this.#sq.length,
          a: 1,
          x: this.#sq,
          b: 1,
          y: s.hyperGrad,
          z: s.hyperGrad,
          label: 'penalty.dalpha',
        }),
      ),
    );
    for (const blk of this.#weights())
      ops.push(
        this.#op(
          this.#b.axpby({
            n: blk.size,
            a: { buf: this.#hyper, index: hyperIndexOf(blk, this.#penalty) },
            x: this.#w,
            xOffset: blk.offset,
            b: 1,
            y: s.grad,
            yOffset: blk.offset,
            z: s.grad,
            zOffset: blk.offset,
            label: `penalty.grad.${blk.name}`,
          }),
        ),
      );
    return ops;
  }

  /** Tangent: ∇²_ωω·v += α·V_W; ∇²_λω·v: mixed_k += Σ_{l in k}⟨W_l, V_l⟩. */
  tangentOps(v: Buf, hv: Buf, mixed: Buf): Op[] {
    const ops: Op[] = [];
    for (const blk of this.#weights()) {
      const k = hyperIndexOf(blk, this.#penalty);
      ops.push(
        this.#op(
          this.#b.axpby({
            n: blk.size,
            a: { buf: this.#hyper, index: k },
            x: v,
            xOffset: blk.offset,
            b: 1,
            y: hv,
            yOffset: blk.offset,
            z: hv,
            zOffset: blk.offset,
            label: `penalty.hv.${blk.name}`,
          }),
        ),
      );
      ops.push(
        this.#op(
          this.#b.reduce({
            n: blk.size,
            x: this.#w,
            xOffset: blk.offset,
            y: v,
            yOffset: blk.offset,
            out: mixed,
            outIndex: k,
            accumulate: true,
            label: `penalty.mixed.${blk.name}`,
          }),
        ),
      );
    }
    return ops;
  }

  /** ∂/∂α_k of ∇_ω L: W_l on the weight blocks of group k, 0 elsewhere. */
  hyperTangentOps(k: number, out: Buf): Op[] {
    return this.#weights()
      .filter((blk) => hyperIndexOf(blk, this.#penalty) === k)
      .map((blk) =>
        this.#op(
          this.#b.axpby({
            n: blk.size,
            a: 1,
            x: this.#w,
            xOffset: blk.offset,
            b: 1,
            y: out,
            yOffset: blk.offset,
            z: out,
            zOffset: blk.offset,
            label: `penalty.cross.${blk.name}`,
          }),
        ),
      );
  }

  destroy(): void {
    for (const op of this.#ops) op.destroy();
    this.#ops.length = 0;
    this.#b.destroyBuffer(this.#sq);
  }
}

export interface ObjectiveOptions {
  /** Include the L2 penalty (train loss, or the notebook's penalised validation loss). */
  penalised: boolean;
  penalty: PenaltyKind;
  label?: string;
}

/**
 * L(ω, λ) = Σ terms, bound to the shared weight and hyperparameter buffers.
 * `gradientOps` must run at the current ω before `hvp` ops are replayed:
 * the tangent pass reuses the forward and backward values it leaves behind.
 */
export class Objective {
  readonly value: Buf;
  readonly grad: Buf;
  readonly hyperGrad: Buf;
  readonly valueOps: Op[];
  readonly gradientOps: Op[];
  readonly data: MseTerm;
  readonly #b: Backend;
  readonly #terms: Term[];
  readonly #ops: Op[] = [];
  readonly nHyper: number;

  constructor(
    backend: Backend,
    readonly mlp: Mlp,
    readonly params: Buf,
    readonly hyper: Buf,
    data: DataSet,
    opts: ObjectiveOptions,
  ) {
    if (params.length !== mlp.nParams)
      throw new ShapeError(
        `Objective: weight buffer has ${params.length} elements, the model ${mlp.nParams}`,
      );
    this.nHyper = hyperCount(mlp, opts.penalty);
    if (hyper.length !== this.nHyper)
      throw new ShapeError(
        `Objective: hyperparameter buffer has ${hyper.length} elements, expected ${this.nHyper}`,
      );
    this.#b = backend;
    const label = opts.label ?? 'objective';
    this.data = new MseTerm(backend, mlp, params, data, label);
    this.#terms = [this.data];
    if (opts.penalised)
      this.#terms.push(new L2PenaltyTerm(backend, mlp, params, hyper, opts.penalty));
    this.value = backend.createBuffer(1, `${label}.value`);
    this.grad = backend.createBuffer(mlp.nParams, `${label}.grad`);
    this.hyperGrad = backend.createBuffer(this.nHyper, `${label}.hyperGrad`);
    const sinks = { value: this.value, grad: this.grad, hyperGrad: this.hyperGrad };
    const zero = (b: Buf) =>
      this.#keep(backend.axpby({ n: b.length, a: 0, b: 0, z: b, label: `${label}.zero` }));
    this.valueOps = [zero(this.value), ...this.#terms.flatMap((t) => t.valueOps(sinks))];
    this.gradientOps = [
      zero(this.value),
      zero(this.grad),
      zero(this.hyperGrad),
      ...this.#terms.flatMap((t) => t.gradientOps(sinks)),
    ];
  }

  #keep(op: Op): Op {
    this.#ops.push(op);
    return op;
  }

  /**
   * Ops computing hv = ∇²_ωω L·v (+ nugget·v) and mixed = ∇²_λω L·v at the
   * point of the last gradientOps. Built once per (v, hv, mixed) and replayed.
   */
  hvpOps(v: Buf, hv: Buf, mixed: Buf, nugget = 0): Op[] {
    const b = this.#b;
    const ops = [
      this.#keep(
        b.axpby({
          n: hv.length,
          a: nugget,
          x: nugget ? v : undefined,
          b: 0,
          z: hv,
          label: 'hvp.init',
        }),
      ),
      this.#keep(b.axpby({ n: mixed.length, a: 0, b: 0, z: mixed, label: 'hvp.mixed.zero' })),
    ];
    if (
      v.length !== this.mlp.nParams ||
      hv.length !== this.mlp.nParams ||
      mixed.length !== this.nHyper
    )
      throw new ShapeError(
        `hvpOps: v, hv need ${this.mlp.nParams} elements and mixed ${this.nHyper}; got ${v.length}, ${hv.length}, ${mixed.length}`,
      );
    for (const t of this.#terms) ops.push(...t.tangentOps(v, hv, mixed));
    return ops;
  }

  /** Ops writing the column ∇²_ωλ_k L (length nParams) into `out`. */
  crossOps(k: number, out: Buf): Op[] {
    if (!(k >= 0 && k < this.nHyper) || out.length !== this.mlp.nParams)
      throw new ShapeError(
        `crossOps: hyperparameter ${k} of ${this.nHyper}, out has ${out.length} of ${this.mlp.nParams}`,
      );
    return [
      this.#keep(this.#b.axpby({ n: out.length, a: 0, b: 0, z: out, label: 'cross.zero' })),
      ...this.#terms.flatMap((t) => t.hyperTangentOps(k, out)),
    ];
  }

  destroy(): void {
    for (const t of this.#terms) t.destroy();
    for (const op of this.#ops) op.destroy();
    this.#ops.length = 0;
    for (const buf of [this.value, this.grad, this.hyperGrad]) this.#b.destroyBuffer(buf);
  }
}
