// The Gumbel-softmax trick over the rows of a rows×k matrix of logits z
// (types.ts, GumbelSpec): with Gumbel noise g and t = z + g per row,
//   gumbelSample:          out = u, the generator's uniforms in (0, 1), or,
//                          with NOISE_PASS, out = g = −ln(−ln u)
//   gumbelForward:         out = y = softmax(t/τ), or one-hot(argmax t) when HARD
//   gumbelJacobianProduct: out = y ⊙ (v − ⟨v, y⟩)/τ, the product of the
//                          softmax Jacobian (diag(y) − y·yᵀ)/τ with v; it is
//                          symmetric, so this is both the backward pass
//                          (v = dy, out = dz) and the tangent (v = ż, out = ẏ).
// src/backend/gumbel-cpu.ts is the float64 twin, step for step.
//
// The generator (src/util/philox.ts, the host twin): element (row, column)
// takes the first word w of Philox2x32-10 (Salmon et al., SC'11) with counter
// (column, row) and key seed, and u = (2·(w >> 9) + 1)·2^-24: odd multiples
// of 2^-24, so 2^-24 ≤ u ≤ 1 − 2^-24, exact in f32 and f64 alike, and the
// two backends draw bit-identical uniforms.
//
// Bindings: 0 = params (uniform); 1.. = the op's distinct storage buffers
// (buf0, ...), reached through the placeholders Z, NOISE, DIR, OUT (out never
// shares a buffer with an input; the backends check).
// Shapes: every operand is rows×k, row-major, from element 0.
// Workgroups: WG invocations in x, one row each (k is small: a categorical
// choice), 2-D grid as in vector.wgsl past 65,535 workgroups. Each invocation
// walks its row serially, in the CPU twin's order, using its row of out as
// scratch between the steps.
// Preprocessor: SAMPLE / FORWARD / JACOBIAN pick the entry point compiled
// (NOISE_PASS: the sample is g rather than u); SOFTMAX (FORWARD or JACOBIAN: the softmax helpers);
// FROM_SEED (noise from the generator, else read from NOISE); HARD (forward:
// one-hot argmax instead of the softmax).

struct Params {
  rows: u32,
  k: u32,
  seed: u32,
  tau: f32,
}
@group(0) @binding(0) var<uniform> params: Params;

// Philox2x32's multiplier and key increment (Random123).
const PHILOX_M = 0xD256D193u;
const PHILOX_W = 0x9E3779B9u;

// The 64-bit product a·b as (high word, low word), from 16-bit halves:
// WGSL has no 64-bit integers. Each partial product is below 2^32.
fn mulHiLo(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xFFFFu;
  let a1 = a >> 16u;
  let b0 = b & 0xFFFFu;
  let b1 = b >> 16u;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
  return vec2u(a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}

// Philox2x32-10: ten rounds of (x0, x1) ← (hi(M·x0) ⊕ key ⊕ x1, lo(M·x0)),
// the key bumped by W after each.
fn philox2x32(counter: vec2u, key: u32) -> vec2u {
  var x = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    let p = mulHiLo(PHILOX_M, x.x);
    x = vec2u(p.x ^ k ^ x.y, p.y);
    k += PHILOX_W;
  }
  return x;
}

// The uniform of element (row, column); see the header.
fn uniformAt(row: u32, column: u32) -> f32 {
  let w = philox2x32(vec2u(column, row), params.seed).x;
  return f32((w >> 9u) * 2u + 1u) * (1.0 / 16777216.0);
}

