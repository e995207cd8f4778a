// RMSNorm: y[m, :] = x[row0 + m, :] · g / sqrt(mean(x[row0 + m, :]²) + EPS); with ADD,
// y[m, :] += the same (Gemma's post-attention and post-FFN norms feed the residual).
// One invocation per row: a row is only D (≈576) floats, and no barriers is what software
// adapters want. Defines: D, EPS, ADD.

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;        // [*, D/4]
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;        // [D/4]
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;  // [n, D/4]

const DV4: u32 = D / 4u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.x;
    if (m >= rows.n) {
        return;
    }
    let src = (rows.row0 + m) * DV4;
    var ss = 0.0;
    for (var i = 0u; i < DV4; i++) {
        let v = x[src + i];
        ss += dot(v, v);
    }
    let scale = 1.0 / sqrt(ss / f32(D) + EPS);
    for (var i = 0u; i < DV4; i++) {
#if ADD
        y[m * DV4 + i] += x[src + i] * scale * g[i];
#else
        y[m * DV4 + i] = x[src + i] * scale * g[i];
#endif
    }
}
