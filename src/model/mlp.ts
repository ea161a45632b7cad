// The model description: a sequential MLP of Linear layers with one
// activation between them, and the layout of its flat parameter vector.
// The layout matches PyTorch's `nn.Sequential(...).parameters()`: for each
// layer the weight [out, in] row-major, then the bias [out]. So weights from
// PyTorch (and from the reference cases) load as they are.

import { ArgumentError, ShapeError } from '../errors.js';
import { Xorshift32 } from '../util/random.js';
import type { Activation } from '../backend/types.js';

export type ActivationName = 'leaky_relu' | 'tanh';

export interface MlpSpec {
  /** Layer widths [in, hidden..., out]; [p, 1] is a linear model. */
  sizes: readonly number[];
  /** Activation between Linear layers (never after the last). */
  activation?: ActivationName;
  /** LeakyReLU negative slope; default 0.01 (PyTorch's default). */
  slope?: number;
  /** Whether Linear layers have a bias; default true. */
  bias?: boolean;
}

export interface ParamBlock {
  name: string;
  kind: 'weight' | 'bias';
  /** Index of the Linear layer (0-based). */
  layer: number;
  /** [out, in] for weights, [out] for biases. */
  shape: number[];
  offset: number;
  size: number;
  /** Weights carry the L2 penalty; biases never do. */
  penalised: boolean;
}

export class Mlp {
  readonly sizes: readonly number[];
  readonly activation: Activation;
  readonly bias: boolean;
  readonly blocks: readonly ParamBlock[];
  readonly nParams: number;

  constructor(spec: MlpSpec) {
    const sizes = [...spec.sizes];
    if (sizes.length < 2)
      throw new ArgumentError(`Mlp: sizes needs at least [in, out], got [${sizes}]`);
    for (const s of sizes)
      if (!Number.isInteger(s) || s < 1)
        throw new ArgumentError(`Mlp: layer sizes must be positive integers, got [${sizes}]`);
    this.sizes = sizes;
    this.bias = spec.bias ?? true;
    const name = spec.activation ?? 'leaky_relu';
    if (name === 'leaky_relu') this.activation = { kind: 'leaky_relu', slope: spec.slope ?? 0.01 };
    else if (name === 'tanh') this.activation = { kind: 'tanh' };
    else
      throw new ArgumentError(`Mlp: unknown activation '${name as string}' (leaky_relu or tanh)`);

    const blocks: ParamBlock[] = [];
    let offset = 0;
    for (let l = 0; l + 1 < sizes.length; l++) {
      const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
      const add = (kind: 'weight' | 'bias', shape: number[]) => {
        const size = shape.reduce((a, b) => a * b, 1);
        blocks.push({
          name: `layers[${l}].${kind}`,
          kind,
          layer: l,
          shape,
          offset,
          size,
          penalised: kind === 'weight',
        });
        offset += size;
      };
      add('weight', [fanOut, fanIn]);
      if (this.bias) add('bias', [fanOut]);
    }
    this.blocks = blocks;
    this.nParams = offset;
  }

  /** Number of Linear layers. */
  get depth(): number {
    return this.sizes.length - 1;
  }

  get inputs(): number {
    return this.sizes[0];
  }

  get outputs(): number {
    return this.sizes[this.sizes.length - 1];
  }

  weightBlock(layer: number): ParamBlock {
    return this.blocks.find((b) => b.layer === layer && b.kind === 'weight')!;
  }

  biasBlock(layer: number): ParamBlock | undefined {
    return this.blocks.find((b) => b.layer === layer && b.kind === 'bias');
  }

  /**
   * Seeded initialisation U(-1/√fan_in, 1/√fan_in), PyTorch's default range.
   * One Xorshift32 stream; per layer the weight entries (row-major) then the
   * bias entries, value = (1/√fan_in)·(2u − 1). With seed 100 this gives the
   * `theta_init` of reference case B exactly.
   */
  init(seed: number): Float64Array {
    const rng = new Xorshift32(seed);
    const w = new Float64Array(this.nParams);
    for (const b of this.blocks) {
      const bound = 1 / Math.sqrt(this.sizes[b.layer]);
      for (let i = 0; i < b.size; i++) w[b.offset + i] = bound * (2 * rng.uniform() - 1);
    }
    return w;
  }

  /** Checks a flat parameter vector's length against the layout. */
  checkParams(w: ArrayLike<number>, what = 'weights'): void {
    if (w.length !== this.nParams)
      throw new ShapeError(
        `${what}: ${w.length} values, but the architecture [${this.sizes}] (bias ${this.bias}) has ${this.nParams} parameters`,
      );
  }

  toJSON(): MlpSpec {
    return {
      sizes: this.sizes,
      activation: this.activation.kind === 'tanh' ? 'tanh' : 'leaky_relu',
      ...(this.activation.kind === 'leaky_relu' ? { slope: this.activation.slope } : {}),
      bias: this.bias,
    };
  }

  /** Weights as JSON: the architecture and one array per block, by name. */
  exportWeights(w: ArrayLike<number>): WeightsJson {
    this.checkParams(w);
    const blocks: Record<string, number[]> = {};
    for (const b of this.blocks) blocks[b.name] = Array.from(w).slice(b.offset, b.offset + b.size);
    return { architecture: this.toJSON(), blocks };
  }

  /** Inverse of exportWeights; checks the architecture and every block size. */
  importWeights(json: WeightsJson): Float64Array {
    const a = json.architecture;
    if (a && JSON.stringify(new Mlp(a).toJSON()) !== JSON.stringify(this.toJSON()))
      throw new ShapeError(
        `importWeights: architecture ${JSON.stringify(a)} differs from ${JSON.stringify(this.toJSON())}`,
      );
    const w = new Float64Array(this.nParams);
    for (const b of this.blocks) {
      const v = json.blocks[b.name];
      if (!v) throw new ShapeError(`importWeights: block ${b.name} missing`);
      if (v.length !== b.size)
        throw new ShapeError(
          `importWeights: block ${b.name} has ${v.length} values, expected ${b.size}`,
        );
      w.set(v, b.offset);
    }
    return w;
  }
}

export interface WeightsJson {
  architecture?: MlpSpec;
  blocks: Record<string, number[]>;
}

/**
 * How the L2 penalty's hyperparameters map onto weight blocks: one α for all
 * weight matrices ('scalar') or one α per Linear layer ('perLayer').
 */
export type PenaltyKind = 'scalar' | 'perLayer';

export function hyperCount(mlp: Mlp, penalty: PenaltyKind): number {
  return penalty === 'scalar' ? 1 : mlp.depth;
}

/** Index of the hyperparameter that penalises a weight block. */
export function hyperIndexOf(block: ParamBlock, penalty: PenaltyKind): number {
  return penalty === 'scalar' ? 0 : block.layer;
}
