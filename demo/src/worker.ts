// The demo's compute side: a dedicated worker that runs the tuning job on
// WebGPU (or the float64 CPU backend) so the page never waits on it. It
// reports each CG readback, each HOAG step and the finite-difference checks
// as messages, and on cancel aborts through the library's AbortSignal and
// releases every device buffer before saying it is done.

import {
  AbortError,
  CpuBackend,
  HyperProblem,
  NoAdapterError,
  WebGpuBackend,
  finiteDifferenceCheck,
  hoag,
  type Backend,
  type HypergradientOptions,
  type HypergradientResult,
  type ProblemOptions,
} from 'hypergrad-webgpu';
import { prepareData, problemOptions } from './job.js';
import type {
  CgProgress,
  DemoSettings,
  FdCheck,
  FromWorker,
  Outcome,
  Released,
  ToWorker,
} from './protocol.js';

const post = (m: FromWorker) => self.postMessage(m);

let controller: AbortController | undefined;

self.addEventListener('message', (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'probe') void probe();
  else if (m.type === 'cancel') controller?.abort();
  else if (m.type === 'run') void run(m);
});

/**
 * hoag() passes no CG progress callback down to problem.hypergradient(), so
 * the demo adds one here: the CG options it receives are kept and only
 * `onProgress` is added, which leaves every number unchanged.
 */
class ReportingProblem extends HyperProblem {
  /** Which part of the job the next solves belong to (for the chart's title). */
  phase: CgProgress['phase'];
  readonly #checkEvery: number;
  #calls = 0;

  constructor(
    backend: Backend,
    opts: ProblemOptions,
    phase: CgProgress['phase'],
    checkEvery: number,
  ) {
    super(backend, opts);
    this.phase = phase;
    this.#checkEvery = checkEvery;
  }

  override hypergradient(opts: HypergradientOptions = {}): Promise<HypergradientResult> {
    const call = this.#calls++;
    // On the 'hyper' side one evaluation runs one solve per λ_k; a solve
    // starts again at iteration 0 or 1, so a non-increasing count is a new one.
    let solve = -1;
    let last = Infinity;
    const onProgress = (p: { iterations: number; relativeResidual: number }) => {
      if (p.iterations <= last) solve++;
      last = p.iterations;
      post({ type: 'cg', progress: { call, phase: this.phase, solve, ...p } });
    };
    // The FD check passes no CG options: read back as often as HOAG does
    // (where CG stops does not depend on it, so neither do the numbers).
    const checkEvery = opts.cg?.checkEvery ?? this.#checkEvery;
    return super.hypergradient({ ...opts, cg: { ...opts.cg, checkEvery, onProgress } });
  }
}

/**
 * The CPU backend's reads resolve at once, so a whole run would be one task
 * and the cancel message could not be delivered until it ended. Yielding to
 * the event loop every few milliseconds lets it in; the numbers are the same.
 */
class YieldingCpuBackend extends CpuBackend {
  #last = performance.now();

  override async read(buf: Parameters<CpuBackend['read']>[0], offset?: number, length?: number) {
    const r = await super.read(buf, offset, length);
    if (performance.now() - this.#last > 20) {
      await nextTask();
      this.#last = performance.now();
    }
    return r;
  }
}

/** A macrotask boundary without setTimeout's 4 ms clamp. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

async function probe(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    post({ type: 'probe', available: false, info: 'this browser has no navigator.gpu in workers' });
    return;
  }
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter)
      post({
        type: 'probe',
        available: false,
        info: 'navigator.gpu.requestAdapter() found no adapter',
      });
    else {
      const i = adapter.info;
      const name =
        [i.vendor, i.architecture, i.device].filter(Boolean).join(' ') || 'unknown adapter';
      post({
        type: 'probe',
        available: true,
        info: i.description ? `${name} (${i.description})` : name,
      });
    }
  } catch (err) {
    post({ type: 'probe', available: false, info: (err as Error).message });
  }
}

/** The model's description, sent once per run before its first CG progress. */
function postModel(p: HyperProblem, s: DemoSettings): void {
  const m = p.mlp;
  post({
    type: 'model',
    model: {
      description:
        s.model === 'linear'
          ? `linear (ridge) [${m.sizes.join(', ')}], no bias`
          : `MLP ${m.activation.kind} [${m.sizes.join(', ')}], bias`,
      nParams: m.nParams,
      nHyper: p.nHyper,
      solveSide: p.solveSide,
    },
  });
}

