// Element-wise vector update (types.ts, AxpbySpec): z[i] = a·x[i] + b·y[i].
//
// Bindings: 0 = params (uniform, below); 1.. = the distinct storage buffers
// of the op, declared by the kernel host as buf0, buf1, ... Operands reach
// their buffer through the placeholders X, Y, Z, A_BUF, B_BUF, so an operand
// that shares a buffer with another (z aliasing x, say) is bound once: WebGPU
// rejects a writable buffer bound twice in one dispatch.
// Shapes: n elements from each operand's element offset.
// Workgroups: WG invocations in x; a 2-D grid (x ≤ 65,535) covers n > 65,535·WG.
// Preprocessor: READ_X (a is not the constant 0), HAS_X (else x ≡ 1),
// READ_Y (b is not the constant 0), A_FROM_BUF / B_FROM_BUF (coefficient is
// scale·buffer[index]; params.a / params.b then hold the scale).

struct Params {
  n: u32,
  xOffset: u32,
  yOffset: u32,
  zOffset: u32,
  a: f32,
  b: f32,
  aIndex: u32,
  bIndex: u32,
}
@group(0) @binding(0) var<uniform> params: Params;

@compute @workgroup_size(${WG})
fn axpby(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * groups.x + wid.x) * ${WG}u + lid;
  if (i >= params.n) {
    return;
  }
  var v = 0.0;
#if ${READ_X}
  var a = params.a;
#if ${A_FROM_BUF}
  a *= ${A_BUF}[params.aIndex];
#endif
#if ${HAS_X}
  v = a * ${X}[params.xOffset + i];
#else
  v = a;
#endif
#endif
#if ${READ_Y}
  var b = params.b;
#if ${B_FROM_BUF}
  b *= ${B_BUF}[params.bIndex];
#endif
  v = fma(b, ${Y}[params.yOffset + i], v);
#endif
  ${Z}[params.zOffset + i] = v;
}
