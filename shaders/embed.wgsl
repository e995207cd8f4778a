// Embedding lookup: x[m, :] = SCALE · dequant(E[tokens[m], :]), one invocation per (block,
// row). load_block comes from the weights_*.wgsl of the embedding's format. A table too
// large for one binding is bound in parts, one dispatch each: this one holds the rows
// V0 .. V0 + NV and skips tokens outside them.
// Defines: D, VOCAB, V0, NV, SCALE (Gemma: √D).

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;          // [M]
@group(0) @binding(2) var<storage, read> weights: array<u32>;         // [NV, D/32] blocks
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;   // [M, D/4]

const DB: u32 = D / 32u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    let m = gid.y;
    if (b >= DB || m >= rows.n) {
        return;
    }
    // Ids are validated on the CPU; the clamp keeps a bad id from reading out of bounds.
    let tok = min(tokens[m], VOCAB - 1u);
    if (tok < V0 || tok - V0 >= NV) {
        return;
    }
    var w: array<vec4<f32>, 8>;
    load_block((tok - V0) * DB + b, &w);
    for (var k = 0u; k < 8u; k++) {
        x[m * (D / 4u) + b * 8u + k] = w[k] * SCALE;
    }
}
