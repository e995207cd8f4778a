// Matrix × activations with quantized weights:  y[m, n] (+)= Σ_k W[n, k] · x[m, k]
// W is [N, K] in 32-weight blocks read by load_q / load_block (weights_*.wgsl, prepended).
// Defines: N, R (activation rows per invocation), ACCUMULATE (y += … for the residual
// adds), GLU (W holds gate rows 0..N then up rows N..2N; y = silu(gate) · up, or with GELU
// gelu_tanh(gate) · up), SPLIT with N0, N1 (three outputs, below), LDY and COL0 (output
// row m, column n is y[m·LDY + COL0 + n]: a matrix too large for one binding runs as
// several dispatches over row ranges of W, each writing its columns of y),
// COOP (a 64-invocation workgroup per weight row with a shared-memory reduction, for real
// GPUs); else the software-adapter shape: 4 weight rows × R (1, or 4 with BATCH) activation
// rows per invocation, WG invocations a workgroup, no barriers. I8 (either shape, Q4 and
// Q8): x holds the activations as quantize.wgsl's int8 blocks and the blocks are dotted with
// dot4I8Packed (weights_q4_i8.wgsl, weights_q8_i8.wgsl) instead of in f32.
// The row length K is not a define but the `dims` uniform, so matmuls that differ only in
// K (o and down) share one pipeline: on SwiftShader each costs 70-400 ms to make at load.
//
// Why the software shape looks like this: a CPU adapter (lavapipe, SwiftShader) runs the
// invocations of a workgroup as the lanes of SIMD registers, so every per-invocation load
// is a gather. The activations are the same for all lanes, yet each lane gathers them; a
// lane that handles 4 weight rows gathers each activation once for 4 rows, and a lane
// that handles 4 activation rows unpacks each weight once for 4 rows.
@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> weights: array<u32>;      // [N or 2N, K/32] blocks
#if I8
@group(0) @binding(2) var<storage, read> x: array<vec4<u32>>;      // [M, K/32, 3] int8 blocks
#else
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;      // [M, K/4]
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // [M, LDY] (SPLIT: [M, N0])
#if SPLIT
// SPLIT: W stacks three matrices (q, k, v) and the output columns go to three buffers:
// columns 0..N0 to y, N0..N0+N1 to y1, the rest to y2 (one dispatch for three projections).
@group(0) @binding(4) var<storage, read_write> y1: array<f32>;     // [M, N1]
@group(0) @binding(5) var<storage, read_write> y2: array<f32>;     // [M, N - N0 - N1]
@group(0) @binding(6) var<uniform> dims: Dims;
#else
@group(0) @binding(4) var<uniform> dims: Dims;
#endif

struct Dims {
    kb: u32,    // blocks per weight row: K / 32
    xrow: u32,  // vec4s per activation row: K / 4, or with I8 3 per block
    _pad0: u32,
    _pad1: u32,
}

// Where activation rows m0 .. m0+3 start in x. Rows past the end are clamped: read, never
// written.
fn x_rows(m0: u32) -> vec4<u32> {
    return min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(rows.n - 1u)) * dims.xrow;
}