async function run(msg: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const s = msg.settings;
  const ctl = new AbortController();
  controller = ctl;
  const signal = ctl.signal;
  const started = performance.now();
  let backend: Backend | undefined;
  let problem: ReportingProblem | undefined;
  let outcome: Outcome;
  try {
    const data = prepareData(msg.table, s);
    post({ type: 'data', data: data.info });
    backend = s.backend === 'cpu' ? new YieldingCpuBackend() : await WebGpuBackend.create();
    post({ type: 'backend', kind: backend.kind, info: backend.info });
    const opts = problemOptions(s, data);
    const checks: FdCheck[] = [];

    // Optional check at the initial λ, on a problem of its own so the HOAG
    // run below starts from exactly the state the CLI's would.
    if (s.fdStart) {
      const first = new ReportingProblem(backend, opts, 'fd-start', s.cgCheckEvery);
      postModel(first, s);
      try {
        for (let i = 0; i < first.nHyper; i++) {
          if (signal.aborted) throw new AbortError();
          checks.push({
            when: 'start',
            ...(await finiteDifferenceCheck(first, { index: i, fit: { signal } })),
          });
        }
      } finally {
        first.destroy();
      }
      post({ type: 'fd', checks: [...checks] });
    }

    problem = new ReportingProblem(backend, opts, 'hoag', s.cgCheckEvery);
    if (!s.fdStart) postModel(problem, s);

    // The HOAG outer loop, one message per step.
    const result = await hoag(problem, {
      steps: s.steps,
      signal,
      cgCheckEvery: s.cgCheckEvery,
      onStep: (step) => post({ type: 'step', step }),
    });

    // The finite-difference check at the tuned λ, as the CLI does it.
    if (s.fdEnd) {
      const p = problem;
      p.phase = 'fd-end';
      for (let i = 0; i < p.nHyper; i++) {
        if (signal.aborted) throw new AbortError();
        checks.push({
          when: 'end',
          ...(await finiteDifferenceCheck(p, { index: i, fit: { signal } })),
        });
      }
      post({ type: 'fd', checks: [...checks] });
    }
    if (signal.aborted) throw new AbortError();

    outcome = {
      type: 'done',
      seconds: (performance.now() - started) / 1000,
      result: {
        lambda: result.lambda,
        value: result.value,
        initialValue: result.initialValue,
        stoppedBy: result.stoppedBy,
        steps: result.history.length,
        innerIterations: result.innerIterations,
        cgIterations: result.cgIterations,
        hoagSeconds: result.seconds,
        warnings: result.warnings,
      },
    };
  } catch (err) {
    const e = err as Error;
    if (e instanceof AbortError || signal.aborted) outcome = { type: 'cancelled' };
    else
      outcome = {
        type: 'error',
        name: e.name ?? 'Error',
        message: e.message ?? String(err),
        noAdapter: e instanceof NoAdapterError,
      };
  } finally {
    if (controller === ctl) controller = undefined;
  }

  // Release the device buffers before the page may start another run.
  const released: Released = { afterProblem: 0, afterBackend: 0 };
  problem?.destroy();
  released.afterProblem = backend?.stats.buffersLive ?? 0;
  backend?.destroy();
  released.afterBackend = backend?.stats.buffersLive ?? 0;
  post({ ...outcome, released });
}