// ln x for positive normal x, to a few ulps relative everywhere. The builtin
// log is only accurate to 2^-21 absolute on [0.5, 2], which near u = 1 is
// all of −ln u (≈ 6e-8 at u = 1 − 2^-24): g would come out infinite or NaN.
// With x = m·2^e, m in [√½, √2): m − 1 is exact (Sterbenz), s = (m − 1)/(m + 1)
// has |s| ≤ 0.1716, and ln m = 2·atanh(s) = 2s + 2s³/3 + … + 2s⁹/9; the first
// omitted term, 2s¹¹/11, is below 2^-28 of 2s. ln 2 is split so that e·LN2_HI
// is exact for |e| < 256.
fn lnPositive(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  var e = f32(i32(bits >> 23u) - 127);
  var m = bitcast<f32>((bits & 0x007FFFFFu) | 0x3F800000u);
  if (m > 1.4142135) {
    m *= 0.5;
    e += 1.0;
  }
  let f = m - 1.0;
  let s = f / (2.0 + f);
  let s2 = s * s;
  var p = 2.0 / 9.0;
  p = fma(p, s2, 2.0 / 7.0);
  p = fma(p, s2, 2.0 / 5.0);
  p = fma(p, s2, 2.0 / 3.0);
  let lnm = fma(s * s2, p, 2.0 * s);
  const LN2_HI = 0.693145751953125;
  const LN2_LO = 1.4286067653e-6;
  return fma(e, LN2_HI, fma(e, LN2_LO, lnm));
}

fn gumbelAt(row: u32, column: u32) -> f32 {
  return -lnPositive(-lnPositive(uniformAt(row, column)));
}

fn rowIndex(wid: vec3u, groups: vec3u, lid: u32) -> u32 {
  return (wid.y * groups.x + wid.x) * ${WG}u + lid;
}

#if ${SAMPLE}
@compute @workgroup_size(${WG})
fn gumbelSample(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = rowIndex(wid, groups, lid);
  if (row >= params.rows) {
    return;
  }
  for (var j = 0u; j < params.k; j++) {
#if ${NOISE_PASS}
    ${OUT}[row * params.k + j] = gumbelAt(row, j);
#else
    ${OUT}[row * params.k + j] = uniformAt(row, j);
#endif
  }
}
#endif

#if ${SOFTMAX}
// The perturbed logit t = z + g of element (row, j).
fn perturbed(row: u32, j: u32) -> f32 {
  let i = row * params.k + j;
#if ${FROM_SEED}
  return ${Z}[i] + gumbelAt(row, j);
#else
  return ${Z}[i] + ${NOISE}[i];
#endif
}

// Leaves exp((t_j − max t)/τ) in the row of out and returns their sum: the
// softmax numerators, shifted by the row's maximum so that none overflows.
fn softmaxNumerators(row: u32) -> f32 {
  let base = row * params.k;
  var top = perturbed(row, 0u);
  ${OUT}[base] = top;
  for (var j = 1u; j < params.k; j++) {
    let t = perturbed(row, j);
    ${OUT}[base + j] = t;
    top = max(top, t);
  }
  var sum = 0.0;
  for (var j = 0u; j < params.k; j++) {
    let e = exp((${OUT}[base + j] - top) / params.tau);
    ${OUT}[base + j] = e;
    sum += e;
  }
  return sum;
}
#endif

#if ${FORWARD}
@compute @workgroup_size(${WG})
fn gumbelForward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = rowIndex(wid, groups, lid);
  if (row >= params.rows || params.k == 0u) {
    return;
  }
  let base = row * params.k;
#if ${HARD}
  // Gumbel-max: the first index of the largest t.
  var best = 0u;
  var top = perturbed(row, 0u);
  for (var j = 1u; j < params.k; j++) {
    let t = perturbed(row, j);
    if (t > top) {
      top = t;
      best = j;
    }
  }
  for (var j = 0u; j < params.k; j++) {
    ${OUT}[base + j] = select(0.0, 1.0, j == best);
  }
#else
  let sum = softmaxNumerators(row);
  for (var j = 0u; j < params.k; j++) {
    ${OUT}[base + j] = ${OUT}[base + j] / sum;
  }
#endif
}
#endif

#if ${JACOBIAN}
@compute @workgroup_size(${WG})
fn gumbelJacobianProduct(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = rowIndex(wid, groups, lid);
  if (row >= params.rows || params.k == 0u) {
    return;
  }
  let base = row * params.k;
  let sum = softmaxNumerators(row);
  var dot = 0.0;
  for (var j = 0u; j < params.k; j++) {
    dot = fma(${DIR}[base + j], ${OUT}[base + j] / sum, dot);
  }
  for (var j = 0u; j < params.k; j++) {
    let y = ${OUT}[base + j] / sum;
    ${OUT}[base + j] = y * (${DIR}[base + j] - dot) / params.tau;
  }
}
#endif
