// The command-line entry point (`npm start -- --help`): option parsing, the
// choice between the tuning job and `--problem`, Ctrl-C, and the mapping of
// errors to one `error: ...` line and a non-zero exit code.

import { Command, InvalidArgumentError, Option } from 'commander';
import { AbortError, ArgumentError, HypergradError } from '../errors.js';
import { checkWritable } from './output.js';
import { runProblemFile } from './problem-file.js';
import { runTuning, type TuneConfig } from './tune.js';

/**
 * Outer steps of the default job, sized for a 2-core machine without a GPU
 * (Dawn on SwiftShader). Measured there on the default MLP (Dec 2026): one
 * L-BFGS iteration with its line search took 0.4–1.9 s on WebGPU and about
 * 0.06 s on the float64 CPU backend; 8 steps of at most 50 inner iterations
 * took 144 s on WebGPU and 24 s on the CPU, and the check about 3.5 minutes
 * more. Raise --steps and --inner-iters on a GPU.
 */
const DEFAULT_STEPS = 8;

/**
 * Initial α per model. The penalty is a sum of squares over all weights (4.6k
 * for the default MLP) against a mean data term, so α = 1 is strong: it
 * drives the MLP to the all-zero-weights stationary point, where F is flat
 * (measured on cars: F = 0.4746 at every λ of a 10-step run, hypergradients
 * ~1e-12) and HOAG cannot leave it. At 0.1 the fit crawls along a valley
 * towards small weights (L-BFGS: ‖∇‖ 2.5e-3 after 500 iterations); at 0.01
 * it reaches a strict minimum (‖∇‖ 1.3e-8, CG converged, tanh).
 */
const DEFAULT_ALPHA0 = { mlp: 0.01, linear: 1 } as const;

/**
 * Inner-fit iterations per outer step at most (L-BFGS, then Newton-CG, both
 * counted). HOAG asks each fit to cut ‖∇_ω L_train‖ by ε_k from its warm
 * start; on the default MLP a converged fit takes about 330 iterations and
 * 1,900 Hessian-vector products from the initial weights (150 s on the CPU
 * backend), so the outer steps are inexact by design: a capped step stops
 * near ‖∇‖ ≈ 1e-3, CG meets negative curvature there, and the step is
 * reported as not valid. The final check re-solves to convergence.
 */
const DEFAULT_INNER_ITERS = 50;

/**
 * The MLP's default activation. LeakyReLU (the notebook's) makes L_train
 * piecewise smooth: on cars its fits stall on kinks (‖∇‖ ≈ 5e-3 where no
 * step along the model decreases L) with an indefinite Hessian, so the
 * implicit hypergradient is not defined there and the finite-difference
 * check disagrees. tanh gives a smooth L_train whose fits converge to a
 * strict minimum. `--activation leaky_relu` remains available; its steps are
 * then reported as invalid when that happens.
 */
const DEFAULT_ACTIVATION = 'tanh';

const EXIT_ERROR = 1;
const EXIT_INTERRUPTED = 130;

interface RawOptions {
  data?: string;
  target?: string;
  features?: string[];
  val?: string;
  valFraction: number;
  seed: number;
  model: 'mlp' | 'linear';
  hidden: number[];
  activation: 'leaky_relu' | 'tanh';
  perLayer: boolean;
  alpha0?: number;
  steps: number;
  innerIters: number;
  tol0: number;
  nugget: number;
  validation: 'plain' | 'penalised';
  backend: 'auto' | 'webgpu' | 'cpu';
  json?: string;
  check: boolean;
  checkBackend: 'auto' | 'cpu' | 'same';
  problem?: string;
  instance: number;
  fit: boolean;
}

