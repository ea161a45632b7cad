// L-BFGS for the inner fit, on device buffers. The two-loop recursion only
// needs inner products among g and the stored pairs (s_i, y_i), so the host
// keeps their Gram matrix (a few dozen numbers, refreshed by one readback
// per iteration), runs the recursion on coefficients, and the device forms
// the direction d = c_g·g + Σ c_i·s_i + Σ c'_i·y_i from them. A backtracking
// (Armijo) line search decides the step.
//
// Newton-CG's quadratic model is poor across the kinks of a LeakyReLU
// network, where its trust region collapses; L-BFGS's line search steps over
// them (the reference cases' inner solves used it for the same reason).

import { ArgumentError } from '../errors.js';
import type { Backend, Buf, Op } from '../backend/types.js';
import type { Objective } from '../model/objective.js';
import { stopTest, type FitOptions, type FitResult } from './newton.js';

export class LbfgsFit {
  readonly #b: Backend;
  readonly #obj: Objective;
  readonly m: number;
  readonly #bufs: Buf[] = [];
  readonly #ops: Op[] = [];
  readonly #S: Buf;
  readonly #Y: Buf;
  readonly #coef: Buf;
  readonly #report: Buf;
  readonly #dots: Buf;
  readonly #evaluate: Op[];
  readonly #direction: Op[];
  readonly #trial: Op[];
  readonly #restore: Op[];
  readonly #store: Op[][];