#if I8
// Int8 activations, for both shapes: a block of one activation row (XW = u32, sums i32 and
// f32) or of four (BATCH, so R = 4: XW = vec4<u32>, word k of each row as a component, four
// sums at once): the eight quant words, the block's d and s. dot8 is four products a call
// per row; the weight format's block_dot8 (weights_*_i8.wgsl) dots a block with them.
#if BATCH
alias XW = vec4<u32>;
alias SI = vec4<i32>;
alias ST = vec4<f32>;
fn dot8(w: u32, x: XW) -> SI {
    return vec4<i32>(dot4I8Packed(w, x.x), dot4I8Packed(w, x.y), dot4I8Packed(w, x.z), dot4I8Packed(w, x.w));
}
fn to_st(s: SI) -> ST {
    return vec4<f32>(s);
}
#else
alias XW = u32;
alias SI = i32;
alias ST = f32;
fn dot8(w: u32, x: XW) -> SI {
    return dot4I8Packed(w, x);
}
fn to_st(s: SI) -> ST {
    return f32(s);
}
#endif
struct X8 {
    w0: XW, w1: XW, w2: XW, w3: XW, w4: XW, w5: XW, w6: XW, w7: XW,
    d: ST,
    s: ST,
}
#if BATCH
fn load_x8(xb: vec4<u32>, b: u32) -> X8 {
    let i = xb + vec4<u32>(3u * b);
    let a0 = x[i.x];
    let a1 = x[i.y];
    let a2 = x[i.z];
    let a3 = x[i.w];
    let b0 = x[i.x + 1u];
    let b1 = x[i.y + 1u];
    let b2 = x[i.z + 1u];
    let b3 = x[i.w + 1u];
    let e0 = bitcast<vec2<f32>>(x[i.x + 2u].xy);
    let e1 = bitcast<vec2<f32>>(x[i.y + 2u].xy);
    let e2 = bitcast<vec2<f32>>(x[i.z + 2u].xy);
    let e3 = bitcast<vec2<f32>>(x[i.w + 2u].xy);
    return X8(vec4<u32>(a0.x, a1.x, a2.x, a3.x), vec4<u32>(a0.y, a1.y, a2.y, a3.y),
              vec4<u32>(a0.z, a1.z, a2.z, a3.z), vec4<u32>(a0.w, a1.w, a2.w, a3.w),
              vec4<u32>(b0.x, b1.x, b2.x, b3.x), vec4<u32>(b0.y, b1.y, b2.y, b3.y),
              vec4<u32>(b0.z, b1.z, b2.z, b3.z), vec4<u32>(b0.w, b1.w, b2.w, b3.w),
              vec4<f32>(e0.x, e1.x, e2.x, e3.x), vec4<f32>(e0.y, e1.y, e2.y, e3.y));
}
#else
fn load_x8(xb: vec4<u32>, b: u32) -> X8 {
    let i = xb.x + 3u * b;
    let a = x[i];
    let c = x[i + 1u];
    let e = bitcast<vec2<f32>>(x[i + 2u].xy);
    return X8(a.x, a.y, a.z, a.w, c.x, c.y, c.z, c.w, e.x, e.y);
}
#endif
#endif

#if COOP

// Partial dot products of weight row n with activation rows m0 .. m0+R-1, over the blocks
// lane, lane+stride, … Rows past the end are clamped (read but never written). With I8 the
// R rows' int8 blocks are one X8, dotted by block_dot8 as in the software shape.
fn row_dot(n: u32, m0: u32, lane: u32, stride: u32) -> array<f32, R> {
#if I8
    let xb = x_rows(m0);
    let kb = dims.kb;
    var a: ST;
    for (var b = lane; b < kb; b += stride) {
        a += block_dot8(n * kb + b, load_x8(xb, b));
    }
#if BATCH
    return array<f32, R>(a.x, a.y, a.z, a.w);
#else
    return array<f32, R>(a);
#endif
#else
    var acc: array<f32, R>;
    var w: array<vec4<f32>, 8>;
    let kb = dims.kb;
    for (var b = lane; b < kb; b += stride) {
        load_block(n * kb + b, &w);
        for (var r = 0u; r < R; r++) {
            let xb = min(m0 + r, rows.n - 1u) * dims.xrow + b * 8u;
            var s = 0.0;
            for (var k = 0u; k < 8u; k++) {
                s += dot(w[k], x[xb + k]);
            }
            acc[r] += s;
        }
    }
    return acc;
#endif
}
#endif

// ggml's GELU, tanh form. tanh is written with exp of a clamped argument: some WGSL
// backends compute tanh(u) as a ratio of exps that overflows to NaN for large |u|.
fn gelu_tanh(x: f32) -> f32 {
    let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    let e = exp(2.0 * u);
    return 0.5 * x * (1.0 + (e - 1.0) / (e + 1.0));
}

fn store(m: u32, n: u32, gate: f32, up: f32) {
#if GLU
#if GELU
    let v = gelu_tanh(gate) * up;
#else
    let v = gate / (1.0 + exp(-gate)) * up;
#endif
#else
    let v = gate;
#endif
#if SPLIT
    if (n < N0) {
        y[m * N0 + n] = v;
    } else if (n < N0 + N1) {
        y1[m * N1 + n - N0] = v;
    } else {
        y2[m * (N - N0 - N1) + n - N0 - N1] = v;
    }
#else
#if ACCUMULATE
    y[m * LDY + COL0 + n] += v;
#else
    y[m * LDY + COL0 + n] = v;
#endif
#endif
}

