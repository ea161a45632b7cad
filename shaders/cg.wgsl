// The scalar steps of conjugate gradient (types.ts, CgScalarSpec; method.md,
// "Trust-region conjugate gradient"): the f32 twin of cgScalarStep in
// src/backend/cg-scalar.ts, which it follows line by line. One entry point
// per mode: cgInit, cgStart, cgAlpha, cgBeta.
//
// Bindings: 0 = params (uniform); 1 = buf0, the CG state buffer (STATE).
// Shapes: the state holds CG_STATE_LENGTH scalars at the slots below.
// Workgroups: one workgroup of one invocation: a handful of scalar operations.
// Preprocessor: INIT / START / ALPHA / BETA pick the entry point compiled.

struct Params {
  rtol: f32,
  atol: f32,
  radius: f32,
  maxIter: f32,
}
@group(0) @binding(0) var<uniform> params: Params;

// Slots of the state buffer (CG in types.ts).
const RR = 0u;
const PAP = 1u;
const STEP = 2u;
const BETA = 3u;
const RR_NEW = 4u;
const THRESH = 5u;
const ACTIVE = 6u;
const ITERS = 7u;
const STATUS = 8u;
const BNORM = 9u;
const INVB = 10u;
const XX = 11u;
const XP = 12u;
const PP = 13u;
const RADIUS = 14u;
const STOP = 15u;

// CgStatus codes.
const RUNNING = 0.0;
const CONVERGED = 1.0;
const BOUNDARY = 2.0;
const NEGATIVE_CURVATURE = 3.0;
const MAX_ITER = 4.0;
const ZERO_RHS = 5.0;
const NOT_FINITE = 6.0;

// NaN and Inf tested on the bits: compilers may fold float comparisons that
// assume finite values.
fn isNan(x: f32) -> bool {
  let b = bitcast<u32>(x);
  return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}
fn isFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// Step length τ ≥ 0 with ‖x + τp‖ = radius, from xᵀx, xᵀp, pᵀp.
fn boundaryStep(xx: f32, xp: f32, pp: f32, radius: f32) -> f32 {
  if (!(pp > 0.0) || isNan(pp)) {
    return 0.0;
  }
  let gap = max(radius * radius - xx, 0.0);
  let d = sqrt(xp * xp + pp * gap);
  // The two algebraically equal forms avoid cancellation for either sign of xᵀp.
  if (xp >= 0.0) {
    return gap / (xp + d);
  }
  return (d - xp) / pp;
}

#if ${INIT}
@compute @workgroup_size(1)
fn cgInit() {
  let bnorm = sqrt(${STATE}[RR]);
  ${STATE}[BNORM] = bnorm;
  ${STATE}[INVB] = select(0.0, 1.0 / bnorm, bnorm > 0.0 && !isNan(bnorm));
  ${STATE}[RADIUS] = params.radius * ${STATE}[INVB];
  ${STATE}[ITERS] = 0.0;
  ${STATE}[STOP] = 0.0;
  ${STATE}[STEP] = 0.0;
  ${STATE}[BETA] = 0.0;
  if (bnorm > 0.0 && isFinite(bnorm)) {
    ${STATE}[ACTIVE] = 1.0;
    ${STATE}[STATUS] = RUNNING;
  } else {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[STATUS] = select(ZERO_RHS, NOT_FINITE, bnorm > 0.0 || isNan(bnorm));
  }
}
#endif

#if ${START}
@compute @workgroup_size(1)
fn cgStart() {
  if (${STATE}[ACTIVE] == 0.0) {
    return;
  }
  ${STATE}[THRESH] = params.rtol + params.atol * ${STATE}[INVB];
  ${STATE}[ITERS] = 0.0;
  ${STATE}[STOP] = 0.0;
  let rnorm = sqrt(${STATE}[RR]);
  if (!isFinite(rnorm)) {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[STATUS] = NOT_FINITE;
  } else if (rnorm <= ${STATE}[THRESH]) {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[STATUS] = CONVERGED;
  }
}
#endif

#if ${ALPHA}
@compute @workgroup_size(1)
fn cgAlpha() {
  if (${STATE}[ACTIVE] == 0.0) {
    ${STATE}[STEP] = 0.0;
    return;
  }
  let radius = ${STATE}[RADIUS];
  let pap = ${STATE}[PAP];
  var step: f32;
  if (!(pap > 0.0) || isNan(pap)) {
    // Negative (or zero, or NaN) curvature: never divide by pᵀAp.
    ${STATE}[STATUS] = NEGATIVE_CURVATURE;
    ${STATE}[STOP] = 1.0;
    step = select(0.0, boundaryStep(${STATE}[XX], ${STATE}[XP], ${STATE}[PP], radius), radius > 0.0);
  } else {
    step = ${STATE}[RR] / pap;
    if (radius > 0.0) {
      let xx = ${STATE}[XX];
      let xp = ${STATE}[XP];
      let pp = ${STATE}[PP];
      let next = xx + step * (2.0 * xp + step * pp);
      if (next > radius * radius) {
        step = boundaryStep(xx, xp, pp, radius);
        ${STATE}[STATUS] = BOUNDARY;
        ${STATE}[STOP] = 1.0;
      }
    }
  }
  ${STATE}[STEP] = step;
  if (step != 0.0) {
    ${STATE}[ITERS] += 1.0;
  }
}
#endif

#if ${BETA}
@compute @workgroup_size(1)
fn cgBeta() {
  ${STATE}[BETA] = 0.0;
  if (${STATE}[ACTIVE] == 0.0) {
    return;
  }
  if (${STATE}[STOP] != 0.0) {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[RR] = ${STATE}[RR_NEW];
    return;
  }
  let rrNew = ${STATE}[RR_NEW];
  if (!isFinite(rrNew)) {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[STATUS] = NOT_FINITE;
    return;
  }
  ${STATE}[BETA] = rrNew / ${STATE}[RR];
  ${STATE}[RR] = rrNew;
  if (sqrt(rrNew) <= ${STATE}[THRESH]) {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[STATUS] = CONVERGED;
    ${STATE}[BETA] = 0.0;
  } else if (${STATE}[ITERS] >= params.maxIter) {
    ${STATE}[ACTIVE] = 0.0;
    ${STATE}[STATUS] = MAX_ITER;
    ${STATE}[BETA] = 0.0;
  }
}
#endif
