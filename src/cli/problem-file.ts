// `--problem FILE`: the hypergradient at one stored instance of a case file
// in the layout of test/fixtures/reference/*.json (its README describes the
// fields), for both validation losses, next to the reference value stored
// in the file.

import { readFileSync } from 'node:fs';
import { DataError, ShapeError } from '../errors.js';
import { Mlp, type ActivationName, type MlpSpec, type PenaltyKind } from '../model/mlp.js';
import type { DataSet } from '../model/objective.js';
import type { FitOptions } from '../solvers/newton.js';
import { HyperProblem, type HypergradientResult } from '../solvers/problem.js';
import { chooseBackend, type BackendChoice } from './backend.js';
import { withFileName } from './data.js';
import { writeJsonAtomic } from './output.js';
import { backendJson, modelJson } from './tune.js';

export interface ProblemConfig {
  file: string;
  instance: number;
  /** False: take the stored w_star as ω* and skip the inner fit. */
  fit: boolean;
  backend: BackendChoice;
  nugget: number;
  json?: string;
}

/** What the file says about one instance, checked and converted. */
interface CaseInstance {
  spec: MlpSpec;
  penalty: PenaltyKind;
  alpha: number[];
  train: DataSet;
  val: DataSet;
  wStar: Float64Array;
  thetaInit?: Float64Array;
  label?: string;
  reference: { plain?: number[]; penalised?: number[] };
}

const VARIANTS = ['plain', 'penalised'] as const;

export async function runProblemFile(cfg: ProblemConfig, signal: AbortSignal): Promise<void> {
  const inst = readCase(cfg.file, cfg.instance);
  const chosen = await chooseBackend(cfg.backend);
  if (chosen.fallbackReason)
    console.error(
      `notice: --backend auto found no WebGPU adapter, using the float64 CPU backend (${chosen.fallbackReason})`,
    );
  const f64 = chosen.backend.kind === 'cpu';
  // The reference's inner solves reach ‖∇‖ ~ 1e-14. Ask for as much as the
  // precision allows, with an absolute floor: started at w_star, the relative
  // test alone would ask for 1e-12 of a gradient that is already ~1e-15.
  const fit: FitOptions | false = cfg.fit
    ? { gtol: f64 ? 1e-12 : 1e-6, gatol: f64 ? 1e-12 : 1e-5, maxIter: 500, signal }
    : false;
  const start = cfg.fit ? (inst.thetaInit ?? inst.wStar) : inst.wStar;

  const variants: Record<string, unknown> = {};
  try {
    for (const validation of VARIANTS) {
      const problem = new HyperProblem(chosen.backend, {
        model: inst.spec,
        train: inst.train,
        val: inst.val,
        penalty: inst.penalty,
        validation,
        alpha: inst.alpha,
        weights: start,
        nugget: cfg.nugget,
      });
      try {
        const r = await problem.hypergradient({ fit, signal });
        variants[validation] = variantJson(r, inst.reference[validation]);
      } finally {
        problem.destroy();
      }
    }
  } finally {
    chosen.backend.destroy();
  }

  const report = {
    file: cfg.file,
    instance: cfg.instance,
    ...(inst.label ? { label: inst.label } : {}),
    backend: backendJson(chosen),
    model: { ...modelJson(new Mlp(inst.spec)), penalty: inst.penalty },
    lambda: inst.alpha,
    nugget: cfg.nugget,
    innerFit: cfg.fit
      ? inst.thetaInit
        ? 'from initial_weights.theta_init'
        : 'from w_star'
      : 'none: w_star taken as ω*',
    variants,
  };
  console.log(JSON.stringify(report, null, 2));
  if (cfg.json !== undefined) writeJsonAtomic(cfg.json, report);
}

function variantJson(
  r: HypergradientResult,
  reference: number[] | undefined,
): Record<string, unknown> {
  return {
    hypergradient: r.hypergradient,
    reference: reference ?? null,
    relativeDifference: reference ? relativeDifference(r.hypergradient, reference) : null,
    value: r.value,
    trainLoss: r.trainLoss,
    innerGradNorm: r.innerGradNorm,
    valid: r.valid,
    warnings: r.warnings,
    cg: {
      status: r.cg.status,
      iterations: r.cg.iterations,
      relativeResidual: r.cg.relativeResidual,
    },
    fit: r.fit
      ? {
          status: r.fit.status,
          iterations: r.fit.iterations,
          cgIterations: r.fit.cgIterations,
          gradNorm: r.fit.gradNorm,
        }
      : null,
  };
}

/** ‖a − b‖ / ‖b‖ (2-norms); for one hyperparameter |a − b| / |b|. */
function relativeDifference(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d) / Math.sqrt(n);
}

// ---- reading and checking the case file ----

