// Element-wise activation passes (types.ts, ActivationSpec; method.md,
// "Products of second derivatives"), one entry point per mode:
//   activationValue:           out = σ(z)
//   activationDerivMul:        out = g ⊙ σ'(z)
//   activationTangentBackward: out = ġ ⊙ σ'(z) + g ⊙ σ''(z) ⊙ ż
//
// Bindings: 0 = params (uniform); 1.. = the op's distinct storage buffers
// (buf0, ...), reached through the placeholders Z, ZDOT, G, GDOT, OUT, so out
// may share a buffer with g or ġ (bound once; see vector.wgsl).
// Shapes: n elements, from element 0 of each buffer.
// Workgroups: WG invocations in x, 2-D grid as in vector.wgsl.
// Preprocessor: LEAKY_RELU / TANH (else identity); VALUE / DERIV_MUL /
// TANGENT_BACKWARD pick the one entry point compiled.

struct Params {
  n: u32,
  slope: f32,
}
@group(0) @binding(0) var<uniform> params: Params;

// σ(z), σ'(z), σ''(z).
fn derivatives(z: f32) -> vec3f {
#if ${LEAKY_RELU}
  // σ'(0) = slope, as PyTorch.
  if (z > 0.0) {
    return vec3f(z, 1.0, 0.0);
  }
  return vec3f(params.slope * z, params.slope, 0.0);
#elif ${TANH}
  // With e = exp(−2|z|): tanh|z| = (1 − e)/(1 + e) and σ' = 1/cosh² =
  // 4e/(1 + e)², both accurate to a few ulps relative (σ' = 1 − tanh² would
  // lose all digits as tanh nears 1, and e underflows cleanly to 0). Below
  // |z| = 1/2, 1 − e cancels, so tanh takes its Taylor series there instead:
  // the first omitted term, 443861162/1856156927625·z¹⁹, is below 0.03 ulp.
  // The builtin tanh is not used: its accuracy is only absolute (measured
  // 26,000 ulps relative near 0 on SwiftShader, through Dawn and Chromium).
  let az = abs(z);
  let e = exp(-2.0 * az);
  var t = (1.0 - e) / (1.0 + e);
  if (az < 0.5) {
    let z2 = z * z;
    var s = 6404582.0 / 10854718875.0;
    s = fma(s, z2, -929569.0 / 638512875.0);
    s = fma(s, z2, 21844.0 / 6081075.0);
    s = fma(s, z2, -1382.0 / 155925.0);
    s = fma(s, z2, 62.0 / 2835.0);
    s = fma(s, z2, -17.0 / 315.0);
    s = fma(s, z2, 2.0 / 15.0);
    s = fma(s, z2, -1.0 / 3.0);
    t = fma(az * z2, s, az);
  }
  t = select(t, -t, z < 0.0);
  let d = 4.0 * e / ((1.0 + e) * (1.0 + e));
  return vec3f(t, d, -2.0 * t * d);
#else
  return vec3f(z, 1.0, 0.0);
#endif
}

fn elementIndex(wid: vec3u, groups: vec3u, lid: u32) -> u32 {
  return (wid.y * groups.x + wid.x) * ${WG}u + lid;
}

#if ${VALUE}
@compute @workgroup_size(${WG})
fn activationValue(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = elementIndex(wid, groups, lid);
  if (i < params.n) {
    ${OUT}[i] = derivatives(${Z}[i]).x;
  }
}
#endif

#if ${DERIV_MUL}
@compute @workgroup_size(${WG})
fn activationDerivMul(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = elementIndex(wid, groups, lid);
  if (i < params.n) {
    ${OUT}[i] = ${G}[i] * derivatives(${Z}[i]).y;
  }
}
#endif

#if ${TANGENT_BACKWARD}
@compute @workgroup_size(${WG})
fn activationTangentBackward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = elementIndex(wid, groups, lid);
  if (i < params.n) {
    let d = derivatives(${Z}[i]);
    ${OUT}[i] = fma(${GDOT}[i], d.y, ${G}[i] * d.z * ${ZDOT}[i]);
  }
}
#endif
