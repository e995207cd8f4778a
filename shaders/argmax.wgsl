// Greedy pick: tokens[m] = argmax_i logits[m, i], ties to the lowest id, NaN never wins.
// Two passes, no barriers: `scan_chunks` scans CHUNK-wide slices, `pick` scans the partials in
// id order, so the first maximum seen is the lowest id. Defines: VOCAB, CHUNK.

@group(0) @binding(0) var<uniform> rows: Rows;
@group(0) @binding(1) var<storage, read> logits: array<f32>;            // [n, VOCAB]
@group(0) @binding(2) var<storage, read_write> part: array<vec2<u32>>;  // [n, CHUNKS] (bits of max, id)
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;      // [n]

const CHUNKS: u32 = (VOCAB + CHUNK - 1u) / CHUNK;
const NEG: f32 = -3.402823466e+38f;

@compute @workgroup_size(64)
fn scan_chunks(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let m = gid.y;
    if (c >= CHUNKS || m >= rows.n) {
        return;
    }
    var best = NEG;
    var id = c * CHUNK;
    let end = min(c * CHUNK + CHUNK, VOCAB);
    for (var i = c * CHUNK; i < end; i++) {
        let v = logits[m * VOCAB + i];
        if (v > best) {
            best = v;
            id = i;
        }
    }
    part[m * CHUNKS + c] = vec2<u32>(bitcast<u32>(best), id);
}

@compute @workgroup_size(64)
fn pick(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.x;
    if (m >= rows.n) {
        return;
    }
    var best = NEG;
    var id = 0u;
    var first = true;
    for (var c = 0u; c < CHUNKS; c++) {
        let p = part[m * CHUNKS + c];
        let v = bitcast<f32>(p.x);
        if (first || v > best) {
            best = v;
            id = p.y;
            first = false;
        }
    }
    tokens[m] = id;
}