function readCase(file: string, k: number): CaseInstance {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(
      code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot be read (${code})`,
    );
  }
  let root: unknown;
  try {
    root = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new DataError(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  const top = record(root, file);
  const at = (path: string) => `${file}: ${path}`;

  const model = record(get(top, 'model', file), at('model'));
  const sizes = numbers(get(model, 'model.layer_sizes', file), at('model.layer_sizes'));
  const activation = get(model, 'model.activation', file, true) as
    ActivationName | null | undefined;
  const bias = get(model, 'model.bias', file, true);
  const spec: MlpSpec = {
    sizes,
    ...(activation ? { activation } : {}),
    ...(typeof bias === 'boolean' ? { bias } : {}),
  };
  const mlp = withFileName(file, () => new Mlp(spec));

  const data = record(get(top, 'data', file), at('data'));
  const train = dataSet(data, 'train', mlp, file);
  const val = dataSet(data, 'val', mlp, file);

  const instances = get(top, 'instances', file);
  if (!Array.isArray(instances)) throw new DataError(`${at('instances')}: expected an array`);
  if (!(k >= 0 && k < instances.length))
    throw new DataError(
      `${file}: --instance ${k} is out of range; the file has ${instances.length} instance(s) (0..${instances.length - 1})`,
    );
  const inst = record(instances[k], at(`instances[${k}]`));
  const where = `instances[${k}]`;

  const perLayer = inst.alphas !== undefined;
  const alpha = perLayer
    ? numbers(inst.alphas, at(`${where}.alphas`))
    : [number(get(inst, `${where}.alpha`, file), at(`${where}.alpha`))];
  if (perLayer && alpha.length !== mlp.depth)
    throw new ShapeError(
      `${at(`${where}.alphas`)}: ${alpha.length} values, the architecture [${sizes}] has ${mlp.depth} layers`,
    );

  const wStar = Float64Array.from(
    numbers(get(inst, `${where}.w_star`, file), at(`${where}.w_star`)),
  );
  mlp.checkParams(wStar, at(`${where}.w_star`));
  const init = top.initial_weights as Record<string, unknown> | undefined;
  let thetaInit: Float64Array | undefined;
  if (init?.theta_init !== undefined) {
    thetaInit = Float64Array.from(numbers(init.theta_init, at('initial_weights.theta_init')));
    mlp.checkParams(thetaInit, at('initial_weights.theta_init'));
  }

  const results = (inst.results ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const refOf = (v: 'plain' | 'penalised') => {
    const h = results[`val_${v}`]?.hypergradient;
    return h === undefined
      ? undefined
      : typeof h === 'number'
        ? [h]
        : numbers(h, at(`${where}.results.val_${v}.hypergradient`));
  };
  return {
    spec,
    penalty: perLayer ? 'perLayer' : 'scalar',
    alpha,
    train,
    val,
    wStar,
    thetaInit,
    label: typeof inst.label === 'string' ? inst.label : undefined,
    reference: { plain: refOf('plain'), penalised: refOf('penalised') },
  };
}

/** X_<part> as n rows of p numbers and y_<part> as n numbers, checked against the model. */
function dataSet(
  data: Record<string, unknown>,
  part: 'train' | 'val',
  mlp: Mlp,
  file: string,
): DataSet {
  const Xname = `data.X_${part}`;
  const yname = `data.y_${part}`;
  const rows = get(data, Xname, file);
  if (!Array.isArray(rows) || rows.length === 0)
    throw new DataError(`${file}: ${Xname}: expected a non-empty array of rows`);
  const p = mlp.inputs;
  const X = new Float64Array(rows.length * p);
  rows.forEach((row, i) => {
    const r = numbers(row, `${file}: ${Xname} row ${i + 1}`);
    if (r.length !== p)
      throw new ShapeError(
        `${file}: ${Xname} row ${i + 1}: ${r.length} values, the model's input layer has ${p}`,
      );
    X.set(r, i * p);
  });
  const y = numbers(get(data, yname, file), `${file}: ${yname}`);
  if (y.length !== rows.length * mlp.outputs)
    throw new ShapeError(
      `${file}: ${yname} has ${y.length} values, ${Xname} has ${rows.length} rows`,
    );
  return { X, y: Float64Array.from(y), n: rows.length };
}

/** The field at the end of a dotted `path` (e.g. 'model.layer_sizes') of obj, its parent. */
function get(obj: unknown, path: string, file: string, optional = false): unknown {
  const v = (obj as Record<string, unknown>)[path.slice(path.lastIndexOf('.') + 1)];
  if (v === undefined && !optional) throw new DataError(`${file}: missing field ${path}`);
  return v;
}

function record(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new DataError(`${where}: expected an object`);
  return v as Record<string, unknown>;
}

function number(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new DataError(`${where}: expected a finite number, found ${JSON.stringify(v)}`);
  return v;
}

function numbers(v: unknown, where: string): number[] {
  if (!Array.isArray(v)) throw new DataError(`${where}: expected an array of numbers`);
  v.forEach((x, i) => number(x, `${where}, entry ${i + 1}`));
  return v as number[];
}