  constructor(backend: Backend, objective: Objective, memory = 10) {
    if (!(memory >= 1 && Number.isInteger(memory)))
      throw new ArgumentError(`L-BFGS memory must be a positive integer, got ${memory}`);
    this.#b = backend;
    this.#obj = objective;
    const m = (this.m = memory);
    const n = objective.mlp.nParams;
    const mk = (len: number, name: string) => {
      const buf = backend.createBuffer(len, `lbfgs.${name}`);
      this.#bufs.push(buf);
      return buf;
    };
    const keep = (o: Op) => (this.#ops.push(o), o);
    const w = objective.params;
    const g = objective.grad;
    this.#S = mk(m * n, 'S');
    this.#Y = mk(m * n, 'Y');
    const d = mk(n, 'd');
    const saved = mk(n, 'saved');
    const gOld = mk(n, 'gOld');
    // coef: [c_g, c_s0..c_s(m-1), c_y0..c_y(m-1), t]
    this.#coef = mk(2 * m + 2, 'coef');
    // report: [L, ‖g‖, gᵀd] at the current point.
    this.#report = mk(3, 'report');
    // dots: [g·g, g·s_i (m), g·y_i (m), s_j·s_i (m), s_j·y_i (m), y_j·s_i (m), y_j·y_i (m)]
    this.#dots = mk(1 + 6 * m, 'dots');
    const c = (i: number) => ({ buf: this.#coef, index: i });
    const T = 2 * m + 1;

    this.#evaluate = [
      ...objective.gradientOps,
      keep(
        backend.axpby({
          n: 1,
          a: 1,
          x: objective.value,
          b: 0,
          z: this.#report,
          zOffset: 0,
          label: 'lbfgs.loss',
        }),
      ),
      keep(
        backend.reduce({
          n,
          x: g,
          out: this.#report,
          outIndex: 1,
          sqrt: true,
          label: 'lbfgs.gnorm',
        }),
      ),
    ];
    const gDots = [
      keep(backend.reduce({ n, x: g, out: this.#dots, outIndex: 0, label: 'lbfgs.gg' })),
      ...range(m).flatMap((i) => [
        keep(
          backend.reduce({
            n,
            x: g,
            y: this.#S,
            yOffset: i * n,
            out: this.#dots,
            outIndex: 1 + i,
            label: 'lbfgs.gs',
          }),
        ),
        keep(
          backend.reduce({
            n,
            x: g,
            y: this.#Y,
            yOffset: i * n,
            out: this.#dots,
            outIndex: 1 + m + i,
            label: 'lbfgs.gy',
          }),
        ),
      ]),
    ];
    this.#evaluate.push(...gDots);
    this.#direction = [
      keep(backend.axpby({ n, a: c(0), x: g, b: 0, z: d, label: 'lbfgs.d=cg' })),
      ...range(m).flatMap((i) => [
        keep(
          backend.axpby({
            n,
            a: c(1 + i),
            x: this.#S,
            xOffset: i * n,
            b: 1,
            y: d,
            z: d,
            label: 'lbfgs.d+=cs',
          }),
        ),
        keep(
          backend.axpby({
            n,
            a: c(1 + m + i),
            x: this.#Y,
            xOffset: i * n,
            b: 1,
            y: d,
            z: d,
            label: 'lbfgs.d+=cy',
          }),
        ),
      ]),
      keep(backend.axpby({ n, a: 1, x: w, b: 0, z: saved, label: 'lbfgs.save' })),
      keep(backend.axpby({ n, a: 1, x: g, b: 0, z: gOld, label: 'lbfgs.gOld' })),
    ];
    this.#trial = [
      keep(backend.axpby({ n, a: c(T), x: d, b: 1, y: saved, z: w, label: 'lbfgs.w=saved+td' })),
      ...this.#evaluate,
      keep(backend.reduce({ n, x: g, y: d, out: this.#report, outIndex: 2, label: 'lbfgs.gd' })),
    ];
    this.#restore = [
      keep(backend.axpby({ n, a: 1, x: saved, b: 0, z: w, label: 'lbfgs.restore' })),
      ...this.#evaluate,
    ];
    // Store pair j: s_j = ω − saved, y_j = g − gOld, then its inner products.
    this.#store = range(m).map((j) => [
      keep(
        backend.axpby({
          n,
          a: 1,
          x: w,
          b: -1,
          y: saved,
          z: this.#S,
          zOffset: j * n,
          label: 'lbfgs.s',
        }),
      ),
      keep(
        backend.axpby({
          n,
          a: 1,
          x: g,
          b: -1,
          y: gOld,
          z: this.#Y,
          zOffset: j * n,
          label: 'lbfgs.y',
        }),
      ),
      ...gDots,
      ...range(m).flatMap((i) =>
        (
          [
            [this.#S, this.#S, 1 + 2 * m],
            [this.#S, this.#Y, 1 + 3 * m],
            [this.#Y, this.#S, 1 + 4 * m],
            [this.#Y, this.#Y, 1 + 5 * m],
          ] as const
        ).map(([X, Yb, base]) =>
          keep(
            backend.reduce({
              n,
              x: X,
              xOffset: j * n,
              y: Yb,
              yOffset: i * n,
              out: this.#dots,
              outIndex: base + i,
              label: 'lbfgs.pair',
            }),
          ),
        ),
      ),
    ]);
  }

  async fit(opts: FitOptions = {}): Promise<FitResult> {
    const gtol = opts.gtol ?? 1e-6;
    const gatol = opts.gatol ?? 0;
    const maxIter = opts.maxIter ?? 500;
    const b = this.#b;
    const m = this.m;
    const before = { ...b.stats };
    const eps = b.eps;
    // Gram matrix of the basis [g, s_0..s_(m-1), y_0..y_(m-1)]; pairs are
    // kept in a ring, `order` lists the stored slots from oldest to newest.
    const dim = 1 + 2 * m;
    const G = new Float64Array(dim * dim);
    const order: number[] = [];
    const S = (i: number) => 1 + i;
    const Yi = (i: number) => 1 + m + i;
    const setG = (i: number, j: number, v: number) => {
      G[i * dim + j] = v;
      G[j * dim + i] = v;
    };
    const readG = (dots: Float64Array) => {
      setG(0, 0, dots[0]);
      for (let i = 0; i < m; i++) {
        setG(0, S(i), dots[1 + i]);
        setG(0, Yi(i), dots[1 + m + i]);
      }
    };

    let [loss, gnorm] = await b.runRead(this.#evaluate, this.#report);
    readG(await b.read(this.#dots));
    const g0 = gnorm;
    const target = Math.max(gtol * g0, gatol);
    let iterations = 0;
    let rejected = 0;
    let status: FitResult['status'] = 'max_iter';
    // For opts.stallIter = w: best[k mod (w + 1)] is the smallest ‖g‖ after
    // k iterations, kept for the last w + 1 values of k.
    const w = opts.stallIter;
    const ring = w === undefined ? 0 : w + 1;
    const best = new Float64Array(ring);
    if (ring) best[0] = gnorm;

    while (true) {
      const stop = stopTest(loss, gnorm, target, iterations, maxIter, opts);
      if (stop) {
        status = stop;
        break;
      }
      if (
        ring &&
        iterations >= w! &&
        best[iterations % ring] > 0.5 * best[(iterations - w!) % ring]
      ) {
        status = 'stalled';
        break;
      }
      iterations++;
      if (ring) best[iterations % ring] = best[(iterations - 1) % ring];

      // Two-loop recursion on coefficient vectors over the basis.
      const dot = (u: Float64Array, v: Float64Array) => {
        let acc = 0;
        for (let i = 0; i < dim; i++) {
          if (u[i] === 0) continue;
          for (let j = 0; j < dim; j++) acc += u[i] * G[i * dim + j] * v[j];
        }
        return acc;
      };
      const unit = (i: number) => {
        const e = new Float64Array(dim);
        e[i] = 1;
        return e;
      };
      const q = unit(0);
      const alphas: number[] = [];
      for (let t = order.length - 1; t >= 0; t--) {
        const i = order[t];
        const rho = 1 / G[S(i) * dim + Yi(i)];
        const a = rho * dot(unit(S(i)), q);
        alphas[t] = a;
        q[Yi(i)] -= a;
      }
      let gamma = 1 / Math.max(gnorm, Number.MIN_VALUE);
      if (order.length) {
        const i = order[order.length - 1];
        gamma = G[S(i) * dim + Yi(i)] / G[Yi(i) * dim + Yi(i)];
      }
      for (let i = 0; i < dim; i++) q[i] *= gamma;
      for (let t = 0; t < order.length; t++) {
        const i = order[t];
        const rho = 1 / G[S(i) * dim + Yi(i)];
        const beta = rho * dot(unit(Yi(i)), q);
        q[S(i)] += alphas[t] - beta;
      }
      // d = −q; its slope gᵀd from the Gram matrix.
      const coef = new Float64Array(2 * m + 2);
      for (let i = 0; i < dim; i++) coef[i] = -q[i];
      let slope = -dot(unit(0), q);
      if (!(slope < 0)) {
        // Not a descent direction (curvature lost to rounding): restart.
        order.length = 0;
        coef.fill(0);
        coef[0] = -1 / Math.max(gnorm, Number.MIN_VALUE);
        slope = -gnorm;
      }
      b.write(this.#coef, coef);
      b.run(this.#direction);

      // Line search for the strong Wolfe conditions (Nocedal & Wright,
      // Algorithms 3.5 and 3.6): sufficient decrease, and |gᵀd| shrunk by c2,
      // which keeps the curvature pairs informative. Plain backtracking
      // (Armijo only) left case B's fit at ‖g‖ ≈ 5e-4 where this reaches 1e-7.
      const c1 = 1e-4;
      const c2 = 0.9;
      const evalAt = async (t: number) => {
        b.write(this.#coef, [t], 2 * m + 1);
        const v = await b.runRead(this.#trial, this.#report);
        evals++;
        lastT = t;
        return { t, f: v[0], g: v[1], d: v[2] };
      };
      let lastT = NaN;
      type Pt = Awaited<ReturnType<typeof evalAt>>;
      const sufficient = (p: Pt) => {
        if (!Number.isFinite(p.f) || !Number.isFinite(p.g)) return false;
        // Below the rounding level of L a decrease cannot be seen: there,
        // a lower gradient norm stands in for it.
        if (Math.abs(p.t * slope) <= 64 * eps * Math.abs(loss)) return p.g < gnorm;
        return p.f <= loss + c1 * p.t * slope;
      };
      const curvatureOk = (p: Pt) => Math.abs(p.d) <= -c2 * slope;
      let evals = 0;
      let found: Pt | undefined;
      let lastSufficient: Pt | undefined;
      const zoom = async (lo: Pt, hi: Pt) => {
        while (evals < 30) {
          // Cubic interpolation on [lo, hi], kept inside its middle 80%.
          const d1 = lo.d + hi.d - (3 * (lo.f - hi.f)) / (lo.t - hi.t);
          const d2 = Math.sign(hi.t - lo.t) * Math.sqrt(d1 * d1 - lo.d * hi.d);
          let t = hi.t - ((hi.t - lo.t) * (hi.d + d2 - d1)) / (hi.d - lo.d + 2 * d2);
          const [a, bnd] = [Math.min(lo.t, hi.t), Math.max(lo.t, hi.t)];
          const margin = 0.1 * (bnd - a);
          if (!Number.isFinite(t) || t < a + margin || t > bnd - margin) t = 0.5 * (lo.t + hi.t);
          const p = await evalAt(t);
          if (!sufficient(p) || (Number.isFinite(lo.f) && p.f >= lo.f && lo.t > 0)) hi = p;
          else {
            lastSufficient = p;
            if (curvatureOk(p)) return p;
            if (p.d * (hi.t - lo.t) >= 0) hi = lo;
            lo = p;
          }
          if (Math.abs(hi.t - lo.t) <= 1e-12 * Math.max(1, lo.t)) break;
        }
        return undefined;
      };
      let prev: Pt = { t: 0, f: loss, g: gnorm, d: slope };
      let t = 1;
      while (evals < 30) {
        const p = await evalAt(t);
        if (!sufficient(p) || (evals > 1 && p.f >= prev.f)) {
          found = await zoom(prev, p);
          break;
        }
        lastSufficient = p;
        if (curvatureOk(p)) {
          found = p;
          break;
        }
        if (p.d >= 0) {
          found = await zoom(p, prev);
          break;
        }
        prev = p;
        t *= 4;
      }
      // Without a Wolfe point, the last point with sufficient decrease will do.
      found ??= lastSufficient;
      rejected += evals - 1;
      let accepted = false;
      let r: Float64Array = new Float64Array(3);
      if (found) {
        // ω must hold the accepted point: evaluate it again unless it was last.
        const p = found.t === lastT ? found : await evalAt(found.t);
        r = Float64Array.from([p.f, p.g, p.d]);
        accepted = true;
      }
      if (!accepted) {
        b.run(this.#restore);
        // A failed search along a quasi-Newton direction (stale curvature
        // pairs, typically across a kink) is retried along −g before giving up.
        if (order.length > 0) {
          order.length = 0;
          continue;
        }
        status = 'stalled';
        break;
      }
      [loss, gnorm] = [r[0], r[1]];

      // Store the pair in the ring and refresh the Gram matrix.
      let j = 0;
      if (order.length === m) j = order.shift()!;
      else while (order.includes(j)) j++;
      const dots = await b.runRead(this.#store[j], this.#dots);
      readG(dots);
      for (let i = 0; i < m; i++) {
        setG(S(j), S(i), dots[1 + 2 * m + i]);
        setG(S(j), Yi(i), dots[1 + 3 * m + i]);
        setG(Yi(j), S(i), dots[1 + 4 * m + i]);
        setG(Yi(j), Yi(i), dots[1 + 5 * m + i]);
      }
      // Keep the pair only with positive curvature sᵀy (else H would lose definiteness).
      if (G[S(j) * dim + Yi(j)] > eps * Math.sqrt(G[S(j) * dim + S(j)] * G[Yi(j) * dim + Yi(j)]))
        order.push(j);
      if (ring) best[iterations % ring] = Math.min(best[iterations % ring], gnorm);
      opts.onProgress?.({ iteration: iterations, loss, gradNorm: gnorm });
    }
    return {
      status,
      converged: status === 'converged',
      iterations,
      cgIterations: 0,
      loss,
      gradNorm: gnorm,
      initialGradNorm: g0,
      rejectedSteps: rejected,
      negativeCurvatureSteps: 0,
      readbacks: b.stats.readbacks - before.readbacks,
      submits: b.stats.submits - before.submits,
    };
  }

  destroy(): void {
    for (const o of this.#ops) o.destroy();
    this.#ops.length = 0;
    for (const buf of this.#bufs) this.#b.destroyBuffer(buf);
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
