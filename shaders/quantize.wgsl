// Activations to int8 for the int8 matmuls (matmul.wgsl with I8): each row of K values in
// blocks of 32, as llama.cpp's quantize_row_q8_1: d = max|x| / 127, q = round(x / d) (half
// away from zero, as roundf), and s = d·Σq, which the Q4_1 min term needs (Σ w·x over a
// block is dw·d·Σ qw·q + mw·s). One invocation a block. A block is three vec4<u32>: the
// 32 quants four to a word (element 4j + i in byte i of word j), then (d, s) as f32 bits.
// d is computed as max|x| · (1/127), a correctly rounded product, so a CPU emulation gets
// the same d bit for bit (amax / 127 would differ from it by at most an ulp).
// Defines: K (a multiple of 32), WG.

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;          // [M, K/4]
@group(0) @binding(2) var<storage, read_write> xq: array<vec4<u32>>;   // [M, K/32, 3]

const KB: u32 = K / 32u;

fn quant(v: vec4<f32>, inv: f32) -> vec4<i32> {
    let t = clamp(v * inv, vec4<f32>(-127.0), vec4<f32>(127.0));
    return vec4<i32>(trunc(t + 0.5 * sign(t)));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    let m = gid.y;
    if (b >= KB || m >= rows.n) {
        return;
    }
    let src = m * (K / 4u) + b * 8u;
    var amax = vec4<f32>(0.0);
    for (var k = 0u; k < 8u; k++) {
        amax = max(amax, abs(x[src + k]));
    }
    let d = max(max(amax.x, amax.y), max(amax.z, amax.w)) * (1.0 / 127.0);
    let inv = select(0.0, 1.0 / d, d > 0.0);
    let q0 = quant(x[src], inv);
    let q1 = quant(x[src + 1u], inv);
    let q2 = quant(x[src + 2u], inv);
    let q3 = quant(x[src + 3u], inv);
    let q4 = quant(x[src + 4u], inv);
    let q5 = quant(x[src + 5u], inv);
    let q6 = quant(x[src + 6u], inv);
    let q7 = quant(x[src + 7u], inv);
    let t = q0 + q1 + q2 + q3 + q4 + q5 + q6 + q7;
    let s = t.x + t.y + t.z + t.w;
    let dst = (m * KB + b) * 3u;
    xq[dst] = vec4<u32>(pack4xI8(q0), pack4xI8(q1), pack4xI8(q2), pack4xI8(q3));
    xq[dst + 1u] = vec4<u32>(pack4xI8(q4), pack4xI8(q5), pack4xI8(q6), pack4xI8(q7));
    xq[dst + 2u] = vec4<u32>(bitcast<u32>(d), bitcast<u32>(d * f32(s)), 0u, 0u);
}
