// Matrix product (types.ts, MatmulSpec):
//   C[m×n] (=|+=) alpha·op(A)·op(B) (+ bias broadcast over the rows of C),
// with op(A) m×k and op(B) k×n, all row-major at element offsets into their
// buffers (parameter blocks live inside one flat buffer, so offsets are
// uniforms, not bind-group offsets).
//
// Bindings: 0 = params (uniform); 1.. = the op's distinct storage buffers
// (buf0, ...), reached through the placeholders A, B, C, BIAS; see
// vector.wgsl on aliasing.
// Workgroups: WG_X × WG_Y invocations; each computes a TM × TN block of C held
// in registers (register blocking: TN/4 vec4 accumulators per row), so a
// workgroup covers a tile of (WG_Y·TM) rows × (WG_X·TN) columns. An
// invocation's rows are WG_Y apart and its TN columns contiguous. Grid:
// ceil(n / (WG_X·TN)) × ceil(m / (WG_Y·TM)).
// Tuning (SwiftShader, 512³, 2 loaded cores, 2025-12): vec4 accumulators ran
// 2.5× faster than a scalar TM×TN array with strided columns (0.065 against
// 0.024 GFLOP/s); no shared-memory staging, which costs barriers that CPU
// adapters run slowly (see reduce.wgsl).
// Preprocessor: WG_X, WG_Y, TM, TN, TRANS_A, TRANS_B, HAS_BIAS, ACCUMULATE.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  aOffset: u32,
  bOffset: u32,
  cOffset: u32,
  biasOffset: u32,
  alpha: f32,
}
@group(0) @binding(0) var<uniform> params: Params;

const TM = ${TM}u;
const TN = ${TN}u;
const TNV = TN / 4u; // TN is a multiple of 4: columns go in vec4 registers
const WG_X = ${WG_X}u;
const WG_Y = ${WG_Y}u;

// op(A)[i, p] and op(B)[p, j] in their stored layouts.
fn loadA(i: u32, p: u32) -> f32 {
#if ${TRANS_A}
  return ${A}[params.aOffset + p * params.m + i];
#else
  return ${A}[params.aOffset + i * params.k + p];
#endif
}
fn loadB(p: u32, j: u32) -> f32 {
#if ${TRANS_B}
  return ${B}[params.bOffset + j * params.k + p];
#else
  return ${B}[params.bOffset + p * params.n + j];
#endif
}

@compute @workgroup_size(${WG_X}, ${WG_Y})
fn matmulBlocked(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let row0 = wid.y * WG_Y * TM + lid.y;
  let col0 = (wid.x * WG_X + lid.x) * TN;

  // Rows and columns past the edge of C are clamped for loading (so no load
  // leaves the operands) and skipped when storing.
  let lastRow = params.m - 1u;
  let lastCol = params.n - 1u;
  var acc: array<vec4f, TM * TNV>;
  var b: array<vec4f, TNV>;
  for (var p = 0u; p < params.k; p++) {
    for (var jv = 0u; jv < TNV; jv++) {
      let c = col0 + jv * 4u;
      b[jv] = vec4f(
        loadB(p, min(c, lastCol)),
        loadB(p, min(c + 1u, lastCol)),
        loadB(p, min(c + 2u, lastCol)),
        loadB(p, min(c + 3u, lastCol)),
      );
    }
    for (var i = 0u; i < TM; i++) {
      let a = vec4f(loadA(min(row0 + i * WG_Y, lastRow), p));
      for (var jv = 0u; jv < TNV; jv++) {
        acc[i * TNV + jv] = fma(a, b[jv], acc[i * TNV + jv]);
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let row = row0 + i * WG_Y;
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (row < params.m && col < params.n) {
        var v = params.alpha * acc[i * TNV + j / 4u][j % 4u];
#if ${HAS_BIAS}
        v += ${BIAS}[params.biasOffset + col];
#endif
        let idx = params.cOffset + row * params.n + col;
#if ${ACCUMULATE}
        v += ${C}[idx];
#endif
        ${C}[idx] = v;
      }
    }
  }
}
