// Matrix × activations with quantized weights:  y[m, n] (+)= Σ_k W[n, k] · x[m, k]
// W is [N, K] in 32-weight blocks read by load_block (weights_*.wgsl, prepended).
// Defines: K, N, R (activation rows per invocation), ACCUMULATE (y += … for the residual
// adds), GLU (W holds gate rows 0..N then up rows N..2N; y = silu(gate) · up),
// COOP (a 64-invocation workgroup per weight row with a shared-memory reduction; else one
// invocation per weight row with no barriers, the fast shape on software adapters).

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> weights: array<u32>;      // [N or 2N, K/32] blocks
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;      // [M, K/4]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // [M, N]

const KB: u32 = K / 32u;   // blocks per weight row
const KV4: u32 = K / 4u;   // vec4s per activation row
const WG: u32 = 64u;

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
#if ACCUMULATE
    y[m * N + n] += v;
#else
    y[m * N + n] = v;
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
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    let m0 = gid.y * R;
    if (n >= N || m0 >= rows.n) {
        return;
    }
    let a = row_dot(n, m0, 0u, 1u);
#if GLU
    let b = row_dot(n + N, m0, 0u, 1u);
#else
    let b = a;
#endif
    for (var r = 0u; r < R; r++) {
        if (m0 + r < rows.n) {
            store(m0 + r, n, a[r], b[r]);
        }
    }
}
#endif
