// Deterministic two-pass reductions (types.ts, ReduceSpec and CgUpdateSpec;
// method.md, "Precision"): no float atomics, and the same tree every time, so
// equal inputs give equal bits.
//   pass 1, one entry point per use, one partial sum per workgroup:
//     dotPartials:      partials[w] = Σ x[i]·y[i] over the workgroup's elements
//     cgUpdatePartials: x += s·p, r −= s·ap (only when s = state[STEP] ≠ 0),
//                       then partials[w] = Σ r[i]² (method.md, the CG update)
//   pass 2, one workgroup: finishSum: out[outIndex] (=|+=) scale·Σ partials,
//     then sqrt when SQRT.
//
// Bindings: 0 = params (uniform); 1.. = the op's distinct storage buffers
// (buf0, ...), reached through the placeholders X, Y, OUT, PARTIALS (dot) or
// X, P, R, AP, STATE, PARTIALS (CG update); see vector.wgsl on aliasing.
// Shapes: n elements from the element offsets; partials has one slot per
// workgroup of pass 1 (partialCount = grid x·y).
// Workgroups: WG invocations (a power of two), one element per invocation in
// pass 1, 2-D grid as in vector.wgsl; pass 2 is a single workgroup whose
// invocations first sum partials serially with stride WG.
// Preprocessor: WG, SQRT, ACCUMULATE, STEP_INDEX (CG.STEP of types.ts).

struct Params {
  n: u32,
  xOffset: u32,
  yOffset: u32,
  partialCount: u32,
  outIndex: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> params: Params;

var<workgroup> tree: array<f32, ${WG}>;

// Sums tree[0..WG) into tree[0]; every invocation of the workgroup must call it.
fn treeSum(lid: u32) -> f32 {
  for (var half = ${WG}u / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lid < half) {
      tree[lid] += tree[lid + half];
    }
  }
  workgroupBarrier();
  return tree[0];
}

#if ${DOT}
@compute @workgroup_size(${WG})
fn dotPartials(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = wid.y * groups.x + wid.x;
  var v = 0.0;
  for (var i = w * ${WG}u * ${ITEMS}u + lid; i < min(params.n, (w + 1u) * ${WG}u * ${ITEMS}u); i += ${WG}u) {
    v = fma(${X}[params.xOffset + i], ${Y}[params.yOffset + i], v);
  }
  tree[lid] = v;
  let sum = treeSum(lid);
  if (lid == 0u && w < params.partialCount) {
    ${PARTIALS}[w] = sum;
  }
}
#endif

#if ${CG_UPDATE}
@compute @workgroup_size(${WG})
fn cgUpdatePartials(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = wid.y * groups.x + wid.x;
  let step = ${STATE}[${STEP_INDEX}u];
  var v = 0.0;
  for (var i = w * ${WG}u * ${ITEMS}u + lid; i < min(params.n, (w + 1u) * ${WG}u * ${ITEMS}u); i += ${WG}u) {
    var r = ${R}[i];
    if (step != 0.0) {
      ${X}[i] = fma(step, ${P}[i], ${X}[i]);
      r = fma(-step, ${AP}[i], r);
      ${R}[i] = r;
    }
    v = fma(r, r, v);
  }
  tree[lid] = v;
  let sum = treeSum(lid);
  if (lid == 0u && w < params.partialCount) {
    ${PARTIALS}[w] = sum;
  }
}
#endif

@compute @workgroup_size(${WG})
fn finishSum(@builtin(local_invocation_index) lid: u32) {
  var v = 0.0;
  for (var j = lid; j < params.partialCount; j += ${WG}u) {
    v += ${PARTIALS}[j];
  }
  tree[lid] = v;
  let sum = treeSum(lid);
  if (lid == 0u) {
    var result = params.scale * sum;
#if ${SQRT}
    result = sqrt(result);
#endif
#if ${ACCUMULATE}
    result += ${OUT}[params.outIndex];
#endif
    ${OUT}[params.outIndex] = result;
  }
}