#if COOP
var<workgroup> part_a: array<array<f32, R>, WG>;
var<workgroup> part_b: array<array<f32, R>, WG>;

// Workgroup (n, m-tile): 64 invocations split the row's blocks, then reduce in shared memory.
// Large N is spread over x and z (x ≤ 65535 workgroups).
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let n_raw = wid.z * nwg.x + wid.x;
    let n = min(n_raw, N - 1u);
    let m0 = wid.y * R;
    part_a[lid] = row_dot(n, m0, lid, WG);
#if GLU
    part_b[lid] = row_dot(n + N, m0, lid, WG);
#endif
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            for (var r = 0u; r < R; r++) {
                part_a[lid][r] += part_a[lid + s][r];
#if GLU
                part_b[lid][r] += part_b[lid + s][r];
#endif
            }
        }
    }
    if (lid == 0u && n_raw < N) {
        for (var r = 0u; r < R; r++) {
            if (m0 + r < rows.n) {
                store(m0 + r, n, part_a[0][r], part_b[0][r]);
            }
        }
    }
}
#else
// The software shape: invocation i owns weight rows i + j·NG (j < NR = 4, 8 with WIDE, 16
// with WIDE and WIDER)
// and R = 1 or 4 activation rows. Written without local arrays, pointers or inner loops in
// the hot loop: SwiftShader's JIT (Subzero) keeps those in memory and ran this kernel 3-4×
// slower; lavapipe does not mind.
#if WIDER
const NR: u32 = 16u;
#else
#if WIDE
const NR: u32 = 8u;
#else
const NR: u32 = 4u;
#endif
#endif
const NG: u32 = (N + NR - 1u) / NR;

#if !I8
#if BATCH
// Four activation rows at once: the block's k-th vec4 of rows m0..m0+3 as matrix columns,
// so v * X is the four rows' dot products with v.
alias XT = mat4x4<f32>;
alias ST = vec4<f32>;
fn hsum(s: vec4<f32>) -> vec4<f32> {
    return s;
}
fn load_x(xb: vec4<u32>, k: u32) -> XT {
    return mat4x4<f32>(x[xb.x + k], x[xb.y + k], x[xb.z + k], x[xb.w + k]);
}
fn sum_x(s: XT) -> ST {
    return vec4<f32>(1.0) * s;
}
fn scale_x(x: XT, s: vec4<f32>) -> XT {
    return mat4x4<f32>(x[0] * s, x[1] * s, x[2] * s, x[3] * s);
}
fn weighted_sum_x(s: XT, w: vec4<f32>) -> ST {
    return w * s;
}
#else
alias XT = vec4<f32>;
alias ST = f32;
fn hsum(s: vec4<f32>) -> f32 {
    return s.x + s.y + s.z + s.w;
}
fn load_x(xb: vec4<u32>, k: u32) -> XT {
    return x[xb.x + k];
}
fn sum_x(s: XT) -> ST {
    return hsum(s);
}
fn scale_x(x: XT, s: vec4<f32>) -> XT {
    return x * s;
}
fn weighted_sum_x(s: XT, w: vec4<f32>) -> ST {
    return dot(s, w);
}
#endif
#endif