function program(): Command {
  return new Command()
    .name('hypergrad')
    .description(
      'Tune L2 hyperparameters with HOAG (implicit hypergradients on WebGPU or a float64 CPU backend).\n' +
        'Without --data: predict Miles_per_Gallon in the bundled cars table with an MLP.',
    )
    .addOption(
      new Option('--backend <kind>', 'compute backend; auto = webgpu, else cpu')
        .choices(['auto', 'webgpu', 'cpu'])
        .default('auto'),
    )
    .option(
      '--data <file>',
      'CSV or JSON-records file to tune on (default: the bundled cars table)',
    )
    .option('--target <column>', 'column to predict (required with --data)')
    .option(
      '--features <list>',
      'comma-separated feature columns (default: every numeric column but the target)',
      list,
    )
    .option('--val <file>', 'validation file with the same columns (no split)')
    .option('--val-fraction <f>', 'share of rows held out for validation', fraction, 0.25)
    .option('--seed <n>', 'split seed; the weights are initialised with seed + 1', integer(0), 0)
    .addOption(
      new Option('--model <kind>', 'mlp, or linear (ridge: sizes [p, 1], no bias)')
        .choices(['mlp', 'linear'])
        .default('mlp'),
    )
    .option('--hidden <widths>', 'hidden layer widths of the MLP', widths, [64, 64])
    .addOption(
      new Option('--activation <name>', 'MLP activation')
        .choices(['leaky_relu', 'tanh'])
        .default(DEFAULT_ACTIVATION),
    )
    .option('--per-layer', 'one α per layer instead of one for all weights', false)
    .option(
      '--alpha0 <a>',
      `initial α (default: ${DEFAULT_ALPHA0.mlp} for mlp, ${DEFAULT_ALPHA0.linear} for linear)`,
      positive,
    )
    .option('--steps <n>', 'outer (HOAG) steps at most', integer(1), DEFAULT_STEPS)
    .option(
      '--inner-iters <n>',
      'inner-fit iterations per outer step at most',
      integer(1),
      DEFAULT_INNER_ITERS,
    )
    .option(
      '--tol0 <e>',
      "HOAG's initial inner tolerance ε₀ (relative gradient norm; it tightens by 0.9 a step)",
      positive,
      1e-3,
    )
    .option('--nugget <c>', 'CG damping c in (H + c·I) q = ∇L_val', nonNegative, 1e-6)
    .addOption(
      new Option('--validation <loss>', 'validation loss: plain MSE, or with the L2 penalty')
        .choices(['plain', 'penalised'])
        .default('plain'),
    )
    .option('--no-check', 'skip the finite-difference check of the final hypergradient')
    .addOption(
      new Option(
        '--check-backend <kind>',
        'where the check re-solves and differences F: auto = the float64 CPU backend when tuning in f32, else the same backend',
      )
        .choices(['auto', 'cpu', 'same'])
        .default('auto'),
    )
    .option('--json <file>', 'write the full report (options, data, history, check) as JSON')
    .option(
      '--problem <file>',
      'print the hypergradient of a reference case file (test/fixtures/reference layout) and exit',
    )
    .option('--instance <k>', 'instance of the --problem file', integer(0), 0)
    .option('--no-fit', 'with --problem: take the stored w_star as ω* (no inner fit)')
    .showHelpAfterError('(run with --help for the options)');
}

async function main(argv: string[]): Promise<number> {
  const cmd = program();
  cmd.parse(argv);
  const o = cmd.opts<RawOptions>();
  const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  checkCombinations(o, given);
  if (o.json !== undefined) checkWritable(o.json);

  // Ctrl-C: the first aborts the run through its signal, a second one exits at once.
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    process.stderr.write('\ninterrupted: stopping (Ctrl-C again to quit at once)\n');
    controller.abort();
  });

  if (o.problem !== undefined) {
    await runProblemFile(
      {
        file: o.problem,
        instance: o.instance,
        fit: o.fit,
        backend: o.backend,
        nugget: o.nugget,
        json: o.json,
      },
      controller.signal,
    );
    return 0;
  }
  const cfg: TuneConfig = {
    backend: o.backend,
    model: o.model,
    hidden: o.hidden,
    activation: o.activation,
    perLayer: o.perLayer,
    alpha0: o.alpha0 ?? DEFAULT_ALPHA0[o.model],
    steps: o.steps,
    innerIters: o.innerIters,
    tol0: o.tol0,
    seed: o.seed,
    nugget: o.nugget,
    validation: o.validation,
    check: o.check,
    checkBackend: o.checkBackend,
    json: o.json,
    data: {
      data: o.data,
      target: o.target,
      features: o.features,
      val: o.val,
      valFraction: o.valFraction,
      seed: o.seed,
    },
  };
  await runTuning(cfg, controller.signal);
  return 0;
}

