// The scalar steps of conjugate gradient (see CgScalarSpec in types.ts), in
// TypeScript. The CPU backend runs this function; shaders/cg.wgsl is its f32
// twin and must follow it line by line.

import { CG, CgStatus, type CgScalarSpec } from './types.js';

/** Step length τ ≥ 0 with ‖x + τp‖ = radius, from xᵀx, xᵀp, pᵀp. */
export function boundaryStep(xx: number, xp: number, pp: number, radius: number): number {
  if (!(pp > 0)) return 0;
  const gap = Math.max(radius * radius - xx, 0);
  const d = Math.sqrt(xp * xp + pp * gap);
  // The two algebraically equal forms avoid cancellation for either sign of xᵀp.
  return xp >= 0 ? gap / (xp + d) : (d - xp) / pp;
}

export function cgScalarStep(
  s: Float64Array | Float32Array,
  spec: Pick<CgScalarSpec, 'mode' | 'rtol' | 'atol' | 'radius' | 'maxIter'>,
): void {
  switch (spec.mode) {
    case 'init': {
      const bnorm = Math.sqrt(s[CG.RR]);
      s[CG.BNORM] = bnorm;
      s[CG.INVB] = bnorm > 0 ? 1 / bnorm : 0;
      s[CG.RADIUS] = spec.radius * s[CG.INVB];
      s[CG.ITERS] = 0;
      s[CG.STOP] = 0;
      s[CG.STEP] = 0;
      s[CG.BETA] = 0;
      if (bnorm > 0 && Number.isFinite(bnorm)) {
        s[CG.ACTIVE] = 1;
        s[CG.STATUS] = CgStatus.RUNNING;
      } else {
        s[CG.ACTIVE] = 0;
        s[CG.STATUS] = bnorm > 0 || Number.isNaN(bnorm) ? CgStatus.NOT_FINITE : CgStatus.ZERO_RHS;
      }
      return;
    }
    case 'start': {
      if (s[CG.ACTIVE] === 0) return;
      s[CG.THRESH] = spec.rtol + spec.atol * s[CG.INVB];
      s[CG.ITERS] = 0;
      s[CG.STOP] = 0;
      const rnorm = Math.sqrt(s[CG.RR]);
      if (!Number.isFinite(rnorm)) {
        s[CG.ACTIVE] = 0;
        s[CG.STATUS] = CgStatus.NOT_FINITE;
      } else if (rnorm <= s[CG.THRESH]) {
        s[CG.ACTIVE] = 0;
        s[CG.STATUS] = CgStatus.CONVERGED;
      }
      return;
    }
    case 'alpha': {
      if (s[CG.ACTIVE] === 0) {
        s[CG.STEP] = 0;
        return;
      }
      const radius = s[CG.RADIUS];
      const pap = s[CG.PAP];
      let step: number;
      if (!(pap > 0)) {
        // Negative (or zero, or NaN) curvature: never divide by pᵀAp.
        s[CG.STATUS] = CgStatus.NEGATIVE_CURVATURE;
        s[CG.STOP] = 1;
        step = radius > 0 ? boundaryStep(s[CG.XX], s[CG.XP], s[CG.PP], radius) : 0;
      } else {
        step = s[CG.RR] / pap;
        if (radius > 0) {
          const xx = s[CG.XX];
          const xp = s[CG.XP];
          const pp = s[CG.PP];
          const next = xx + step * (2 * xp + step * pp);
          if (next > radius * radius) {
            step = boundaryStep(xx, xp, pp, radius);
            s[CG.STATUS] = CgStatus.BOUNDARY;
            s[CG.STOP] = 1;
          }
        }
      }
      s[CG.STEP] = step;
      if (step !== 0) s[CG.ITERS] += 1;
      return;
    }
    case 'beta': {
      s[CG.BETA] = 0;
      if (s[CG.ACTIVE] === 0) return;
      if (s[CG.STOP] !== 0) {
        s[CG.ACTIVE] = 0;
        s[CG.RR] = s[CG.RR_NEW];
        return;
      }
      const rrNew = s[CG.RR_NEW];
      if (!Number.isFinite(rrNew)) {
        s[CG.ACTIVE] = 0;
        s[CG.STATUS] = CgStatus.NOT_FINITE;
        return;
      }
      s[CG.BETA] = rrNew / s[CG.RR];
      s[CG.RR] = rrNew;
      if (Math.sqrt(rrNew) <= s[CG.THRESH]) {
        s[CG.ACTIVE] = 0;
        s[CG.STATUS] = CgStatus.CONVERGED;
        s[CG.BETA] = 0;
      } else if (s[CG.ITERS] >= spec.maxIter) {
        s[CG.ACTIVE] = 0;
        s[CG.STATUS] = CgStatus.MAX_ITER;
        s[CG.BETA] = 0;
      }
      return;
    }
  }
}