// Weight rows (first block indices) ra, and rb with WIDE, · the activation rows whose
// vec4s start at xb0. Returns the dots of ra then rb.
fn dot_rows(ra: vec4<u32>, rb: vec4<u32>, rc: vec4<u32>, rd: vec4<u32>, xb0: vec4<u32>) -> array<ST, NR> {
    var a0: ST;
    var a1: ST;
    var a2: ST;
    var a3: ST;
#if WIDE
    var a4: ST;
    var a5: ST;
    var a6: ST;
    var a7: ST;
#endif
#if WIDER
    var a8: ST;
    var a9: ST;
    var a10: ST;
    var a11: ST;
    var a12: ST;
    var a13: ST;
    var a14: ST;
    var a15: ST;
#endif
    let kb = dims.kb;
    for (var b = 0u; b < kb; b++) {
#if I8
        let xv = load_x8(xb0, b);
        a0 += block_dot8(ra.x + b, xv);
        a1 += block_dot8(ra.y + b, xv);
        a2 += block_dot8(ra.z + b, xv);
        a3 += block_dot8(ra.w + b, xv);
#if WIDE
        a4 += block_dot8(rb.x + b, xv);
        a5 += block_dot8(rb.y + b, xv);
        a6 += block_dot8(rb.z + b, xv);
        a7 += block_dot8(rb.w + b, xv);
#endif
#if WIDER
        a8 += block_dot8(rc.x + b, xv);
        a9 += block_dot8(rc.y + b, xv);
        a10 += block_dot8(rc.z + b, xv);
        a11 += block_dot8(rc.w + b, xv);
        a12 += block_dot8(rd.x + b, xv);
        a13 += block_dot8(rd.y + b, xv);
        a14 += block_dot8(rd.z + b, xv);
        a15 += block_dot8(rd.w + b, xv);
#endif
#else
        let xb = xb0 + vec4<u32>(b * 8u);
        let y0 = load_x(xb, 0u);
        let y1 = load_x(xb, 1u);
        let y2 = load_x(xb, 2u);
        let y3 = load_x(xb, 3u);
        let y4 = load_x(xb, 4u);
        let y5 = load_x(xb, 5u);
        let y6 = load_x(xb, 6u);
        let y7 = load_x(xb, 7u);
        let sx = block_sum(y0 + y1 + y2 + y3 + y4 + y5 + y6 + y7);
        let x0 = x_scale_lo(y0);
        let x1 = x_scale_lo(y1);
        let x2 = x_scale_lo(y2);
        let x3 = x_scale_lo(y3);
        let x4 = x_scale_hi(y4);
        let x5 = x_scale_hi(y5);
        let x6 = x_scale_hi(y6);
        let x7 = x_scale_hi(y7);
        a0 += block_dot(ra.x + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a1 += block_dot(ra.y + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a2 += block_dot(ra.z + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a3 += block_dot(ra.w + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
#if WIDE
        a4 += block_dot(rb.x + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a5 += block_dot(rb.y + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a6 += block_dot(rb.z + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a7 += block_dot(rb.w + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
#endif
#if WIDER
        a8 += block_dot(rc.x + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a9 += block_dot(rc.y + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a10 += block_dot(rc.z + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a11 += block_dot(rc.w + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a12 += block_dot(rd.x + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a13 += block_dot(rd.y + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a14 += block_dot(rd.z + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
        a15 += block_dot(rd.w + b, x0, x1, x2, x3, x4, x5, x6, x7, sx);
#endif
#endif
    }
#if WIDER
    return array<ST, NR>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
#else
#if WIDE
    return array<ST, NR>(a0, a1, a2, a3, a4, a5, a6, a7);
#else
    return array<ST, NR>(a0, a1, a2, a3);
#endif
#endif
}

fn put(m0: u32, n: u32, a: ST, u: ST) {
#if BATCH
    for (var r = 0u; r < 4u; r++) {
        if (m0 + r < rows.n) {
            store(m0 + r, n, a[r], u[r]);
        }
    }
#else
    store(m0, n, a, u);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let m0 = gid.y * R;
    // Rows past the end are clamped: computed, never stored.
    let n = vec4<u32>(i) + vec4<u32>(0u, NG, 2u * NG, 3u * NG);
    let na = min(n, vec4<u32>(N - 1u));
    let nb = min(n + vec4<u32>(4u * NG), vec4<u32>(N - 1u));
    let nc = min(n + vec4<u32>(8u * NG), vec4<u32>(N - 1u));
    let nd = min(n + vec4<u32>(12u * NG), vec4<u32>(N - 1u));
    let xb = x_rows(m0);
    let kb = dims.kb;
#if GLU
    // The gate rows, then the up rows N further on, in a loop rather than two calls: the
    // driver inlines every call, and on SwiftShader compiling the unrolled dot_rows is most
    // of the time a pipeline takes to make (two calls: 1.7× the loop's; see BENCHMARKS.md).
    var dots: array<array<ST, NR>, 2>;
    for (var h = 0u; h < 2u; h++) {
        let o = vec4<u32>(h * N);
        dots[h] = dot_rows((na + o) * kb, (nb + o) * kb, (nc + o) * kb, (nd + o) * kb, xb);
    }
    let a = dots[0];
    let u = dots[1];
#else
    let a = dot_rows(na * kb, nb * kb, nc * kb, nd * kb, xb);
    let u = a;
#endif
    if (i < NG && m0 < rows.n) {
        for (var j = 0u; j < NR; j++) {
            if (i + j * NG < N) {
                put(m0, i + j * NG, a[j], u[j]);
            }
        }
    }
}
#endif