/** Options that only make sense together, or not at all together. */
function checkCombinations(o: RawOptions, given: (name: string) => boolean): void {
  const requires = (opt: string, needs: string) => {
    throw new ArgumentError(`--${opt} needs --${needs}`);
  };
  if (o.data !== undefined && o.target === undefined) requires('data', 'target');
  for (const [key, opt] of [
    ['target', 'target'],
    ['features', 'features'],
    ['val', 'val'],
  ] as const)
    if (o[key] !== undefined && o.data === undefined) requires(opt, 'data');
  if (given('instance')) if (o.problem === undefined) requires('instance', 'problem');
  if (!o.fit && o.problem === undefined) requires('no-fit', 'problem');
  if (given('checkBackend') && !o.check)
    throw new ArgumentError('--check-backend applies to the check; --no-check skips it');
  if (o.model === 'linear')
    for (const opt of ['hidden', 'activation'])
      if (given(opt)) throw new ArgumentError(`--${opt} applies to --model mlp, not linear`);
  if (o.val !== undefined && given('valFraction'))
    throw new ArgumentError('--val-fraction applies to a split; with --val there is none');
  if (o.problem !== undefined)
    for (const opt of [
      'data',
      'model',
      'steps',
      'innerIters',
      'tol0',
      'perLayer',
      'alpha0',
      'validation',
      'checkBackend',
    ])
      if (given(opt))
        throw new ArgumentError(
          `--problem takes the model, data and λ from the file; drop --${kebab(opt)}`,
        );
}

// ---- option value parsers (commander calls them with the raw string) ----

function parseNumber(s: string): number {
  const x = Number(s);
  if (s.trim() === '' || !Number.isFinite(x))
    throw new InvalidArgumentError(`'${s}' is not a finite number`);
  return x;
}

function positive(s: string): number {
  const x = parseNumber(s);
  if (!(x > 0)) throw new InvalidArgumentError(`must be > 0, got ${s}`);
  return x;
}

function nonNegative(s: string): number {
  const x = parseNumber(s);
  if (!(x >= 0)) throw new InvalidArgumentError(`must be ≥ 0, got ${s}`);
  return x;
}

function fraction(s: string): number {
  const x = parseNumber(s);
  if (!(x > 0 && x < 1)) throw new InvalidArgumentError(`must lie in (0, 1), got ${s}`);
  return x;
}

function integer(min: number): (s: string) => number {
  return (s) => {
    const x = parseNumber(s);
    if (!Number.isInteger(x) || x < min)
      throw new InvalidArgumentError(`must be an integer ≥ ${min}, got ${s}`);
    return x;
  };
}

function list(s: string): string[] {
  const items = s.split(',').map((t) => t.trim());
  if (items.some((t) => t === '')) throw new InvalidArgumentError(`'${s}' has an empty entry`);
  return items;
}

function widths(s: string): number[] {
  return list(s).map(integer(1));
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof AbortError) {
      console.error('error: interrupted; nothing was written');
      process.exit(EXIT_INTERRUPTED);
    }
    if (err instanceof HypergradError) console.error(`error: ${err.message}`);
    else console.error(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(EXIT_ERROR);
  },
);
