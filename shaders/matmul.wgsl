// Matrix × activations with quantized weights:  y[m, n] (+)= Σ_k W[n, k] · x[m, k]
// W is [N, K] in 32-weight blocks read by load_q / load_block (weights_*.wgsl, prepended).
// Defines: K, N, R (activation rows per invocation), ACCUMULATE (y += … for the residual
// adds), GLU (W holds gate rows 0..N then up rows N..2N; y = silu(gate) · up), SPLIT with
// N0, N1 (three outputs, below),
// COOP (a 64-invocation workgroup per weight row with a shared-memory reduction, for real
// GPUs); else the software-adapter shape: NR weight rows × R activation rows per invocation,
// WG invocations a workgroup, no barriers.
//
// Why the software shape looks like this: a CPU adapter (lavapipe, SwiftShader) runs the
// invocations of a workgroup as the lanes of SIMD registers, so every per-invocation load
// is a gather. The activations are the same for all lanes, yet each lane gathers them; a
// lane that handles NR weight rows gathers each activation once for NR rows, and a lane
// that handles R activation rows unpacks each weight once for R rows.
@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> weights: array<u32>;      // [N or 2N, K/32] blocks
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;      // [M, K/4]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // [M, N] (SPLIT: [M, N0])
#if SPLIT
// SPLIT: W stacks three matrices (q, k, v) and the output columns go to three buffers:
// columns 0..N0 to y, N0..N0+N1 to y1, the rest to y2 (one dispatch for three projections).
@group(0) @binding(4) var<storage, read_write> y1: array<f32>;     // [M, N1]
@group(0) @binding(5) var<storage, read_write> y2: array<f32>;     // [M, N - N0 - N1]
#endif

const KB: u32 = K / 32u;   // blocks per weight row
const KV4: u32 = K / 4u;   // vec4s per activation row


// Partial dot products of weight row n with activation rows m0 .. m0+R-1, over the blocks
// lane, lane+stride, … Rows past the end are clamped (read but never written).
fn row_dot(n: u32, m0: u32, lane: u32, stride: u32) -> array<f32, R> {
    var acc: array<f32, R>;
    var w: array<vec4<f32>, 8>;
    for (var b = lane; b < KB; b += stride) {
        load_block(n * KB + b, &w);
        for (var r = 0u; r < R; r++) {
            let xb = min(m0 + r, rows.n - 1u) * KV4 + b * 8u;
            var s = 0.0;
            for (var k = 0u; k < 8u; k++) {
                s += dot(w[k], x[xb + k]);
            }
            acc[r] += s;
        }
    }
    return acc;
}

fn store(m: u32, n: u32, gate: f32, up: f32) {
#if GLU
    let v = gate / (1.0 + exp(-gate)) * up;
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
    y[m * N + n] += v;
#else
    y[m * N + n] = v;
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
const NG: u32 = (N + NR - 1u) / NR;   // invocations along n: invocation i owns rows i + j·NG

// acc[j·R + r] += block `blk` of weight row j · activation rows r (held in xs, sums in sx),
// as d·Σq·x + m·Σx.
fn block_dot(blk: u32, j: u32, xs: ptr<function, array<vec4<f32>, 8 * R>>,
             sx: ptr<function, array<f32, R>>, acc: ptr<function, array<f32, NR * R>>) {
    var q: array<vec4<f32>, 8>;
    let dm = load_q(blk, &q);
    for (var r = 0u; r < R; r++) {
        var s = vec4<f32>(0.0);
        for (var k = 0u; k < 8u; k++) {
            s += q[k] * (*xs)[r * 8u + k];
        }
        (*acc)[j * R + r] += dm.x * (s.x + s.y + s.z + s.w) + dm.y * (*sx)[r];
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let m0 = gid.y * R;
    var acc: array<f32, NR * R>;
    var up: array<f32, NR * R>;
    for (var b = 0u; b < KB; b++) {
        // This block of every activation row (rows past the end are clamped: read, never written).
        var xs: array<vec4<f32>, 8 * R>;
        var sx: array<f32, R>;
        for (var r = 0u; r < R; r++) {
            let xb = min(m0 + r, rows.n - 1u) * KV4 + b * 8u;
            var s = vec4<f32>(0.0);
            for (var k = 0u; k < 8u; k++) {
                xs[r * 8u + k] = x[xb + k];
                s += xs[r * 8u + k];
            }
            sx[r] = s.x + s.y + s.z + s.w;
        }
        for (var j = 0u; j < NR; j++) {
            let n = min(i + j * NG, N - 1u);
            block_dot(n * KB + b, j, &xs, &sx, &acc);
#if GLU
            block_dot((n + N) * KB + b, j, &xs, &sx, &up);
#endif
        }
    }
    for (var j = 0u; j < NR; j++) {
        let n = i + j * NG;
        for (var r = 0u; r < R; r++) {
            if (i < NG && n < N && m0 + r < rows.n) {
                store(m0 + r, n, acc[j * R + r], up[j * R + r]);
            }
        }
    }
}
#endif
